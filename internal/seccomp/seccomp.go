// Package seccomp builds the seccomp profile Airlock's Chromium workspace
// runs under: Docker's default profile plus the few syscalls Chromium's
// sandbox needs to create user namespaces, so Chromium keeps its sandbox in
// a container with no capabilities, instead of running with --no-sandbox.
//
// # What is added, and why
//
// Chromium's Linux sandbox (the "namespace sandbox") puts its renderer,
// GPU and utility processes in fresh user, PID and network namespaces: it
// probes with unshare(CLONE_NEWUSER), launches the zygote with
// clone(CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET), and then, holding
// capabilities only inside that new user namespace, drops filesystem
// access with chroot("/proc/self/fdinfo/"). Docker's default profile
// (default.json) allows
//
//   - unshare, setns and unconditional clone only when the container holds
//     CAP_SYS_ADMIN (rule "includes": {"caps": ["CAP_SYS_ADMIN"]});
//   - otherwise clone only when its flags argument has none of the
//     namespace bits (SCMP_CMP_MASKED_EQ 0x7E020000 == 0: CLONE_NEWNS,
//     CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
//     CLONE_NEWPID, CLONE_NEWNET);
//   - chroot only when the container holds CAP_SYS_CHROOT;
//   - clone3 fails with ENOSYS (glibc then falls back to clone).
//
// Seccomp filters by the container's capabilities at creation, not by
// the capabilities a process later holds inside a user namespace it
// created, so in a container run with --cap-drop ALL Chromium's
// namespace creation gets EPERM ("No usable sandbox!"), and once that
// is allowed its chroot does ("Check failed: sys_chroot(...) == 0").
// ChromiumProfile adds exactly one rule, with no condition:
//
//	{"names": ["chroot", "clone", "unshare"], "action": "SCMP_ACT_ALLOW"}
//
// setns, gated with them in the default, is not added: Chromium's sandbox
// was checked to start without it (headless, --cap-drop ALL,
// no-new-privileges), so it stays CAP_SYS_ADMIN-only.
// The kernel still decides: an unprivileged process may create a user
// namespace (and other namespaces only inside one it owns), and chroot
// needs CAP_SYS_CHROOT in the caller's user namespace, which a
// --cap-drop ALL process has only inside a namespace it created.
// Nothing else is changed: every other rule, the default action and the
// clone3 ENOSYS rule are Docker's (see the tests).
//
// default.json is a verbatim copy of Docker's default profile from
// github.com/moby/profiles/seccomp v0.1.0 (Apache-2.0), the module that
// github.com/docker/docker/profiles/seccomp re-exports at the version this
// module requires. It is embedded rather than imported because importing
// it would add modules (moby/profiles, opencontainers/runtime-spec) to
// go.mod.
package seccomp

//go:generate go test -run TestChromiumProfileFile -update .

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

//go:embed default.json
var defaultJSON []byte

// ChromiumFile is where the generated profile is committed, relative to
// the repository root.
const ChromiumFile = "images/chromium/seccomp.json"

// Added is the one rule ChromiumProfile adds to Docker's default profile.
var Added = Syscall{
	Names:   []string{"chroot", "clone", "unshare"},
	Action:  "SCMP_ACT_ALLOW",
	Comment: "airlock: Chromium's sandbox creates user, PID and network namespaces and chroots inside them, without CAP_SYS_ADMIN or CAP_SYS_CHROOT",
}

// Profile is Docker's seccomp profile format (moby/profiles/seccomp
// Seccomp): the OCI LinuxSeccomp plus archMap and conditional rules.
type Profile struct {
	DefaultAction    string         `json:"defaultAction"`
	DefaultErrnoRet  *uint          `json:"defaultErrnoRet,omitempty"`
	Architectures    []string       `json:"architectures,omitempty"`
	Flags            []string       `json:"flags,omitempty"`
	ListenerPath     string         `json:"listenerPath,omitempty"`
	ListenerMetadata string         `json:"listenerMetadata,omitempty"`
	ArchMap          []Architecture `json:"archMap,omitempty"`
	Syscalls         []Syscall      `json:"syscalls"`
}

// Architecture maps an architecture to its sub-architectures.
type Architecture struct {
	Arch      string   `json:"architecture"`
	SubArches []string `json:"subArchitectures"`
}

// Syscall is one rule.
type Syscall struct {
	Names    []string `json:"names,omitempty"`
	Action   string   `json:"action"`
	ErrnoRet *uint    `json:"errnoRet,omitempty"`
	Args     []Arg    `json:"args,omitempty"`
	Name     string   `json:"name,omitempty"`
	Comment  string   `json:"comment,omitempty"`
	Includes *Filter  `json:"includes,omitempty"`
	Excludes *Filter  `json:"excludes,omitempty"`
}

// Arg is a condition on one syscall argument.
type Arg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

// Filter applies a rule only for (includes) or except for (excludes) some
// capabilities, architectures or kernels.
type Filter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// Default returns Docker's default profile.
func Default() (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(defaultJSON, &p); err != nil {
		return nil, fmt.Errorf("docker default seccomp profile: %w", err)
	}
	return &p, nil
}

// ChromiumProfile returns, as indented JSON, Docker's default seccomp
// profile with Added appended (see the package documentation).
func ChromiumProfile() ([]byte, error) {
	p, err := Default()
	if err != nil {
		return nil, err
	}
	p.Syscalls = append(p.Syscalls, Added)
	out, err := json.MarshalIndent(p, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
