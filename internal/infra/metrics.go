package infra

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// rounds times the lifecycle rounds, by outcome (ok or error).
	rounds *prometheus.HistogramVec
}

func newMetrics(st airlock.Store) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_http_requests_total", Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "airlock_http_request_seconds", Help: "HTTP request latency, by method and route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
		rounds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "airlock_lifecycle_round_seconds", Help: "Lifecycle rounds (liveness, expiry, pools, reconciliation), by outcome: ok, or error (logged).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.rounds, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if st != nil {
		// The sessions are counted where the store is: the api.
		m.reg.MustRegister(&sessionCollector{st: st})
	}
	return m
}

// round records a lifecycle round of d that ended with err.
func (m *metrics) round(d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.rounds.WithLabelValues(outcome).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// observe counts one answered request (gateway.Config.Observe).
func (m *metrics) observe(r *http.Request, code int, took time.Duration) {
	method, route := methodLabel(r.Method), routeLabel(r.Pattern)
	m.requests.WithLabelValues(method, route, codeLabel(code)).Inc()
	m.latency.WithLabelValues(method, route).Observe(took.Seconds())
}

// Labels come only from fixed sets: every distinct value is a series kept
// for the life of the process, and these are written before anyone is
// authenticated, so a raw method or path would let any client grow
// /metrics (and the server's memory) without bound.

// methodLabel is the method, or "other" for any method outside the
// standard ones the server answers.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// routeLabel is the pattern of the route that served the request (the
// innermost mux sets http.Request.Pattern on it as it dispatches), without
// its method, which has a label of its own; "unmatched" when no pattern
// matched. Patterns are written in the code, so they are a fixed set.
func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return strings.TrimLeft(path, " \t")
	}
	return pattern
}

// codeLabel is the status code; a handler can only write 100-999, but
// anything outside that is still folded into one value.
func codeLabel(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	return strconv.Itoa(code)
}

// sessionCollector reports sessions by state from the store at scrape time.
type sessionCollector struct{ st airlock.Store }

var sessionsDesc = prometheus.NewDesc("airlock_sessions", "Sessions by state.", []string{"state"}, nil)

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- sessionsDesc }

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range airlock.ActiveStates {
		n, err := c.st.CountSessions(ctx, airlock.SessionFilter{States: []airlock.SessionState{s}})
		if err != nil {
			ch <- prometheus.NewInvalidMetric(sessionsDesc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(n), string(s))
	}
}
