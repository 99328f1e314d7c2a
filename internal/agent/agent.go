// Package agent is what runs inside every session container: it registers
// with the infra server using the one-time token the container was started
// with, receives a short-lived credential of its own, keeps it fresh with
// heartbeats, and, as PID 1, reaps orphaned processes and stops cleanly on
// SIGTERM.
//
// The agent ships in the same binary as the server but must never reach
// the store or the CA's key: it talks to the api over HTTPS only, and its
// imports are checked by deps_test.go.
package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/airlock-rbi/airlock/internal/apiclient"
	"github.com/airlock-rbi/airlock/internal/peerid"
	"github.com/airlock-rbi/airlock/internal/stream"
)

// Env names the container's environment variables the agent reads.
const (
	EnvServer      = "AIRLOCK_SERVER"         // https URL of the api as seen from the container
	EnvToken       = "AIRLOCK_REGISTER_TOKEN" // the one-time registration token
	EnvCA          = "AIRLOCK_CA_PEM"         // the deployment CA certificate, PEM
	EnvSession     = "AIRLOCK_SESSION"        // the session's ID
	EnvDesktop     = "AIRLOCK_DESKTOP"        // the app to run on a display and stream ("chromium"); unset: none
	EnvStartURL    = "AIRLOCK_START_URL"      // where the app starts
	EnvKeptHome    = "AIRLOCK_KEPT_HOME"      // the app's home on a volume that outlives a stop (a session kept at expiry)
	EnvClip        = "AIRLOCK_CLIPBOARD"      // the workspace's clipboard policy
	EnvCodec       = "AIRLOCK_CODEC"          // vp8 (default) or h264
	EnvProxy       = "AIRLOCK_PROXY"          // a hardened session's egress proxy, http://HOST:PORT (set by the launcher from the node)
	EnvMode        = "AIRLOCK_MODE"           // browser (default: tabs, address bar) or kiosk (the start page alone)
	EnvScale       = "AIRLOCK_SCALE"          // Chromium's device scale factor, 1 (default) to 4: the viewer's devicePixelRatio as the server allowed it
	EnvDownloadMax = "AIRLOCK_DOWNLOAD_MAX"   // the largest download in bytes; unset or 0: downloads off
	EnvUploadMax   = "AIRLOCK_UPLOAD_MAX"     // the largest upload in bytes; unset or 0: uploads off
	EnvAudio       = "AIRLOCK_AUDIO"          // on (default) or off: the page's sound to the viewer
)

// Config configures an Agent.
type Config struct {
	// Server is the api's base URL, e.g. https://host.docker.internal:8443.
	Server string
	// Session is the session's ID; RegisterToken is its one-time token.
	Session       string
	RegisterToken string
	// CAPEM is the deployment CA; the server's certificate must chain to it.
	CAPEM []byte
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Transport overrides the HTTP transport (tests); CAPEM is then unused.
	Transport http.RoundTripper
	// Desktop, when set, runs a display and an app and streams them to
	// the session's viewer once registered.
	Desktop *DesktopConfig
	// Children is shared with the reaper (see Reap); default: a new set.
	Children *Children
	// RegisterWithin bounds how long registration retries a server that
	// does not answer. Past it the agent gives up and says why as its
	// last words, so the session fails in seconds with the reason
	// instead of after the server's registration timeout. Default 15s.
	RegisterWithin time.Duration
}

// Agent is one container's agent.
type Agent struct {
	cfg  Config
	api  *apiclient.Client
	tr   http.RoundTripper
	log  *slog.Logger
	cred atomic.Pointer[string] // the current credential, once registered
	// streamer is the desktop's, once it runs: heartbeats report its
	// viewer and input.
	streamer atomic.Pointer[stream.Streamer]
}

