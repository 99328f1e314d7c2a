package api

import (
	"net/http"
	"testing"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/signal"
)

func TestConnect(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	ready, tok := e.launchForAgent()
	reg := e.register(ready.ID, tok)
	starting, _ := e.launchForAgent()

	for _, tc := range []struct {
		name, bearer, session, code string
	}{
		{"ok/owner", e.userTok, ready.ID, ""},
		{"ok/admin", e.adminTok, ready.ID, ""},
		{"fail/starting", e.userTok, starting.ID, "conflict"},
		{"fail/unknown", e.userTok, "0123456789abcdef0123456789abcdef", "not_found"},
		{"fail/no-credentials", "", ready.ID, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "POST", Path: "/api/v1/sessions/" + tc.session + "/connect", Bearer: tc.bearer})
			if tc.code != "" {
				wantError(t, rec, tc.code)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var c connectResponse
			mustJSON(t, rec, &c)
			claims, err := e.signer.Verify(c.Token, signal.Audience)
			if err != nil || claims.Session != ready.ID || claims.Role != signal.RoleViewer {
				t.Fatalf("connect token claims %+v, %v", claims, err)
			}
			if c.SignalURL == "" || c.ICEServers == nil || c.ExpiresAt <= e.clk.Now().Unix() {
				t.Fatalf("connect answer %+v", c)
			}
			// The token is for the relay only: it is no API credential.
			wantError(t, e.do(req{Method: "GET", Path: "/api/v1/sessions/" + ready.ID, Bearer: c.Token}), "unauthorized")
		})
	}

	t.Run("ok/agent", func(t *testing.T) {
		rec := e.do(req{Method: "POST", Path: "/api/v1/agent/connect", Bearer: reg.Credential})
		wantStatus(t, rec, http.StatusOK)
		var c connectResponse
		mustJSON(t, rec, &c)
		claims, err := e.signer.Verify(c.Token, signal.Audience)
		if err != nil || claims.Session != ready.ID || claims.Role != signal.RoleAgent {
			t.Fatalf("agent connect claims %+v, %v", claims, err)
		}
	})
	t.Run("fail/agent-garbage", func(t *testing.T) {
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/agent/connect", Bearer: "nonsense"}), "unauthorized")
	})
}

// The viewer applies the clipboard policy of the connect answer, which
// comes from the workspace on record, never from the agent.
func TestConnectClipboardPolicy(t *testing.T) {
	e := sessionEnv(t)
	n := e.addNode("n1", 10)
	for _, tc := range []struct {
		name, clipboard string
		want            airlock.ClipboardPolicy
	}{
		{name: "default", want: airlock.ClipboardBoth},
		{name: "off", clipboard: "off", want: airlock.ClipboardOff},
		{name: "to-container", clipboard: "to-container", want: airlock.ClipboardToContainer},
		{name: "from-container", clipboard: "from-container", want: airlock.ClipboardFromContainer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := map[string]any{"name": "clip-" + tc.name, "image": "airlock/testapp:latest"}
			if tc.clipboard != "" {
				spec["clipboard"] = tc.clipboard
			}
			ws := e.addWorkspace(spec)
			s := e.addSession(e.user, ws.ID, n.ID, airlock.SessionReady)
			rec := e.do(req{Method: "POST", Path: "/api/v1/sessions/" + s.ID + "/connect", Bearer: e.userTok})
			wantStatus(t, rec, http.StatusOK)
			var c connectResponse
			mustJSON(t, rec, &c)
			if c.Clipboard != tc.want {
				t.Fatalf("clipboard %q, want %q", c.Clipboard, tc.want)
			}
		})
	}
}
