package dockerpolicy

import (
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
)

// checkSecurityOpt parses SecurityOpt the way dockerd does (both the "="
// and the legacy ":" separator) and allows only no-new-privileges, Docker's
// default AppArmor profile and the node's seccomp profiles. The floor adds
// no-new-privileges to every container.
func (e *Engine) checkSecurityOpt(hc *container.HostConfig) error {
	var out []string
	for _, opt := range hc.SecurityOpt {
		if opt == "no-new-privileges" {
			continue
		}
		if opt == "disable" {
			return refuse("security-opt", "disabling the SELinux label (%q) is not allowed", opt)
		}
		var key, val string
		var ok bool
		if strings.Contains(opt, "=") {
			key, val, ok = strings.Cut(opt, "=")
		} else {
			key, val, ok = strings.Cut(opt, ":")
		}
		if !ok {
			return badRequest("security-opt", "security option %q is not of the form key=value", short(opt))
		}
		switch key {
		case "no-new-privileges":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return badRequest("security-opt", "no-new-privileges takes true or false, not %q", short(val))
			}
			if !b {
				return refuse("security-opt", "no-new-privileges cannot be turned off")
			}
		case "seccomp":
			if val == "unconfined" {
				return refuse("security-opt", "seccomp=unconfined is not allowed")
			}
			canon, err := canonicalJSON([]byte(val))
			if err != nil {
				return refuse("security-opt", "seccomp profile %q is not one of this node's profiles", short(val))
			}
			if _, ok := e.cfg.seccomp[canon]; !ok {
				return refuse("security-opt", "this seccomp profile is not on this node's allow-list (matched by content)")
			}
			out = append(out, "seccomp="+canon)
		case "apparmor":
			if val != "docker-default" {
				return refuse("security-opt", "AppArmor profile %q is not allowed; only docker-default", short(val))
			}
			out = append(out, "apparmor="+val)
		case "label":
			return refuse("security-opt", "SELinux label options (%q) are not allowed", short(opt))
		case "systempaths":
			return refuse("security-opt", "systempaths=%s is not allowed", short(val))
		default:
			return refuse("security-opt", "security option %q is not allowed", short(key))
		}
	}
	hc.SecurityOpt = append(out, "no-new-privileges=true")
	return nil
}

// short keeps a client's value readable in an error message.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
