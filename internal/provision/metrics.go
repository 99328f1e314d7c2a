package provision

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
)

type metrics struct {
	allowed  *prometheus.CounterVec
	refused  *prometheus.CounterVec
	errors   prometheus.Counter
	upstream *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		allowed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_provision_allowed_total", Help: "Docker API calls the policy allowed, by operation.",
		}, []string{"op"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_provision_refused_total", Help: "Docker API calls the policy refused, by rule.",
		}, []string{"rule"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "airlock_provision_upstream_errors_total", Help: "Calls that failed because dockerd could not be reached.",
		}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "airlock_provision_upstream_seconds",
			Help:    "Time from forwarding a call to dockerd until its response headers, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.allowed, m.refused, m.errors, m.upstream)
	}
	return m
}

// timedTransport observes the upstream latency of each forwarded call.
type timedTransport struct {
	next http.RoundTripper
	m    *metrics
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	if d, ok := r.Context().Value(ctxKey{}).(*dockerpolicy.Decision); ok && err == nil {
		t.m.upstream.WithLabelValues(d.Op).Observe(time.Since(start).Seconds())
	}
	return resp, err
}
