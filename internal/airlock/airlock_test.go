package airlock

import (
	"errors"
	"fmt"
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
	}{
		{"ok/minimal", Workspace{Name: "chrome", Image: "airlock/chromium:latest"}, true},
		{"ok/limits", Workspace{Name: "c-1", Image: "x", Memory: 512 << 20, NanoCPUs: 1e9, Env: map[string]string{"LANG": "fr_FR"}}, true},
		{"fail/name-upper", Workspace{Name: "Chrome", Image: "x"}, false},
		{"fail/name-empty", Workspace{Image: "x"}, false},
		{"fail/image-space", Workspace{Name: "a", Image: "x y"}, false},
		{"fail/isolation", Workspace{Name: "a", Image: "x", Isolation: "vm"}, false},
		{"fail/memory-tiny", Workspace{Name: "a", Image: "x", Memory: 1024}, false},
		{"fail/negative", Workspace{Name: "a", Image: "x", PidsLimit: -1}, false},
		{"fail/env-reserved", Workspace{Name: "a", Image: "x", Env: map[string]string{"AIRLOCK_TOKEN": "x"}}, false},
		{"fail/env-equals", Workspace{Name: "a", Image: "x", Env: map[string]string{"A=B": "x"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.w.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && ErrorCode(err) != EINVALID {
				t.Fatalf("code %q, want invalid", ErrorCode(err))
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
