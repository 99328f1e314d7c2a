package airlock

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Isolation is how strongly a session is kept apart from the host and
// from other sessions. Each workspace names one; each node lists those it
// can run.
type Isolation string

const (
	// IsolationStandard: non-root, capabilities dropped, no-new-privileges,
	// read-only root, limits, default seccomp.
	IsolationStandard Isolation = "standard"
	// IsolationHardened adds a network per session and egress policy.
	IsolationHardened Isolation = "hardened"
	// IsolationSandboxed adds a sandboxing runtime (gVisor, Kata).
	IsolationSandboxed Isolation = "sandboxed"
)

// Valid reports whether i is a known level.
func (i Isolation) Valid() bool {
	return i == IsolationStandard || i == IsolationHardened || i == IsolationSandboxed
}

// ClipboardPolicy says which way text may cross the clipboard between the
// user's browser and a session: the agent in the container enforces it,
// told by AIRLOCK_CLIPBOARD.
//
// The default, when a workspace names none, is both. Isolation keeps web
// content from running on the user's device; plain text crossing the
// clipboard does not undo that, and a remote browser without copy and
// paste is one users work around (or abandon). A deployment that must
// keep data from leaving or entering a session (data loss prevention)
// sets off, to-container or from-container on the workspaces concerned.
type ClipboardPolicy string

const (
	// ClipboardOff: no clipboard in either direction.
	ClipboardOff ClipboardPolicy = "off"
	// ClipboardToContainer: the user may paste into the session, not copy
	// out of it.
	ClipboardToContainer ClipboardPolicy = "to-container"
	// ClipboardFromContainer: the user may copy out of the session, not
	// paste into it.
	ClipboardFromContainer ClipboardPolicy = "from-container"
	// ClipboardBoth: copy and paste both ways.
	ClipboardBoth ClipboardPolicy = "both"
	// DefaultClipboard is the policy of a workspace that names none.
	DefaultClipboard = ClipboardBoth
)

// ClipboardPolicies lists every policy, for messages and flag help.
var ClipboardPolicies = []ClipboardPolicy{ClipboardOff, ClipboardToContainer, ClipboardFromContainer, ClipboardBoth}

// Valid reports whether c is a known policy; empty is not one (see
// OrDefault).
func (c ClipboardPolicy) Valid() bool { return slices.Contains(ClipboardPolicies, c) }

// OrDefault returns c, or DefaultClipboard when c is empty.
func (c ClipboardPolicy) OrDefault() ClipboardPolicy {
	if c == "" {
		return DefaultClipboard
	}
	return c
}

// SeccompDefault is the Seccomp of a workspace that runs under Docker's
// default seccomp profile.
const SeccompDefault = ""

// Workspace is what a user can launch: an image and how to run it.
type Workspace struct {
	ID          string
	Name        string
	Description string
	Image       string
	Isolation   Isolation
	// NodeLabels are the labels a node must carry, each with its value,
	// to run the workspace's sessions (a zone, a GPU); none: any node.
	NodeLabels map[string]string
	// NanoCPUs is the CPU limit in 1e-9 CPUs; 0 means the node's default.
	NanoCPUs int64
	// Memory is the memory limit in bytes; 0 means the node's default.
	Memory int64
	// PidsLimit bounds processes; 0 means the node's default.
	PidsLimit int64
	// ShmSize is the size of /dev/shm in bytes; 0 means Docker's default.
	ShmSize int64
	Env     map[string]string
	// StartURL is what a browser workspace opens first: empty (a blank
	// page) or an absolute http(s) URL (see ValidStartURL).
	StartURL string
	// Seccomp names the seccomp profile the session runs under: one the
	// deployment knows by name (the api is given them, e.g. "chromium"),
	// sent to the node by content. Empty (SeccompDefault) is Docker's
	// default profile.
	Seccomp string
	// Clipboard is the session's clipboard policy; Validate sets an empty
	// one to DefaultClipboard.
	Clipboard ClipboardPolicy
	// Egress is the egress policy of a hardened or sandboxed workspace's
	// sessions, enforced by the node's egress proxy and resolver. The
	// empty policy is not "no policy": it reaches the public internet and
	// nothing private (see EgressPolicy). A standard workspace has none:
	// its sessions do not go through the proxy, so rules would be a
	// promise nothing keeps.
	Egress EgressPolicy
	// Mode is how a browser workspace shows Chromium; Validate sets an
	// empty one to DefaultMode.
	Mode Mode
	// Browser is the Chromium policy of the workspace's sessions.
	Browser BrowserPolicy
	// Audio is whether sessions' sound reaches the viewer; Validate sets
	// an empty one to DefaultAudio.
	Audio AudioPolicy
	// Locale (a BCP 47 tag) and TimeZone (an IANA name) fix the session's
	// language and time zone; empty: the viewer's.
	Locale   string
	TimeZone string
	// MaxScale bounds the device scale factor sessions render at (the
	// viewer's devicePixelRatio); Validate sets 0 to DefaultMaxScale.
	MaxScale float64
	// Limits bound its sessions' life; zero fields take the deployment's
	// defaults.
	Limits    Limits
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks a workspace's fields before it is stored, and fills the
// defaults of Isolation, Clipboard, Mode, Audio, MaxScale and the
// transfer limits. Whether the deployment knows the
// Seccomp profile is ValidateSeccomp's question: Validate checks only that
// it is a name.
func (w *Workspace) Validate() error {
	if err := ValidName("workspace", w.Name); err != nil {
		return err
	}
	if w.Image == "" || strings.ContainsAny(w.Image, " \t\n") || len(w.Image) > 255 {
		return Errorf(EINVALID, "workspace image %q is not an image reference", w.Image)
	}
	if w.Isolation == "" {
		w.Isolation = IsolationStandard
	}
	if !w.Isolation.Valid() {
		return Errorf(EINVALID, "isolation %q is not one of standard, hardened, sandboxed", w.Isolation)
	}
	if w.Clipboard == "" {
		w.Clipboard = DefaultClipboard
	}
	if !w.Clipboard.Valid() {
		return Errorf(EINVALID, "clipboard %q is not one of %s", w.Clipboard, join(ClipboardPolicies))
	}
	if w.Seccomp != SeccompDefault && !nameRE.MatchString(w.Seccomp) {
		return Errorf(EINVALID, "seccomp profile name %q must be empty (Docker's default profile) or 1-63 characters of a-z, 0-9, '.', '_' or '-'", w.Seccomp)
	}
	if err := ValidLabels("workspace node labels", w.NodeLabels); err != nil {
		return err
	}
	if w.NanoCPUs < 0 || w.Memory < 0 || w.PidsLimit < 0 || w.ShmSize < 0 {
		return Errorf(EINVALID, "resource limits must not be negative")
	}
	if w.Memory != 0 && w.Memory < 6<<20 {
		return Errorf(EINVALID, "memory limit %d is below Docker's minimum of 6 MiB", w.Memory)
	}
	for k, v := range w.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return Errorf(EINVALID, "environment variable name %q is not allowed", k)
		}
		if strings.HasPrefix(k, "AIRLOCK_") {
			if err := agentSetting(k, v); err != nil {
				return err
			}
		}
	}
	if len(w.Description) > 1024 || len(w.StartURL) > 2048 {
		return Errorf(EINVALID, "description or start URL is too long")
	}
	if err := w.validateEgress(); err != nil {
		return err
	}
	if err := w.validateBrowser(); err != nil {
		return err
	}
	if err := w.Limits.Validate(); err != nil {
		return err
	}
	return ValidStartURL(w.StartURL)
}

