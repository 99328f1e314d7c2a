package main

import (
	"strings"
	"testing"
)

// TestUpOnLoopback: `airlock up --listen 127.0.0.1:PORT` must still give
// session containers a server they reach (they cannot reach the host's
// loopback): the session becomes ready.
func TestUpOnLoopback(t *testing.T) {
	env := startUp(t, "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(env.server, "https://127.0.0.1:") {
		t.Fatalf("server URL %s, want loopback", env.server)
	}
	id := env.cli(t, "session", "create", "minimal", "--wait", "--timeout", "60s")
	env.cli(t, "session", "rm", id)
	if !strings.Contains(env.log.String(), "also listening for session containers") {
		t.Errorf("the server's log does not say where containers reach it:\n%s", env.logTail(30))
	}
}

// TestServerOnLoopbackRefused: `airlock server` has no Docker bridge of
// its own to add; on loopback alone it refuses to start, saying what to do.
func TestServerOnLoopbackRefused(t *testing.T) {
	out, code := (&upEnv{}).try("server", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--metrics-listen", "")
	if code == 0 || !strings.Contains(out, "is a loopback address, which session containers cannot reach") ||
		!strings.Contains(out, "--agent-url") {
		t.Fatalf("airlock server on loopback: exit %d: %s", code, out)
	}
}

// TestUnreachableServerFailsFast: an agent that cannot reach the server
// gives up within seconds, and the session fails with the agent's own
// words, not with the registration timeout's.
func TestUnreachableServerFailsFast(t *testing.T) {
	// Nothing listens on port 9 of the Docker host: connection refused.
	env := startUp(t, "--agent-url", "https://host.docker.internal:9")
	out, code := env.try("session", "create", "minimal", "--wait", "--timeout", "80s")
	if code == 0 {
		t.Fatalf("session create: ready with an unreachable server: %s", out)
	}
	for _, want := range []string{"the workspace's container stopped", "register with https://host.docker.internal:9", "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("session create: %q does not say %q\nserver log:\n%s", out, want, env.logTail(30))
		}
	}
}
