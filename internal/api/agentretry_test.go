package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/airlock-rbi/airlock/internal/agent"
	"github.com/airlock-rbi/airlock/internal/airlock"
)

// losingFirstRegistration serves the api, but cuts the connection of the
// first registration after the api has answered it: the server committed
// and the agent never read the answer.
type losingFirstRegistration struct {
	api      http.Handler
	mu       sync.Mutex
	seen     int
	answered chan int // the status of each registration answer delivered
}

func (l *losingFirstRegistration) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/agent/register" {
		l.api.ServeHTTP(w, r)
		return
	}
	l.mu.Lock()
	l.seen++
	first := l.seen == 1
	l.mu.Unlock()
	if first {
		l.api.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
		return
	}
	rec := httptest.NewRecorder()
	l.api.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	l.answered <- rec.Code
}

// TestAgentSurvivesLostRegistrationAnswer: the real agent, whose first
// registration answer is lost, retries with its token and runs, where it
// used to be refused ("tokens work once") and fail the session.
func TestAgentSurvivesLostRegistrationAnswer(t *testing.T) {
	e := sessionEnv(t)
	e.addNode("n1", 10)
	s, tok := e.launchForAgent()
	proxy := &losingFirstRegistration{api: e.srv, answered: make(chan int, 4)}
	srv := httptest.NewTLSServer(proxy)
	t.Cleanup(srv.Close)
	registered := make(chan struct{})
	log := slog.New(&onMessage{msg: "registered", seen: registered})
	a, err := agent.New(agent.Config{Server: srv.URL, Session: s.ID, RegisterToken: tok, Transport: srv.Client().Transport, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-registered:
	case err := <-done:
		t.Fatalf("the agent stopped before registering: %v", err)
	}
	if code := <-proxy.answered; code != http.StatusOK {
		t.Fatalf("the retried registration was answered %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("agent: %v", err)
	}
	if got := e.session(s.ID); got.State != airlock.SessionReady {
		t.Fatalf("session is %s, want ready", got.State)
	}
}

// onMessage is a log handler that closes seen at the first record whose
// message is msg.
type onMessage struct {
	msg  string
	seen chan struct{}
	once sync.Once
}

func (h *onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h *onMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}
func (h *onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *onMessage) WithGroup(string) slog.Handler      { return h }
