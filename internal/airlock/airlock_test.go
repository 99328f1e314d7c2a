package airlock

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSessionTransitions(t *testing.T) {
	for _, tc := range []struct {
		from, to SessionState
		ok       bool
	}{
		{SessionPending, SessionStarting, true},
		{SessionStarting, SessionReady, true},
		{SessionReady, SessionStopping, true},
		{SessionStopping, SessionStopped, true},
		{SessionStarting, SessionFailed, true},
		{SessionReady, SessionStarting, false},
		{SessionStopped, SessionReady, false},
		{SessionFailed, SessionStopping, false},
		{SessionPending, SessionReady, false},
	} {
		if got := CanTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("%s -> %s: got %v want %v", tc.from, tc.to, got, tc.ok)
		}
	}
}

func TestWorkspaceValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    Workspace
		ok   bool
		msg  []string // in the error's message
	}{
		{"ok/minimal", Workspace{Name: "chrome", Image: "airlock/chromium:latest"}, true, nil},
		{"ok/limits", Workspace{Name: "c-1", Image: "x", Memory: 512 << 20, NanoCPUs: 1e9, Env: map[string]string{"LANG": "fr_FR"}}, true, nil},
		{"ok/seccomp-named", Workspace{Name: "a", Image: "x", Seccomp: "chromium"}, true, nil},
		{"ok/seccomp-dotted", Workspace{Name: "a", Image: "x", Seccomp: "chromium.v2"}, true, nil},
		{"ok/clipboard-off", Workspace{Name: "a", Image: "x", Clipboard: ClipboardOff}, true, nil},
		{"ok/clipboard-to-container", Workspace{Name: "a", Image: "x", Clipboard: "to-container"}, true, nil},
		{"ok/clipboard-from-container", Workspace{Name: "a", Image: "x", Clipboard: "from-container"}, true, nil},
		{"ok/clipboard-both", Workspace{Name: "a", Image: "x", Clipboard: "both"}, true, nil},
		{"fail/name-upper", Workspace{Name: "Chrome", Image: "x"}, false, []string{`workspace name "Chrome"`}},
		{"fail/name-empty", Workspace{Image: "x"}, false, []string{"workspace name"}},
		{"fail/image-space", Workspace{Name: "a", Image: "x y"}, false, []string{"not an image reference"}},
		{"fail/isolation", Workspace{Name: "a", Image: "x", Isolation: "vm"}, false, []string{`isolation "vm"`, "standard, hardened, sandboxed"}},
		{"fail/memory-tiny", Workspace{Name: "a", Image: "x", Memory: 1024}, false, []string{"6 MiB"}},
		{"fail/negative", Workspace{Name: "a", Image: "x", PidsLimit: -1}, false, []string{"must not be negative"}},
		{"fail/env-reserved", Workspace{Name: "a", Image: "x", Env: map[string]string{"AIRLOCK_TOKEN": "x"}}, false, []string{`"AIRLOCK_TOKEN"`}},
		{"ok/env-codec", Workspace{Name: "a", Image: "x", Env: map[string]string{"AIRLOCK_CODEC": "h264"}}, true, nil},
		{"fail/env-codec-value", Workspace{Name: "a", Image: "x", Env: map[string]string{"AIRLOCK_CODEC": "av1"}}, false, []string{`AIRLOCK_CODEC "av1"`, "vp8 or h264"}},
		{"fail/env-reserved-clipboard", Workspace{Name: "a", Image: "x", Env: map[string]string{"AIRLOCK_CLIPBOARD": "both"}}, false, []string{`"AIRLOCK_CLIPBOARD"`}},
		{"fail/env-equals", Workspace{Name: "a", Image: "x", Env: map[string]string{"A=B": "x"}}, false, []string{`"A=B"`}},
		{"fail/clipboard-unknown", Workspace{Name: "a", Image: "x", Clipboard: "sometimes"}, false,
			[]string{`clipboard "sometimes"`, "off, to-container, from-container, both"}},
		{"fail/clipboard-upper", Workspace{Name: "a", Image: "x", Clipboard: "Both"}, false, []string{`clipboard "Both"`, "off, to-container, from-container, both"}},
		{"fail/clipboard-underscore", Workspace{Name: "a", Image: "x", Clipboard: "to_container"}, false, []string{`clipboard "to_container"`}},
		{"fail/seccomp-upper", Workspace{Name: "a", Image: "x", Seccomp: "Chromium"}, false, []string{`seccomp profile name "Chromium"`, "a-z, 0-9"}},
		{"fail/seccomp-path", Workspace{Name: "a", Image: "x", Seccomp: "/etc/seccomp.json"}, false, []string{`seccomp profile name "/etc/seccomp.json"`}},
		{"fail/seccomp-unconfined-json", Workspace{Name: "a", Image: "x", Seccomp: `{"defaultAction":"SCMP_ACT_ALLOW"}`}, false, []string{"seccomp profile name"}},
		{"ok/start-url-https", Workspace{Name: "a", Image: "x", StartURL: "https://example.com/a?b=c#d"}, true, nil},
		{"ok/start-url-http-port", Workspace{Name: "a", Image: "x", StartURL: "http://intranet:8080/"}, true, nil},
		{"ok/start-url-upper-scheme", Workspace{Name: "a", Image: "x", StartURL: "HTTPS://example.com/"}, true, nil},
		{"fail/start-url-chromium-flag", Workspace{Name: "a", Image: "x", StartURL: "--renderer-cmd-prefix=/bin/sh -c id"}, false,
			[]string{`start URL "--renderer-cmd-prefix`, "like a browser flag", "http:// or https://"}},
		{"fail/start-url-flag-no-space", Workspace{Name: "a", Image: "x", StartURL: "--no-sandbox"}, false, []string{"like a browser flag"}},
		{"fail/start-url-javascript", Workspace{Name: "a", Image: "x", StartURL: "javascript:alert(document.cookie)"}, false,
			[]string{"the scheme javascript: is not allowed"}},
		{"fail/start-url-file", Workspace{Name: "a", Image: "x", StartURL: "file:///etc/passwd"}, false, []string{"the scheme file: is not allowed"}},
		{"fail/start-url-data", Workspace{Name: "a", Image: "x", StartURL: "data:text/html,<script>x</script>"}, false, []string{"the scheme data: is not allowed"}},
		{"fail/start-url-chrome", Workspace{Name: "a", Image: "x", StartURL: "chrome://settings"}, false, []string{"the scheme chrome: is not allowed"}},
		{"fail/start-url-relative", Workspace{Name: "a", Image: "x", StartURL: "example.com"}, false, []string{"no scheme"}},
		{"fail/start-url-no-host", Workspace{Name: "a", Image: "x", StartURL: "https:///path"}, false, []string{"no host"}},
		{"ok/egress-hardened", Workspace{Name: "a", Image: "x", Isolation: IsolationHardened, Egress: EgressPolicy{Rules: []EgressRule{
			{Action: EgressAllow, Domain: "*.example.com", Ports: []uint16{443}}, {Action: EgressDeny, CIDR: "10.0.0.0/8"}}}}, true, nil},
		{"ok/egress-sandboxed", Workspace{Name: "a", Image: "x", Isolation: IsolationSandboxed, Egress: EgressPolicy{Rules: []EgressRule{
			{Action: EgressDeny, Domain: "*"}}}}, true, nil},
		{"ok/egress-empty-standard", Workspace{Name: "a", Image: "x", Egress: EgressPolicy{Rules: []EgressRule{}}}, true, nil},
		{"fail/egress-standard", Workspace{Name: "a", Image: "x", Egress: EgressPolicy{Rules: []EgressRule{{Action: EgressDeny, Domain: "*"}}}}, false,
			[]string{`workspace "a" has 1 egress rules but isolation standard`, "egress policies need isolation hardened or sandboxed"}},
		{"fail/egress-default-isolation", Workspace{Name: "a", Image: "x", Isolation: "", Egress: EgressPolicy{Rules: []EgressRule{{Action: EgressDeny, Domain: "*"}}}}, false,
			[]string{"need isolation hardened or sandboxed"}},
		{"fail/egress-bad-rule", Workspace{Name: "a", Image: "x", Isolation: IsolationHardened, Egress: EgressPolicy{Rules: []EgressRule{
			{Action: EgressAllow, Domain: "example.com"}, {Action: EgressAllow, CIDR: "10.1.2.3/16"}}}}, false,
			[]string{"egress policy rules[1]", "did you mean 10.1.0.0/16"}},
		{"fail/egress-too-large", Workspace{Name: "a", Image: "x", Isolation: IsolationHardened, Egress: bigEgress()}, false,
			[]string{"bytes of JSON; a node carries at most 65536"}},
		{"fail/start-url-space", Workspace{Name: "a", Image: "x", StartURL: "https://example.com/ --no-sandbox"}, false, []string{"spaces or control characters"}},
		{"fail/start-url-newline", Workspace{Name: "a", Image: "x", StartURL: "https://example.com/\n"}, false, []string{"control characters"}},
		{"fail/seccomp-long", Workspace{Name: "a", Image: "x", Seccomp: strings.Repeat("s", 64)}, false, []string{"seccomp profile name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.w.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && ErrorCode(err) != EINVALID {
				t.Fatalf("code %q, want invalid", ErrorCode(err))
			}
			for _, m := range tc.msg {
				if !strings.Contains(ErrorMessage(err), m) {
					t.Errorf("message %q does not contain %q", ErrorMessage(err), m)
				}
			}
		})
	}
}

