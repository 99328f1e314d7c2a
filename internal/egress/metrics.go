package egress

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's and the resolver's collectors. NewProxy and
// NewDNS each build one and register it on Options.Registerer; when both
// use the same Registerer, the second registration finds the collectors the
// first registered (prometheus.AlreadyRegisteredError) and uses those, so
// the two count into the same airlock_egress_refused_total.
type metrics struct {
	refused       *prometheus.CounterVec // by reason
	connections   *prometheus.CounterVec // by kind: connect, http
	open          prometheus.Gauge
	upstreamError *prometheus.CounterVec // by stage: resolve, dial, request
	dnsQueries    *prometheus.CounterVec // by qtype, rcode
}

// Labels of airlock_egress_connections_total.
const (
	kindConnect = "connect" // a CONNECT tunnel
	kindHTTP    = "http"    // a plain-HTTP request forwarded
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_egress_refused_total",
			Help: "Destinations the egress proxy or the session resolver refused, by reason.",
		}, []string{"reason"}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_egress_connections_total",
			Help: "Connections the egress proxy made to an allowed destination, by kind (connect: a tunnel, http: a forwarded plain-HTTP request).",
		}, []string{"kind"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "airlock_egress_connections_open",
			Help: "Upstream connections the egress proxy holds open now.",
		}),
		upstreamError: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_egress_upstream_errors_total",
			Help: "Allowed destinations the egress proxy could not reach, by stage (resolve: the lookup failed, dial: no checked address answered, request: a plain-HTTP exchange failed).",
		}, []string{"stage"}),
		dnsQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "airlock_egress_dns_queries_total",
			Help: "Queries the session resolver answered, by query type (A, AAAA, other) and response code.",
		}, []string{"qtype", "rcode"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.refused, err = register(reg, m.refused); err != nil {
		return nil, err
	}
	if m.connections, err = register(reg, m.connections); err != nil {
		return nil, err
	}
	if m.open, err = register(reg, m.open); err != nil {
		return nil, err
	}
	if m.upstreamError, err = register(reg, m.upstreamError); err != nil {
		return nil, err
	}
	if m.dnsQueries, err = register(reg, m.dnsQueries); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector of the same description
// already registered (by the proxy or resolver built before).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("egress metrics: %w", err)
}
