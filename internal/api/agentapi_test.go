package api

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// launchForAgent creates a session as the user and returns it with the
// registration token the container was given.
func (e *env) launchForAgent() (sessionView, string) {
	e.t.Helper()
	s := e.createSession(e.userTok, "web")
	call := e.launched(s.ID)
	tok, ok := envValue(call.Spec.Env, "AIRLOCK_REGISTER_TOKEN")
	if !ok {
		e.t.Fatalf("no AIRLOCK_REGISTER_TOKEN in %v", call.Spec.Env)
	}
	return s, tok
}

func (e *env) register(session, token string) *registration {
	e.t.Helper()
	rec := e.do(req{Method: "POST", Path: "/api/v1/agent/register", Body: registerRequest{Session: session, Token: token}})
	wantStatus(e.t, rec, http.StatusOK)
	var reg registration
	mustJSON(e.t, rec, &reg)
	return &reg
}

func TestRegisterAgent(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	a, aTok := e.launchForAgent()
	b, bTok := e.launchForAgent()
	stopped, stoppedTok := e.launchForAgent()
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + stopped.ID, Bearer: e.userTok}), http.StatusOK)
	forged, _ := auth.NewToken(auth.KindRegister)
	apiKind, _ := auth.ParseToken(e.userTok)
	aParsed, _ := auth.ParseToken(aTok)
	// a's ID and secret under the wrong kind.
	wrongKind := auth.Token{Kind: auth.KindAgent, ID: aParsed.ID, Secret: aParsed.Secret}.String()

	const bad = "registration token is not valid for this session (a token works once, or again within 30s until the agent's first heartbeat)"
	for _, tc := range []struct {
		name, session, token string
		code, msg            string
	}{
		{name: "fail/forged", session: a.ID, token: forged.String(), code: "unauthorized", msg: bad},
		{name: "fail/other-sessions-token", session: a.ID, token: bTok, code: "unauthorized", msg: bad},
		{name: "fail/wrong-kind", session: a.ID, token: wrongKind, code: "unauthorized", msg: bad},
		{name: "fail/api-token", session: a.ID, token: apiKind.String(), code: "unauthorized", msg: bad},
		{name: "fail/garbage", session: a.ID, token: "alr_garbage", code: "unauthorized", msg: bad},
		{name: "fail/empty-token", session: a.ID, token: "", code: "unauthorized", msg: bad},
		{name: "fail/empty-session", session: "", token: aTok, code: "unauthorized", msg: bad},
		{name: "fail/unknown-session", session: "0123456789abcdef0123456789abcdef", token: aTok, code: "unauthorized", msg: bad},
		{name: "fail/stopped-session", session: stopped.ID, token: stoppedTok, code: "conflict", msg: "is stopped, not starting"},
		{name: "ok/a", session: a.ID, token: aTok},
		{name: "ok/b-after-its-token-was-tried-on-a", session: b.ID, token: bTok},
		{name: "fail/a-token-on-b-after-both-registered", session: b.ID, token: aTok, code: "unauthorized", msg: bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(req{Method: "POST", Path: "/api/v1/agent/register", Body: registerRequest{Session: tc.session, Token: tc.token}})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var reg registration
			mustJSON(t, rec, &reg)
			if reg.SessionID != tc.session || reg.HeartbeatSeconds != 10 || reg.ExpiresAt != e.clk.Now().Add(10*time.Minute).Unix() {
				t.Errorf("registration %+v", reg)
			}
			c, err := e.signer.Verify(reg.Credential, agentAudience)
			if err != nil || c.Session != tc.session || c.Role != "agent" {
				t.Errorf("credential claims %+v, %v", c, err)
			}
			var v sessionView
			mustJSON(t, e.do(req{Method: "GET", Path: "/api/v1/sessions/" + tc.session, Bearer: e.userTok}), &v)
			if v.State != "ready" || v.ReadyAt == nil {
				t.Errorf("session after registration %+v", v)
			}
			// The registration hash stays for a retry (TestRegisterRetry);
			// the agent hash is that of the credential's generation.
			s := e.session(tc.session)
			if gen := generationHash(c.Subject); len(s.RegisterHash) == 0 || string(s.AgentHash) != string(gen[:]) {
				t.Errorf("register hash %x agent hash %x, subject %q", s.RegisterHash, s.AgentHash, c.Subject)
			}
		})
	}
}

