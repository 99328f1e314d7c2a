package dockerpolicy

import (
	"path"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// checkWorkingDir refuses a working directory under /proc and rewrites an
// accepted one to its clean form. runc before 1.1.12 leaked a host
// directory descriptor into the container, so a WorkingDir of
// /proc/self/fd/N started the process with its cwd on the host
// (CVE-2024-21626). The node does not know which runc dockerd runs and a
// fixed one may be downgraded, so the rule holds whatever the version: no
// workspace has a reason to start inside /proc.
//
// The path is judged as dockerd would use it: dockerd refuses relative
// working directories and passes filepath.Clean of the rest to the runtime,
// so "//proc/self/fd/7", "/./proc/1/cwd" and "/proc/../proc/self/cwd" all
// reach runc as paths under /proc. Forwarding the cleaned form means the
// runtime is given exactly the path that was judged. A symlink inside the
// image could still lead to /proc; images come from the node's allow-list,
// so that is the image author's choice, not the client's.
func checkWorkingDir(cfg *container.Config) error {
	wd := cfg.WorkingDir
	if wd == "" {
		return nil
	}
	if strings.ContainsRune(wd, 0) {
		return badRequest("working-dir", "WorkingDir contains a NUL byte")
	}
	if !strings.HasPrefix(wd, "/") {
		return badRequest("working-dir", "WorkingDir %q must be an absolute path", wd)
	}
	clean := path.Clean(wd)
	if clean == "/proc" || strings.HasPrefix(clean, "/proc/") {
		return refuse("working-dir", "WorkingDir %q is under /proc (as %q), which runc's CVE-2024-21626 escape uses; it is refused whatever the runtime's version", wd, clean)
	}
	cfg.WorkingDir = clean
	return nil
}
