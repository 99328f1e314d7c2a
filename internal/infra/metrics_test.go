package infra

import (
	"fmt"
	"github.com/airlock-rbi/airlock/internal/gateway"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	methodRE = regexp.MustCompile(`method="([^"]*)"`)
	routeRE  = regexp.MustCompile(`route="([^"]*)"`)
)

// TestMetricsLabelsBounded sends the server invented methods and paths
// before anyone signs in: /metrics must still hold only the fixed methods
// and route patterns, not one series per invention.
func TestMetricsLabelsBounded(t *testing.T) {
	ti := startInfra(t, gateway.Limits{})
	c := ti.client(true)
	base := "https://" + ti.addr
	for i := range 150 {
		paths := []string{fmt.Sprintf("/api/v1/invented%d", i), fmt.Sprintf("/page%d", i), fmt.Sprintf("/api/v1/workspaces/ws%d", i)}
		req, err := http.NewRequest(fmt.Sprintf("BREW%d", i), base+paths[i%3], nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for _, p := range []string{"/healthz", "/api/v1/me", "/"} {
		resp, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + ti.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	allowed := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true, "other": true}
	methods, routes, series := map[string]bool{}, map[string]bool{}, 0
	for line := range strings.SplitSeq(string(raw), "\n") {
		if !strings.HasPrefix(line, "airlock_http_requests_total{") {
			continue
		}
		series++
		if m := methodRE.FindStringSubmatch(line); m != nil {
			methods[m[1]] = true
		}
		if m := routeRE.FindStringSubmatch(line); m != nil {
			routes[m[1]] = true
		}
	}
	if series == 0 {
		t.Fatalf("no airlock_http_requests_total in /metrics:\n%s", raw)
	}
	for m := range methods {
		if !allowed[m] {
			t.Errorf("method label %q is outside the fixed set (%d method labels in all)", m, len(methods))
			break
		}
	}
	if !methods["other"] {
		t.Errorf("invented methods are not counted as \"other\" (%d method labels)", len(methods))
	}
	if len(routes) == 0 {
		t.Error("requests are not labelled by route")
	}
	for r := range routes {
		if strings.Contains(r, "invented") || strings.Contains(r, "page") || strings.Contains(r, "ws") {
			t.Errorf("route label %q is a raw path, not a pattern", r)
		}
	}
	if series > 20 {
		t.Errorf("%d request series after 150 invented requests; want a handful", series)
	}
}

// TestMetricsLifecycleRounds: the lifecycle rounds are timed in
// /metrics, by outcome.
func TestMetricsLifecycleRounds(t *testing.T) {
	ti := startInfra(t, gateway.Limits{})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + ti.metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if regexp.MustCompile(`(?m)^airlock_lifecycle_round_seconds_count\{outcome="(ok|error)"\} [1-9]`).Match(raw) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lifecycle round counted in /metrics:\n%s", raw)
		}
	}
}