func TestAgentHeartbeat(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	a, aTok := e.launchForAgent()
	reg := e.register(a.ID, aTok)
	ex, exTok := e.launchForAgent()
	expiring := e.register(ex.ID, exTok)
	gone, goneTok := e.launchForAgent()
	goneReg := e.register(gone.ID, goneTok)
	wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + gone.ID, Bearer: e.userTok}), http.StatusOK)
	starting, _ := e.launchForAgent()

	sign := func(s *auth.Signer, c auth.Claims) string {
		if c.Audience == "" {
			c.Audience = agentAudience
		}
		if c.Expires == 0 {
			c.Expires = e.clk.Now().Add(time.Minute).Unix()
		}
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	otherKey := make([]byte, 32)
	_, _ = rand.Read(otherKey)
	otherSigner, _ := auth.NewSigner(otherKey, e.clk.Now)
	first, err := e.signer.Verify(reg.Credential, agentAudience)
	if err != nil {
		t.Fatal(err)
	}
	// A credential with the right key, session and generation, one
	// second from expiry.
	nearExpiry := sign(e.signer, auth.Claims{Subject: first.Subject, Session: a.ID, Role: "agent", Expires: e.clk.Now().Add(time.Second).Unix()})

	for _, tc := range []struct {
		name    string
		header  string // whole Authorization header
		advance time.Duration
		session string // for ok cases
		code    string
		msg     string
	}{
		{name: "ok/credential", header: "Bearer " + reg.Credential, session: a.ID},
		{name: "ok/near-expiry", header: "Bearer " + nearExpiry, session: a.ID},
		// Signed before credentials had generations.
		{name: "ok/legacy-subject", header: "Bearer " + sign(e.signer, auth.Claims{Subject: "agent", Session: a.ID, Role: "agent"}), session: a.ID},
		{name: "fail/other-generation", header: "Bearer " + sign(e.signer, auth.Claims{Subject: "agent:0123", Session: a.ID, Role: "agent"}),
			code: "unauthorized", msg: "was replaced by a later registration"},
		{name: "fail/no-subject", header: "Bearer " + sign(e.signer, auth.Claims{Session: a.ID, Role: "agent"}), code: "unauthorized", msg: "was replaced by a later registration"},
		{name: "fail/none", code: "unauthorized", msg: "agent credential required"},
		{name: "fail/not-bearer", header: "Agent " + reg.Credential, code: "unauthorized", msg: "agent credential required"},
		{name: "fail/garbage", header: "Bearer garbage", code: "unauthorized", msg: "agent credential is not valid"},
		{name: "fail/tampered", header: "Bearer " + reg.Credential[:len(reg.Credential)-2] + "AA", code: "unauthorized", msg: "agent credential is not valid"},
		{name: "fail/api-token", header: "Bearer " + e.userTok, code: "unauthorized", msg: "agent credential is not valid"},
		{name: "fail/register-token", header: "Bearer " + aTok, code: "unauthorized", msg: "agent credential is not valid"},
		{name: "fail/other-key", header: "Bearer " + sign(otherSigner, auth.Claims{Session: a.ID}), code: "unauthorized", msg: "agent credential is not valid"},
		{name: "fail/other-audience", header: "Bearer " + sign(e.signer, auth.Claims{Session: a.ID, Audience: "airlock-connect"}), code: "unauthorized", msg: "agent credential is not valid"},
		{name: "fail/expired", header: "Bearer " + expiring.Credential, advance: 10 * time.Minute, code: "unauthorized", msg: "agent credential expired"},
		{name: "fail/session-deleted", header: "Bearer " + goneReg.Credential, code: "forbidden", msg: "is no longer running"},
		{name: "fail/session-not-ready", header: "Bearer " + sign(e.signer, auth.Claims{Session: starting.ID}), code: "forbidden", msg: "is no longer running"},
		{name: "fail/session-unknown", header: "Bearer " + sign(e.signer, auth.Claims{Session: "nope"}), code: "forbidden", msg: "is no longer running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := e.clk.Now()
			e.clk.Advance(tc.advance)
			defer e.clk.Set(start)
			r := req{Method: "POST", Path: "/api/v1/agent/heartbeat", Header: map[string]string{}}
			if tc.header != "" {
				r.Header["Authorization"] = tc.header
			}
			rec := e.do(r)
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var got registration
			mustJSON(t, rec, &got)
			if got.SessionID != tc.session || got.Credential == "" || got.ExpiresAt != e.clk.Now().Add(10*time.Minute).Unix() {
				t.Errorf("heartbeat answer %+v", got)
			}
			if got.Credential == reg.Credential || got.Credential == nearExpiry {
				t.Errorf("heartbeat returned the same credential")
			}
			if c, err := e.signer.Verify(got.Credential, agentAudience); err != nil || c.Session != tc.session {
				t.Errorf("new credential: %+v, %v", c, err)
			}
			s := e.session(tc.session)
			if s.LastHeartbeat == nil || !s.LastHeartbeat.Equal(e.clk.Now()) || s.State != airlock.SessionReady {
				t.Errorf("session after heartbeat: %s %v", s.State, s.LastHeartbeat)
			}
		})
	}
	t.Run("ok/renewed-credential-outlives-the-first", func(t *testing.T) {
		e.clk.Advance(9 * time.Minute)
		rec := e.do(req{Method: "POST", Path: "/api/v1/agent/heartbeat", Header: map[string]string{"Authorization": "Bearer " + reg.Credential}})
		wantStatus(t, rec, http.StatusOK)
		var next registration
		mustJSON(t, rec, &next)
		e.clk.Advance(2 * time.Minute)
		wantError(t, e.do(req{Method: "POST", Path: "/api/v1/agent/heartbeat", Header: map[string]string{"Authorization": "Bearer " + reg.Credential}}), "unauthorized", "expired")
		wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/agent/heartbeat", Header: map[string]string{"Authorization": "Bearer " + next.Credential}}), http.StatusOK)
	})
}