// MaxWorkspaceEgressSize bounds a workspace's egress policy as JSON: the
// node refuses a session network whose airlock.egress label, which
// carries the policy, is longer (dockerpolicy's maxEgressLabel), so a
// longer policy is refused when it is written rather than at every launch.
const MaxWorkspaceEgressSize = 64 << 10

func (w *Workspace) validateEgress() error {
	if len(w.Egress.Rules) == 0 {
		return nil
	}
	if w.Isolation == IsolationStandard {
		return Errorf(EINVALID, "workspace %q has %d egress rules but isolation standard: egress policies need isolation hardened or sandboxed (standard sessions do not go through the node's egress proxy); set the isolation or remove the rules",
			w.Name, len(w.Egress.Rules))
	}
	if err := w.Egress.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(w.Egress)
	if err != nil {
		return Errorf(EINVALID, "egress policy: %v", err)
	}
	if len(b) > MaxWorkspaceEgressSize {
		return Errorf(EINVALID, "egress policy is %d bytes of JSON; a node carries at most %d: use fewer rules or ports", len(b), MaxWorkspaceEgressSize)
	}
	return nil
}

// ValidStartURL checks a workspace's start URL: empty, or an absolute
// http or https URL with a host. Anything else the browser would be told
// to open is refused: javascript: and data: run code of the catalog's
// choosing, file: reads the container's files, and a value starting with
// "-" would be taken for a Chromium flag (--renderer-cmd-prefix runs a
// program) by a command line that did not end its flags with "--".
func ValidStartURL(s string) error {
	if s == "" {
		return nil
	}
	refuse := func(why string) error {
		return Errorf(EINVALID, "start URL %q: %s; give an absolute http:// or https:// URL, or none for a blank page", s, why)
	}
	if strings.HasPrefix(s, "-") {
		return refuse("it starts with '-', like a browser flag")
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return refuse("it contains spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return refuse("it is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return refuse("it has no scheme")
		}
		return refuse("the scheme " + u.Scheme + ": is not allowed")
	}
	if u.Host == "" || u.Hostname() == "" {
		return refuse("it has no host")
	}
	return nil
}

// ValidateSeccomp checks that the workspace's seccomp profile is one of
// known, the names of the profiles the deployment has; empty, Docker's
// default profile, always is.
func (w *Workspace) ValidateSeccomp(known []string) error {
	if w.Seccomp == SeccompDefault || slices.Contains(known, w.Seccomp) {
		return nil
	}
	names := slices.Sorted(slices.Values(known))
	if len(names) == 0 {
		return Errorf(EINVALID, "seccomp profile %q is not known to this deployment, which has no named profiles; leave seccomp empty for Docker's default profile", w.Seccomp)
	}
	return Errorf(EINVALID, "seccomp profile %q is not known to this deployment; known profiles: %s (or empty for Docker's default profile)", w.Seccomp, join(names))
}

// join lists values for a message: "a, b, c".
func join[S ~string](values []S) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// agentSetting checks an AIRLOCK_ variable of a workspace's env. The
// prefix is the server's (identity, tokens, the CA); a workspace may set
// only the agent's tuning, with a known value.
func agentSetting(k, v string) error {
	switch k {
	case "AIRLOCK_CODEC":
		if v != "vp8" && v != "h264" {
			return Errorf(EINVALID, "AIRLOCK_CODEC %q: the agent encodes vp8 or h264", v)
		}
		return nil
	}
	return Errorf(EINVALID, "environment variable %q: names starting with AIRLOCK_ are Airlock's; a workspace may set only AIRLOCK_CODEC (vp8 or h264)", k)
}