// bigEgress is a valid policy too long for the node's label: every rule
// and port count within bounds, the whole over MaxWorkspaceEgressSize.
func bigEgress() EgressPolicy {
	ports := make([]uint16, MaxEgressRulePorts)
	for i := range ports {
		ports[i] = uint16(10000 + i)
	}
	rules := make([]EgressRule, MaxEgressRules)
	for i := range rules {
		rules[i] = EgressRule{Action: EgressAllow, Domain: "example.com", Ports: ports}
	}
	return EgressPolicy{Rules: rules}
}

func TestWorkspaceDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		w         Workspace
		isolation Isolation
		clipboard ClipboardPolicy
		seccomp   string
	}{
		{"ok/empty-gets-defaults", Workspace{Name: "a", Image: "x"}, IsolationStandard, ClipboardBoth, ""},
		{"ok/set-values-kept", Workspace{Name: "a", Image: "x", Isolation: IsolationHardened, Clipboard: ClipboardOff, Seccomp: "chromium"},
			IsolationHardened, ClipboardOff, "chromium"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.w.Validate(); err != nil {
				t.Fatal(err)
			}
			if tc.w.Isolation != tc.isolation || tc.w.Clipboard != tc.clipboard || tc.w.Seccomp != tc.seccomp {
				t.Fatalf("after Validate: isolation %q clipboard %q seccomp %q", tc.w.Isolation, tc.w.Clipboard, tc.w.Seccomp)
			}
		})
	}
	if DefaultClipboard != ClipboardBoth || ClipboardPolicy("").OrDefault() != ClipboardBoth || ClipboardOff.OrDefault() != ClipboardOff {
		t.Fatal("the default clipboard policy is both, and OrDefault keeps a set one")
	}
}