// activity is this heartbeat's report: a viewer connected, and how long
// ago the last input came.
func (a *Agent) activity() apiclient.AgentActivity {
	s := a.streamer.Load()
	if s == nil {
		return apiclient.AgentActivity{}
	}
	viewer, idle, ok := s.Activity()
	h := apiclient.AgentActivity{Viewer: viewer}
	if ok {
		ms := idle.Milliseconds()
		h.InputIdleMS = &ms
	}
	return h
}

// New checks cfg and builds an Agent.
func New(cfg Config) (*Agent, error) {
	if cfg.Server == "" || cfg.RegisterToken == "" || cfg.Session == "" {
		return nil, fmt.Errorf("agent: %s, %s and %s must be set", EnvServer, EnvSession, EnvToken)
	}
	if !strings.HasPrefix(cfg.Server, "https://") {
		return nil, fmt.Errorf("agent: %s %q must be an https URL", EnvServer, cfg.Server)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	tr := cfg.Transport
	if tr == nil {
		tc, err := serverTLS(cfg)
		if err != nil {
			return nil, err
		}
		tr = &http.Transport{TLSClientConfig: tc}
	}
	if cfg.Children == nil {
		cfg.Children = NewChildren()
	}
	if cfg.RegisterWithin <= 0 {
		cfg.RegisterWithin = 15 * time.Second
	}
	api, err := apiclient.New(apiclient.Options{Server: cfg.Server, Transport: tr, Timeout: 15 * time.Second, MaxAnswer: 64 << 10})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &Agent{cfg: cfg, api: api, tr: tr, log: cfg.Logger}, nil
}

// serverTLS accepts only the infra server's own certificate: one of the
// deployment CA with role infra, valid for the server's host. The CA alone
// would let any certificate of the deployment (a node's, another
// session's agent's) pose as the server and collect the agent's token.
func serverTLS(cfg Config) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.CAPEM) {
		return nil, fmt.Errorf("agent: %s holds no PEM certificate", EnvCA)
	}
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("agent: %s %q has no host", EnvServer, cfg.Server)
	}
	return peerid.Rule{Roots: pool, Role: peerid.RoleInfra, Host: u.Hostname(),
		Client: "an agent", Server: "the infra server"}.ClientConfig(), nil
}

// Registration is the server's answer to a registration, heartbeat or
// claim (see apiclient.AgentRegistration).
type Registration = apiclient.AgentRegistration

// ErrRefused is a definitive refusal by the server: retrying cannot help.
var ErrRefused = errors.New("refused by the server")

// Run registers, then sends heartbeats until ctx ends. It returns nil when
// ctx ends, or an error when the server refuses the agent for good.
func (a *Agent) Run(ctx context.Context) error {
	reg, err := a.register(ctx)
	if err != nil {
		return err
	}
	a.log.Info("registered", "session", reg.SessionID, "warm", reg.Warm)
	a.cred.Store(&reg.Credential)
	// A pool's session starts its desktop now (display, app, encoder),
	// so that the user it is handed to sees it at once, but reaches for
	// no viewer until then.
	var bound chan Registration
	if reg.Warm {
		bound = make(chan Registration, 1)
	}
	desktopErr := make(chan error, 1)
	if a.cfg.Desktop != nil {
		dctx, stop := context.WithCancel(ctx)
		desktopDone := make(chan struct{})
		go func() {
			defer close(desktopDone)
			desktopErr <- a.runDesktop(dctx, *a.cfg.Desktop, bound)
		}()
		// The agent returns once the desktop has (asked to stop, or
		// refused by the server): the app saves its state on the way
		// out, and the container ends with its first process.
		defer func() {
			stop()
			<-desktopDone
		}()
	}
	if reg.Warm {
		claimed := make(chan error, 1)
		go func() {
			var err error
			reg, err = a.claim(ctx, reg)
			claimed <- err
		}()
		select {
		case <-ctx.Done():
			return nil
		case err := <-desktopErr:
			return desktopEnded(ctx, err)
		case err := <-claimed:
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
		}
		bound <- reg
	}
	// The first heartbeat goes at once: it tells the server this agent
	// holds its credential, which closes the window in which the
	// registration token may be used again (for an answer that was lost).
	first := true
	for {
		every := time.Duration(reg.HeartbeatSeconds) * time.Second
		if every <= 0 {
			every = 10 * time.Second
		}
		if first {
			every, first = 0, false
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-desktopErr:
			return desktopEnded(ctx, err)
		case <-time.After(every):
		}
		next, err := fresh(a.api.AgentHeartbeat(ctx, reg.Credential, a.activity()))
		switch {
		case errors.Is(err, ErrRefused):
			return fmt.Errorf("heartbeat: %w", err)
		case err != nil:
			// A missed heartbeat is not fatal: the server decides when a
			// session is lost, and the credential is still valid for a while.
			a.log.Warn("heartbeat failed", "err", err)
		default:
			reg = next
			a.cred.Store(&reg.Credential)
		}
	}
}

