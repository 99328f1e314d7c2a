package gateway

import (
	"crypto/tls"
	"log"
	"net/http"
	"time"
)

// Limits bound what one client can hold of the public listener. Zero
// values take the defaults named.
type Limits struct {
	// ReadHeaderTimeout: a request's headers must arrive within it
	// (default 10s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends nothing
	// (default 2 min).
	IdleTimeout time.Duration
	// BodyTimeout: a request, headers and body, must have arrived within
	// it (default 30s): http.Server.ReadTimeout. It does not cut off what
	// is meant to last: net/http lifts the deadline once the request is
	// read (a long-poll runs on) and when a WebSocket takes the
	// connection over (the signalling relay keeps itself alive with pings).
	BodyTimeout time.Duration
	// MaxBodyBytes bounds a request body (default 2 MiB; the api's own
	// limit is 1 MiB, a sign-in's 16 KiB).
	MaxBodyBytes int64
	// MaxHeaderBytes bounds a request's headers (default 64 KiB).
	MaxHeaderBytes int
	// HTTP2MaxStreams is how many requests one HTTP/2 connection may have
	// in flight (default 32; Go's own default is 250).
	HTTP2MaxStreams int
}

func (d *Limits) defaults() {
	if d.ReadHeaderTimeout <= 0 {
		d.ReadHeaderTimeout = 10 * time.Second
	}
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = 2 * time.Minute
	}
	if d.BodyTimeout <= 0 {
		d.BodyTimeout = 30 * time.Second
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 2 << 20
	}
	if d.MaxHeaderBytes <= 0 {
		d.MaxHeaderBytes = 64 << 10
	}
	if d.HTTP2MaxStreams <= 0 {
		d.HTTP2MaxStreams = 32
	}
}

// NewServer is the http.Server of a public listener serving h with d's
// limits (h is usually a Gateway, whose own body limit is the same).
func NewServer(h http.Handler, tlsCfg *tls.Config, errorLog *log.Logger, d Limits) *http.Server {
	d.defaults()
	return &http.Server{
		Handler:           limitBodies(h, d.MaxBodyBytes),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: d.ReadHeaderTimeout,
		ReadTimeout:       d.BodyTimeout,
		IdleTimeout:       d.IdleTimeout,
		MaxHeaderBytes:    d.MaxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: d.HTTP2MaxStreams},
		ErrorLog:          errorLog,
	}
}

// limitBodies puts a size limit on every request body, so that nothing a
// handler reads can exceed it whatever the handler's own limit.
func limitBodies(h http.Handler, maxBytes int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
		}
		h.ServeHTTP(w, r)
	})
}
