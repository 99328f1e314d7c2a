package api

import (
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// TestContainerSpecRuntime: a sandboxed workspace's container asks for
// gVisor's runsc (the node refuses any other runtime on a sandboxed
// network); the other levels leave the daemon's default.
func TestContainerSpecRuntime(t *testing.T) {
	e := newEnv(t)
	reg, err := auth.NewToken(auth.KindRegister)
	if err != nil {
		t.Fatal(err)
	}
	sess := &airlock.Session{ID: "s1", UserID: "u1", ContainerID: "airlock-s1"}
	for _, tc := range []struct {
		level   airlock.Isolation
		runtime string
	}{
		{airlock.IsolationStandard, ""},
		{airlock.IsolationHardened, ""},
		{airlock.IsolationSandboxed, "runsc"},
	} {
		t.Run(string(tc.level), func(t *testing.T) {
			sp, err := e.srv.sessions.ContainerSpec(sess, &airlock.Workspace{Name: "w", Image: "x", Isolation: tc.level}, airlock.Viewer{}, reg)
			if err != nil {
				t.Fatal(err)
			}
			if sp.Runtime != tc.runtime || sp.Isolation != string(tc.level) {
				t.Errorf("runtime %q isolation %q, want %q %q", sp.Runtime, sp.Isolation, tc.runtime, tc.level)
			}
		})
	}
}
