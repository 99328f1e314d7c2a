package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
)

// Proxy is the HTTP forward proxy a hardened session reaches the network
// through (what Chromium's --proxy-server=http://host:port speaks): CONNECT
// tunnels and absolute-URI plain-HTTP requests. For every request it finds
// the session by the client's source address, checks the name before
// resolving it, resolves it once, checks every address and connects only
// to one that passed; nothing after the check resolves the name again, so
// a DNS answer that changes between check and connect (rebinding) cannot
// redirect it.
type Proxy struct {
	o Options
	m *metrics

	mu    sync.Mutex
	conns map[string]int // upstream connections held, by session ID
}

// NewProxy builds a proxy; see Options for the defaults.
func NewProxy(o Options) (*Proxy, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Proxy{o: o, m: m, conns: map[string]int{}}, nil
}

// Serve answers proxy requests on ln until ctx ends, then closes ln and
// every connection (tunnels included) and returns nil once every request
// has finished. It returns an error if ln fails.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	// Requests and tunnels run in serveCtx, which ends with ctx or when ln
	// fails, so that nothing outlives Serve.
	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// handlers counts requests being served; once closed is set no new
	// one starts, so Wait cannot race an Add.
	var (
		mu       sync.Mutex
		closed   bool
		handlers sync.WaitGroup
	)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if closed {
				mu.Unlock()
				http.Error(w, "airlock egress proxy is shutting down", http.StatusServiceUnavailable)
				return
			}
			handlers.Add(1)
			mu.Unlock()
			defer handlers.Done()
			p.serveHTTP(w, r)
		}),
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return serveCtx },
		ErrorLog:          slog.NewLogLogger(p.o.Logger.Handler(), slog.LevelDebug),
		// HTTP/2 is not offered: the proxy speaks HTTP/1.1 in clear text,
		// and an empty TLSNextProto keeps it that way.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	stop := context.AfterFunc(serveCtx, func() { srv.Close() })
	defer stop()
	err := srv.Serve(ln)
	// Close ends the connections the server still holds; tunnels are
	// hijacked, so it does not reach them: they end with serveCtx, as do
	// requests in flight, whose contexts derive from it.
	cancel()
	srv.Close()
	mu.Lock()
	closed = true
	mu.Unlock()
	handlers.Wait()
	if ctx.Err() != nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("egress proxy: serving %s: %w", ln.Addr(), err)
}

// request is one proxy request as it is logged.
type request struct {
	session string
	src     netip.Addr
	method  string
	dest    string
}

func (p *Proxy) serveHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	src := netip.Addr{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		src = ap.Addr().Unmap()
	}
	req := request{src: src, method: r.Method, dest: r.RequestURI}
	sess, ref := lookup(ctx, p.o.Sessions, src)
	req.session = sess.ID
	if ref != nil {
		p.refuse(w, req, ref)
		return
	}
	t, ref := parseTarget(r.Method, r.RequestURI)
	if ref != nil {
		p.refuse(w, req, ref)
		return
	}
	req.dest = t.String()
	if ref := sess.Policy.CheckName(t.host, t.port); ref != nil {
		p.refuse(w, req, ref)
		return
	}
	if !p.acquire(sess.ID) {
		p.refuse(w, req, refuse(ReasonTooMany, "session %s already holds %d connections through the egress proxy, the most it may", sess.ID, p.o.MaxConnsPerSession))
		return
	}
	defer p.release(sess.ID)

	addrs, ref, err := p.resolve(ctx, sess.Policy, t)
	if ref != nil {
		p.refuse(w, req, ref)
		return
	}
	if err != nil {
		p.m.upstreamError.WithLabelValues("resolve").Inc()
		p.fail(w, req, http.StatusBadGateway, err)
		return
	}
	upstream, checked, err := p.dial(ctx, addrs)
	if err != nil {
		p.m.upstreamError.WithLabelValues("dial").Inc()
		p.fail(w, req, http.StatusBadGateway, err)
		return
	}
	p.m.open.Inc()
	defer p.m.open.Dec()
	p.o.Logger.Debug("egress: connected", "session", sess.ID, "src", src, "method", r.Method, "destination", req.dest, "addr", checked)
	if r.Method == "CONNECT" {
		p.m.connections.WithLabelValues(kindConnect).Inc()
		p.tunnel(ctx, w, req, upstream)
		return
	}
	p.m.connections.WithLabelValues(kindHTTP).Inc()
	p.forward(ctx, w, r, req, upstream)
}

// resolve returns the addresses of t the policy allows, in the order the
// resolver gave them, looking the name up exactly once; when it allows
// none, the refusal of the first.
func (p *Proxy) resolve(ctx context.Context, pol *Policy, t target) ([]netip.AddrPort, *Refusal, error) {
	var addrs []netip.Addr
	if t.addr.IsValid() {
		addrs = []netip.Addr{t.addr}
	} else {
		rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
		defer cancel()
		var err error
		addrs, err = p.o.Resolver.LookupNetIP(rctx, "ip", t.host)
		if err != nil {
			return nil, nil, fmt.Errorf("resolving %s: %w", t.host, err)
		}
		if len(addrs) == 0 {
			return nil, nil, fmt.Errorf("resolving %s: no addresses", t.host)
		}
	}
	var allowed []netip.AddrPort
	var first *Refusal
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if ref := pol.CheckAddr(a, t.port); ref != nil {
			if first == nil {
				first = ref
			}
			continue
		}
		allowed = append(allowed, netip.AddrPortFrom(a, t.port))
	}
	if len(allowed) == 0 {
		if !t.addr.IsValid() {
			first = refuse(first.Reason, "%s resolves only to addresses the egress policy refuses: %s", t, first.Message)
		}
		return nil, first, nil
	}
	return allowed, nil, nil
}