func TestWorkspaceValidateSeccomp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		seccomp string
		known   []string
		msg     []string // empty: valid
	}{
		{"ok/default-no-profiles", "", nil, nil},
		{"ok/default-with-profiles", "", []string{"chromium"}, nil},
		{"ok/known", "chromium", []string{"chromium"}, nil},
		{"ok/known-among-several", "firefox", []string{"chromium", "firefox"}, nil},
		{"fail/unknown", "firefox", []string{"chromium"}, []string{`seccomp profile "firefox" is not known`, "known profiles: chromium", "empty for Docker's default"}},
		{"fail/unknown-lists-sorted", "x", []string{"zeta", "chromium"}, []string{"known profiles: chromium, zeta"}},
		{"fail/no-profiles", "chromium", nil, []string{`seccomp profile "chromium" is not known`, "no named profiles", "leave seccomp empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := Workspace{Name: "a", Image: "x", Seccomp: tc.seccomp}
			err := w.ValidateSeccomp(tc.known)
			if (err == nil) != (len(tc.msg) == 0) {
				t.Fatalf("ValidateSeccomp(%v) = %v, want ok=%v", tc.known, err, len(tc.msg) == 0)
			}
			if err != nil && ErrorCode(err) != EINVALID {
				t.Fatalf("code %q, want invalid", ErrorCode(err))
			}
			for _, m := range tc.msg {
				if !strings.Contains(ErrorMessage(err), m) {
					t.Errorf("message %q does not contain %q", ErrorMessage(err), m)
				}
			}
		})
	}
}

func TestErrorCodes(t *testing.T) {
	wrapped := fmt.Errorf("create session: %w", Errorf(ECONFLICT, "busy"))
	if ErrorCode(wrapped) != ECONFLICT || ErrorMessage(wrapped) != "busy" {
		t.Fatalf("wrapped: %q %q", ErrorCode(wrapped), ErrorMessage(wrapped))
	}
	plain := errors.New("disk on fire at /var/lib")
	if ErrorCode(plain) != EINTERNAL || ErrorMessage(plain) != "internal error" {
		t.Fatal("an internal error's detail must not reach the client")
	}
}
