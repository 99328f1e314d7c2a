package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRemote is the forwarding path of bench/gateway without the
// public listener: a user route through the gateway's middleware and a
// Remote to a plain backend on loopback, the answer recorded in memory.
// Its allocations are what forwarding adds over serving in process.
func BenchmarkRemote(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	}))
	defer backend.Close()
	remote, err := Remote(backend.URL, RemoteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(Config{
		Routes:   []Route{{Pattern: "GET /ping", Policy: User, Service: "backend"}},
		Services: map[string]http.Handler{"backend": remote},
		Auth:     tokens{"alice-token": alice},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/ping", nil)
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Authorization", "Bearer alice-token")
		r.Header.Set("User-Agent", "wrk")
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != 200 || w.Body.String() != "ok\n" {
			b.Fatalf("%d %q", w.Code, w.Body.String())
		}
	}
}