// dial connects to the first of addrs (all of them checked) that answers.
func (p *Proxy) dial(ctx context.Context, addrs []netip.AddrPort) (net.Conn, netip.AddrPort, error) {
	var errs []error
	for _, a := range addrs {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		c, err := p.o.Dial(dctx, "tcp", a)
		cancel()
		if err == nil {
			return c, a, nil
		}
		errs = append(errs, fmt.Errorf("connecting to %s: %w", a, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, netip.AddrPort{}, errors.Join(errs...)
}

func (p *Proxy) acquire(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[id] >= p.o.MaxConnsPerSession {
		return false
	}
	p.conns[id]++
	return true
}

func (p *Proxy) release(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[id]--; p.conns[id] <= 0 {
		delete(p.conns, id)
	}
}

// refuse answers a refused request: 400 for a malformed one, 403 for the
// rest, with the refusal in a plain-text body and in X-Airlock-Egress-Reason.
func (p *Proxy) refuse(w http.ResponseWriter, req request, ref *Refusal) {
	p.m.refused.WithLabelValues(ref.Reason).Inc()
	level := slog.LevelInfo
	if ref.Reason == ReasonUnknownSession || ref.Reason == ReasonInvalidPolicy || ref.Reason == ReasonTooMany {
		level = slog.LevelWarn // the node or the session misbehaves, not a page
	}
	p.o.Logger.Log(context.Background(), level, "egress: refused", "session", req.session, "src", req.src, "method", req.method, "destination", req.dest, "reason", ref.Reason, "detail", ref.Message)
	p.o.OnRefused(airlock.NodeEvent{Time: time.Now(), Action: airlock.NodeEgressRefused, Target: req.dest, Session: req.session,
		Client: addrString(req.src), Detail: fmt.Sprintf("%s %s: %s (%s)", req.method, req.dest, ref.Message, ref.Reason)})
	code := http.StatusForbidden
	if ref.Reason == ReasonBadRequest {
		code = http.StatusBadRequest
	}
	w.Header().Set("X-Airlock-Egress-Reason", ref.Reason)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Connection", "close")
	w.WriteHeader(code)
	fmt.Fprintf(w, "airlock egress proxy refused %s %s: %s (%s)\n", req.method, req.dest, ref.Message, ref.Reason)
}

// fail answers an allowed request the proxy could not carry out.
func (p *Proxy) fail(w http.ResponseWriter, req request, code int, err error) {
	p.o.Logger.Info("egress: upstream failed", "session", req.session, "src", req.src, "method", req.method, "destination", req.dest, "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintf(w, "airlock egress proxy could not reach %s: %v\n", req.dest, err)
}

// tunnel answers a CONNECT with 200 and copies bytes both ways until
// either side ends or ctx does.
func (p *Proxy) tunnel(ctx context.Context, w http.ResponseWriter, req request, upstream net.Conn) {
	defer upstream.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		p.fail(w, req, http.StatusInternalServerError, errors.New("the connection cannot be taken over for a tunnel"))
		return
	}
	client, brw, err := hj.Hijack()
	if err != nil {
		p.o.Logger.Info("egress: hijack failed", "session", req.session, "destination", req.dest, "err", err)
		return
	}
	defer client.Close()
	// The deadline the server set for reading the header must not cut the
	// tunnel short.
	_ = client.SetDeadline(time.Time{})
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() {
		client.Close()
		upstream.Close()
	})
	defer stop()
	done := make(chan struct{}, 2)
	go func() {
		// Bytes the client sent after its CONNECT (a TLS ClientHello sent
		// eagerly) are in brw's buffer.
		_, _ = io.Copy(upstream, io.MultiReader(io.LimitReader(brw.Reader, int64(brw.Reader.Buffered())), client))
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, upstream)
		done <- struct{}{}
	}()
	<-done
	// One side ended: close both, which ends the other copy.
	client.Close()
	upstream.Close()
	<-done
}

// hopHeaders are the hop-by-hop headers (RFC 9110 7.6.1), which a proxy
// does not forward.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, f := range h.Values("Connection") {
		for name := range strings.SplitSeq(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// forward sends a plain-HTTP request over upstream, the connection to the
// checked address, and copies the response back. The transport's dial
// ignores the address it is given and hands out upstream once, so the
// request cannot reach any other address; keep-alives are off, so the
// connection ends with the request.
func (p *Proxy) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, req request, upstream net.Conn) {
	var once sync.Once
	used := errors.New("the checked connection was already used")
	dialed := false
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			var c net.Conn
			once.Do(func() { c, dialed = upstream, true })
			if c == nil {
				return nil, used
			}
			return c, nil
		},
		DisableKeepAlives:      true,
		DisableCompression:     true, // forward the body as the server sent it
		ResponseHeaderTimeout:  60 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
	}
	defer tr.CloseIdleConnections()
	defer func() {
		if !dialed {
			upstream.Close()
		}
	}()

	out := r.Clone(ctx)
	out.RequestURI = ""
	out.URL.User = nil
	removeHopHeaders(out.Header)
	if r.ContentLength == 0 {
		out.Body = nil
	}
	out.Close = true
	resp, err := tr.RoundTrip(out)
	if err != nil {
		p.m.upstreamError.WithLabelValues("request").Inc()
		p.fail(w, req, http.StatusBadGateway, err)
		return
	}
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush() // a streamed response reaches the page as it comes
		}
		if err != nil {
			return
		}
	}
}
