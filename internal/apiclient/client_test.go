package apiclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Content-Type", "application/json")
			body, _ := io.ReadAll(r.Body)
			_, _ = io.WriteString(w, `{"auth":"`+r.Header.Get("Authorization")+`","type":"`+r.Header.Get("Content-Type")+`","body":`+string(orNull(body))+`}`)
		case "/refuse":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"code":"forbidden","message":"this needs the admin role"}`)
		case "/busy":
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"code":"limit","message":"slow down"}`)
		case "/proxy":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "<html>bad gateway</html>")
		case "/big":
			_, _ = w.Write(bytes.Repeat([]byte("x"), 2000))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	c, err := New(Options{Server: srv.URL + "/", Token: "alk_t", MaxAnswer: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	var out struct {
		Auth, Type string
		Body       map[string]int
	}
	if err := c.Do(ctx, "POST", "/echo", map[string]int{"n": 1}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Auth != "Bearer alk_t" || out.Type != "application/json" || out.Body["n"] != 1 {
		t.Errorf("sent %+v", out)
	}
	out.Body = nil
	if err := c.DoAs(ctx, "", "GET", "/echo", nil, &out); err != nil || out.Auth != "" || out.Type != "" || out.Body != nil {
		t.Errorf("DoAs without a bearer and a body: %+v %v", out, err)
	}
	if err := c.Do(ctx, "DELETE", "/empty", nil, &out); err != nil {
		t.Errorf("204: %v", err)
	}

	tests := []struct {
		path, msg string
		status    int
		code      string
		refused   bool
	}{
		{"/refuse", "this needs the admin role", 403, "forbidden", true},
		{"/busy", "slow down", 429, "limit", false},
		{"/proxy", "GET /proxy: 502 Bad Gateway", 502, "", false},
	}
	for _, tt := range tests {
		err := c.Do(ctx, "GET", tt.path, nil, nil)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v is not an *Error", tt.path, err)
		}
		if e.Error() != tt.msg || e.Status != tt.status || e.Code != tt.code || IsRefused(err) != tt.refused || StatusOf(err) != tt.status {
			t.Errorf("%s: %q status %d code %q refused %v", tt.path, e.Error(), e.Status, e.Code, IsRefused(err))
		}
	}
	if err := c.Do(ctx, "GET", "/big", nil, nil); err == nil || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Errorf("an answer over MaxAnswer: %v", err)
	}
	if StatusOf(errors.New("x")) != 0 || IsRefused(nil) {
		t.Error("StatusOf/IsRefused of a non-api error")
	}
}

func orNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// TestStreamCutOff: an export the server breaks off midway is an error,
// so a short file never passes for a whole one.
func TestStreamCutOff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":"unauthorized","message":"sign in"}`)
			return
		}
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "line 1\n")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	}))
	defer srv.Close()
	c, _ := New(Options{Server: srv.URL})
	var got bytes.Buffer
	err := c.Stream(context.Background(), "/export", &got)
	if err == nil || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("Stream of a cut answer: %v (got %q)", err, got.String())
	}
	if err := c.Stream(context.Background(), "/refuse", &got); StatusOf(err) != 401 || err.Error() != "sign in" {
		t.Fatalf("Stream refused: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, u := range []string{"", "airlock:8443", "ftp://x"} {
		if _, err := New(Options{Server: u}); err == nil {
			t.Errorf("New(%q): no error", u)
		}
	}
}

func TestUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, _ := New(Options{Server: "http://" + addr})
	err := c.Do(context.Background(), "GET", "/api/v1/me", nil, nil)
	if err == nil || StatusOf(err) != 0 || !strings.Contains(err.Error(), "GET /api/v1/me") {
		t.Fatalf("unreachable server: %v", err)
	}
}