// desktopEnded is Run's end when the desktop returned err: none when
// the agent is stopping anyway.
func desktopEnded(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("desktop: %w", err)
}

// claim waits for a warm session's hand-out: each call is a long poll
// the server answers when the session is handed out, or unbound after a
// while, and counts as a heartbeat. A failed call is retried; a refusal
// is final. It returns the bound answer, whose credential replaces the
// warm one.
func (a *Agent) claim(ctx context.Context, reg Registration) (Registration, error) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		next, err := fresh(a.api.ClaimSession(ctx, reg.Credential))
		switch {
		case errors.Is(err, ErrRefused):
			return reg, fmt.Errorf("claim: %w", err)
		case err != nil:
			if ctx.Err() != nil {
				return reg, nil
			}
			a.log.Warn("claim failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		reg = next
		a.cred.Store(&reg.Credential)
		if reg.Bound {
			a.log.Info("handed out", "session", reg.SessionID)
			return reg, nil
		}
	}
	return reg, nil
}

// register retries transient failures with backoff, for RegisterWithin:
// the container may start before its network or the server is reachable.
// A server that still does not answer then is unreachable from here (a
// loopback listener, a firewall, a wrong URL), and waiting longer only
// hides that. A certificate the agent cannot trust is final at once.
func (a *Agent) register(ctx context.Context) (Registration, error) {
	backoff := 100 * time.Millisecond
	deadline := time.Now().Add(a.cfg.RegisterWithin)
	for {
		reg, err := a.registerOnce(ctx)
		if err == nil {
			return reg, nil
		}
		if errors.Is(err, ErrRefused) {
			return Registration{}, fmt.Errorf("register with %s: %w", a.cfg.Server, err)
		}
		if untrusted(err) {
			return Registration{}, fmt.Errorf("register with %s: the server's certificate is not trusted: %w", a.cfg.Server, err)
		}
		wait := backoff + rand.N(backoff/2)
		if time.Now().Add(wait).After(deadline) {
			return Registration{}, fmt.Errorf("register with %s: no answer within %s: %w", a.cfg.Server, a.cfg.RegisterWithin, err)
		}
		a.log.Warn("register failed; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return Registration{}, fmt.Errorf("register: %w", ctx.Err())
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// untrusted reports whether err is the TLS handshake refusing the
// server's certificate: retrying cannot change the certificate.
func untrusted(err error) bool {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}

// registerOnce is one registration, with the session's one-time token.
func (a *Agent) registerOnce(ctx context.Context) (Registration, error) {
	return fresh(a.api.RegisterAgent(ctx, a.cfg.Session, a.cfg.RegisterToken))
}

// fresh checks the answer of a call that hands out a fresh credential:
// one without is an error, and a refusal for good wraps ErrRefused.
func fresh(reg *Registration, err error) (Registration, error) {
	if err != nil {
		return Registration{}, refused(err)
	}
	if reg.Credential == "" {
		return *reg, errors.New("the api's answer has no credential")
	}
	return *reg, nil
}

// refused wraps ErrRefused around a refusal for good (4xx but 429).
func refused(err error) error {
	if apiclient.IsRefused(err) {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}