// TestRegisterRetry: an agent whose registration answer was lost
// registers again with the same token within registerRetryWindow and
// gets a fresh credential, which replaces the first; later, after its
// first heartbeat, or with another session's token, it is refused.
func TestRegisterRetry(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	beat := func(cred string) *httptest.ResponseRecorder {
		return e.do(req{Method: "POST", Path: "/api/v1/agent/heartbeat", Header: map[string]string{"Authorization": "Bearer " + cred}})
	}
	for _, tc := range []struct {
		name      string
		advance   time.Duration // between the lost answer and the retry
		beatFirst bool          // the first credential heartbeats before the retry
		otherTok  bool          // the retry bears another session's token
		code, msg string
	}{
		{name: "ok/retry-at-once"},
		{name: "ok/retry-within-window", advance: 29 * time.Second},
		{name: "fail/after-window", advance: 31 * time.Second, code: "conflict",
			msg: "registered 31s ago; its registration token works again only within 30s of the first use"},
		{name: "fail/after-first-heartbeat", advance: time.Second, beatFirst: true, code: "unauthorized", msg: "registration token is not valid for this session"},
		{name: "fail/other-sessions-token", advance: time.Second, otherTok: true, code: "unauthorized", msg: "registration token is not valid for this session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, tok := e.launchForAgent()
			other, otherTok := e.launchForAgent()
			// The node's heartbeat must stay fresh, and the user's session
			// limit is 3.
			start := e.clk.Now()
			t.Cleanup(func() {
				e.clk.Set(start)
				for _, id := range []string{s.ID, other.ID} {
					wantStatus(t, e.do(req{Method: "DELETE", Path: "/api/v1/sessions/" + id, Bearer: e.userTok}), http.StatusOK)
				}
			})
			lost := e.register(s.ID, tok) // the agent never reads this answer
			readyAt := e.session(s.ID).ReadyAt
			if tc.beatFirst {
				wantStatus(t, beat(lost.Credential), http.StatusOK)
			}
			e.clk.Advance(tc.advance)
			retryTok := tok
			if tc.otherTok {
				retryTok = otherTok
			}
			rec := e.do(req{Method: "POST", Path: "/api/v1/agent/register", Body: registerRequest{Session: s.ID, Token: retryTok}})
			if tc.code != "" {
				wantError(t, rec, tc.code, tc.msg)
				// The refused retry took nothing from the running agent.
				wantStatus(t, beat(lost.Credential), http.StatusOK)
				if got := e.session(s.ID); got.State != airlock.SessionReady {
					t.Errorf("session %s after a refused retry", got.State)
				}
				return
			}
			wantStatus(t, rec, http.StatusOK)
			var again registration
			mustJSON(t, rec, &again)
			if again.SessionID != s.ID || again.Credential == "" || again.Credential == lost.Credential {
				t.Fatalf("retry answer %+v (first credential %q)", again, lost.Credential)
			}
			if got := e.session(s.ID); got.State != airlock.SessionReady || !got.ReadyAt.Equal(*readyAt) {
				t.Errorf("session after retry: %s ready at %v, want ready at %v", got.State, got.ReadyAt, readyAt)
			}
			// The lost credential is replaced: whoever holds it can neither
			// heartbeat nor take the agent's place on the relay.
			wantError(t, beat(lost.Credential), "unauthorized", "replaced by a later registration")
			wantError(t, e.do(req{Method: "POST", Path: "/api/v1/agent/connect", Bearer: lost.Credential}), "unauthorized", "replaced by a later registration")
			wantStatus(t, e.do(req{Method: "POST", Path: "/api/v1/agent/connect", Bearer: again.Credential}), http.StatusOK)
			rec = beat(again.Credential)
			wantStatus(t, rec, http.StatusOK)
			var renewed registration
			mustJSON(t, rec, &renewed)
			wantStatus(t, beat(renewed.Credential), http.StatusOK)
			// The heartbeat closed the window.
			wantError(t, e.do(req{Method: "POST", Path: "/api/v1/agent/register", Body: registerRequest{Session: s.ID, Token: tok}}),
				"unauthorized", "registration token is not valid for this session")
		})
	}
}
