package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlock-rbi/airlock/bench/internal/stats"
)

type user struct{ name, password, token string }

// token signs in and returns a new API token.
func (s *server) token(ctx context.Context, c *http.Client, name, password string) (string, error) {
	var resp struct {
		Token string `json:"token"`
	}
	code, err := s.call(ctx, c, "POST", "/api/v1/auth/login", "", map[string]any{"user": name, "password": password, "token": true, "token_name": "bench"}, &resp)
	if err != nil || code != http.StatusOK || resp.Token == "" {
		return "", fmt.Errorf("sign in as %s: %d %v", name, code, err)
	}
	return resp.Token, nil
}

// phase is what the legitimate user saw in one phase: the latency of
// each answered request, and how many were refused, by status.
type phase struct {
	login, api         []time.Duration
	loginFail, apiFail map[int]int
	took               time.Duration
}

// measure signs u in o.n times, with o.api/o.n workspace listings after
// each, one request at a time.
func (s *server) measure(ctx context.Context, c *http.Client, u user, o options) (phase, error) {
	p := phase{loginFail: map[int]int{}, apiFail: map[int]int{}}
	start := time.Now()
	perLogin := max(o.api/o.n, 1)
	for i := range o.n {
		t0 := time.Now()
		code, err := s.call(ctx, c, "POST", "/api/v1/auth/login", "", map[string]any{"user": u.name, "password": u.password, "token": true, "token_name": "bench"}, nil)
		if err != nil {
			return p, fmt.Errorf("sign-in %d: %w", i, err)
		}
		if code == http.StatusOK {
			p.login = append(p.login, time.Since(t0))
		} else {
			p.loginFail[code]++
		}
		for range perLogin {
			t0 := time.Now()
			code, err := s.call(ctx, c, "GET", "/api/v1/workspaces", u.token, nil, nil)
			if err != nil {
				return p, fmt.Errorf("list workspaces: %w", err)
			}
			if code == http.StatusOK {
				p.api = append(p.api, time.Since(t0))
			} else {
				p.apiFail[code]++
			}
		}
	}
	p.took = time.Since(start)
	return p, nil
}

// attack is what the attacker's requests were answered.
type attack struct {
	byCode map[int]int64
	errs   int64
	took   time.Duration
}

// underAttack runs o.attackers bad sign-ins at a time while measuring.
func (s *server) underAttack(ctx context.Context, c *http.Client, u user, o options) (phase, attack, error) {
	actx, stop := context.WithCancel(ctx)
	defer stop()
	clients := make([]*http.Client, o.addrs)
	for i := range clients {
		clients[i] = s.client(fmt.Sprintf("127.0.1.%d", i+1), 0)
	}
	var mu sync.Mutex
	a := attack{byCode: map[int]int64{}}
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.attackers {
		cl := clients[i%len(clients)]
		wg.Go(func() {
			local := map[int]int64{}
			for actx.Err() == nil {
				code, err := s.call(actx, cl, "POST", "/api/v1/auth/login", "", map[string]any{"user": "guess-" + rand.Text()[:8], "password": "wrong-password"}, nil)
				if err != nil {
					if actx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				local[code]++
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range local {
				a.byCode[k] += v
			}
		})
	}
	// Let the attack fill the queues before the first measured request.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	p, err := s.measure(ctx, c, u, o)
	stop()
	wg.Wait()
	a.took = time.Since(start)
	a.errs = errs.Load()
	for _, cl := range clients {
		cl.CloseIdleConnections()
	}
	return p, a, err
}

func report(out io.Writer, o options, quiet, attacked phase, a attack, rssQuiet, rssPeak int64) string {
	q50, q90 := stats.MS(stats.Percentile(quiet.login, 50)), stats.MS(stats.Percentile(quiet.login, 90))
	a50, a90 := stats.MS(stats.Percentile(attacked.login, 50)), stats.MS(stats.Percentile(attacked.login, 90))
	qa50, qa90 := stats.MS(stats.Percentile(quiet.api, 50)), stats.MS(stats.Percentile(quiet.api, 90))
	aa50, aa90 := stats.MS(stats.Percentile(attacked.api, 50)), stats.MS(stats.Percentile(attacked.api, 90))
	var total int64
	for _, v := range a.byCode {
		total += v
	}
	fmt.Fprintf(out, "Legitimate use, quiet and under %d concurrent bad sign-ins from %d addresses (n=%d sign-ins, %d API requests a phase)\n",
		o.attackers, o.addrs, o.n, o.api)
	fmt.Fprintf(out, "  %-22s %10s %10s %10s %10s %8s\n", "", "quiet p50", "quiet p90", "attack p50", "attack p90", "ratio50")
	fmt.Fprintf(out, "  %-22s %10.3f %10.3f %10.3f %10.3f %8.2f   ms; refused quiet %v, under attack %v\n", "sign-in (token)", q50, q90, a50, a90, ratio(a50, q50), quiet.loginFail, attacked.loginFail)
	fmt.Fprintf(out, "  %-22s %10.3f %10.3f %10.3f %10.3f %8.2f   ms; refused quiet %v, under attack %v\n", "GET /api/v1/workspaces", qa50, qa90, aa50, aa90, ratio(aa50, qa50), quiet.apiFail, attacked.apiFail)
	fmt.Fprintf(out, "  attack: %d requests in %.1f s (%.0f/s), answered %s; %d transport errors\n",
		total, a.took.Seconds(), float64(total)/a.took.Seconds(), codes(a.byCode), a.errs)
	fmt.Fprintf(out, "  server peak RSS (VmHWM): %d MiB after the quiet phase, %d MiB after the attack\n", rssQuiet>>20, rssPeak>>20)
	return fmt.Sprintf("BENCH door attackers=%d addrs=%d n=%d login_quiet_p50_ms=%.3f login_attack_p50_ms=%.3f login_ratio_p50=%.2f login_refused_attack=%d api_quiet_p50_ms=%.3f api_attack_p50_ms=%.3f api_ratio_p50=%.2f attack_requests=%d attack_401=%d attack_429=%d attack_503=%d peak_rss_mib=%d",
		o.attackers, o.addrs, o.n, q50, a50, ratio(a50, q50), sum(attacked.loginFail), qa50, aa50, ratio(aa50, qa50),
		total, a.byCode[401], a.byCode[429], a.byCode[503], rssPeak>>20)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func codes(m map[int]int64) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d×%d", m[k], k)
	}
	return s
}
