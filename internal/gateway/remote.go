package gateway

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// RemoteOptions configure a Remote.
type RemoteOptions struct {
	// TLS is the client side of the internal zone's mutual TLS: the
	// gateway's certificate and the deployment CA. Nil for a plain-HTTP
	// upstream, which only a benchmark or a test has.
	TLS *tls.Config
	// MaxIdleConns bounds the kept-alive connections to the service
	// (default 256).
	MaxIdleConns int
	// Logger gets the upstream's failures.
	Logger *slog.Logger
}

// Remote is a service in another process, reached at base. The request
// goes on with the verified identity in the Airlock-Identity header and
// the client's address in X-Forwarded-For (both set here, never passed
// through from the client); WebSocket upgrades are relayed both ways.
func Remote(base string, o RemoteOptions) (http.Handler, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("service URL %q: %w", base, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("service URL %q: want https://host:port", base)
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 256
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// It adds no Accept-Encoding of its own (a gzip it would then undo
	// for the client): a request reaches the service as the client sent
	// it.
	tr := &http.Transport{
		TLSClientConfig:     o.TLS,
		MaxIdleConns:        o.MaxIdleConns,
		MaxIdleConnsPerHost: o.MaxIdleConns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   false,
		DisableCompression:  true,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// The client's Host reaches the service: the portal's
			// Content-Security-Policy names it.
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Del(IdentityHeader)
			if id := IdentityFrom(pr.In.Context()); id != nil {
				pr.Out.Header.Set(IdentityHeader, encodeIdentity(id))
			}
			setClient(pr.Out.Header, pr.In)
		},
		Transport:  tr,
		BufferPool: newBufferPool(),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("service unreachable", "service", u.Host, "path", r.URL.Path, "err", err)
			writeRefusal(w, &Refusal{Status: http.StatusBadGateway, Code: "unavailable", Message: "the service behind this route did not answer; retry shortly"})
		},
	}, nil
}

// bufferPool lends the proxy its copy buffers: without one it allocates
// 32 KiB for every response. It holds them as array pointers, which a
// slice converts to and from without an allocation.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufferSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufferSize]byte)[:] }

func (b *bufferPool) Put(v []byte) {
	if cap(v) >= copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(v[:copyBufferSize]))
	}
}
