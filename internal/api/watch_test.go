package api

import (
	"net/http"
	"testing"
	"time"
)

// TestLongPoll: GET ?wait= answers as soon as the agent registers.
func TestLongPoll(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	s, tok := e.launchForAgent()
	got := make(chan sessionView, 1)
	go func() {
		var v sessionView
		mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/sessions/" + s.ID + "?wait=50s", Bearer: e.userTok}), &v)
		got <- v
	}()
	e.register(s.ID, tok)
	select {
	case v := <-got:
		if v.State != "ready" {
			t.Fatalf("long poll answered %q", v.State)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("long poll did not answer after registration")
	}
	for _, tc := range []struct{ name, wait, code string }{
		{"fail/not-a-duration", "soon", "invalid"},
		{"fail/too-long", "2m", "invalid"},
		{"fail/negative", "-1s", "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(req{Method: "GET", Path: "/api/v1/sessions/" + s.ID + "?wait=" + tc.wait, Bearer: e.userTok}), tc.code, "wait")
		})
	}
	// A settled session answers at once, whatever the wait.
	wantStatus(t, e.do(req{Method: "GET", Path: "/api/v1/sessions/" + s.ID + "?wait=59s", Bearer: e.userTok}), http.StatusOK)
}
