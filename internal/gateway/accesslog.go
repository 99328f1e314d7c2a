package gateway

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/http"
)

// logged writes one access-log record per request once it is answered:
// the route (the pattern, a bounded set) and the path without its query,
// which can hold a connect token; the caller when one was verified.
func (g *Gateway) logged(h http.Handler) http.Handler {
	log, observe := g.cfg.AccessLog, g.cfg.Observe
	if log == nil && observe == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := g.cfg.Now()
		note := &callerNote{}
		r = r.WithContext(withCallerNote(r.Context(), note))
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		took := g.cfg.Now().Sub(start)
		if observe != nil {
			observe(r, rec.status, took)
		}
		if log == nil {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", r.Pattern),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("ms", float64(took.Microseconds())/1000),
			slog.String("remote", r.RemoteAddr),
		}
		if note.id != nil {
			attrs = append(attrs, slog.String("user", note.id.UserName))
		}
		if rec.hijacked {
			attrs = append(attrs, slog.Bool("upgraded", true))
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

// recorder notes an answer's status and size. It keeps the writer's
// Hijack (WebSocket upgrades) and Flush (long-polls) working.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	hijacked    bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	r.wroteHeader = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("gateway: the connection cannot be taken over")
	}
	c, rw, err := hj.Hijack()
	if err == nil {
		r.hijacked = true
		r.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the connection's writer
// (deadlines, full duplex).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
