package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

// Subprotocol is the signal relay's WebSocket subprotocol.
const Subprotocol = "airlock.signal.v1"

// ICEServer is one STUN/TURN server as the api gives it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ConnectInfo is the api's answer to the agent's connect call.
type ConnectInfo struct {
	Token      string      `json:"token"`
	SignalURL  string      `json:"signal_url"`
	ExpiresAt  int64       `json:"expires_at"`
	ICEServers []ICEServer `json:"ice_servers"`
}

// SignalConfig says how the agent reaches the relay.
type SignalConfig struct {
	// Connect asks the api for a fresh relay token; an error wrapping
	// ErrGone ends Signal (the session is over).
	Connect func(ctx context.Context) (ConnectInfo, error)
	// HTTPClient dials the relay (its TLS config trusts the deployment CA).
	HTTPClient *http.Client
}

// ErrGone is what Connect returns when the session no longer exists.
var ErrGone = errors.New("session is gone")

// sigMsg is a relay message, either direction.
type sigMsg struct {
	Type      string          `json:"type"`
	SDP       string          `json:"sdp,omitempty"`
	Candidate json.RawMessage `json:"candidate,omitempty"`
	Role      string          `json:"role,omitempty"`
	Message   string          `json:"message,omitempty"`
}

// Signal keeps the agent connected to the relay and answers viewers'
// offers until ctx ends. A closed connection (the token expired, the api
// restarted) is reopened with a fresh token; a viewer's stream is not
// interrupted by that.
func (s *Streamer) Signal(ctx context.Context, cfg SignalConfig) error {
	backoff := 200 * time.Millisecond
	for {
		start := time.Now()
		err := s.signalOnce(ctx, cfg)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrGone) {
			return err
		}
		if time.Since(start) > 30*time.Second {
			backoff = 200 * time.Millisecond
		}
		s.log.Info("signal connection ended; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (s *Streamer) signalOnce(ctx context.Context, cfg SignalConfig) error {
	info, err := cfg.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	u, err := url.Parse(info.SignalURL)
	if err != nil {
		return fmt.Errorf("signal URL %q: %w", info.SignalURL, err)
	}
	q := u.Query()
	q.Set("token", info.Token)
	u.RawQuery = q.Encode()
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	ws, _, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{HTTPClient: cfg.HTTPClient, Subprotocols: []string{Subprotocol}})
	cancel()
	if err != nil {
		return fmt.Errorf("dial relay %s: %w", info.SignalURL, err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 20)
	ice := make([]webrtc.ICEServer, 0, len(info.ICEServers))
	for _, is := range info.ICEServers {
		ice = append(ice, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	write := func(m sigMsg) {
		b, err := json.Marshal(m)
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = ws.Write(wctx, websocket.MessageText, b)
			cancel()
		}
		if err != nil {
			s.log.Debug("signal write", "type", m.Type, "err", err)
		}
	}
	s.log.Info("connected to the signal relay")
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("read relay: %w", err)
		}
		var m sigMsg
		if err := json.Unmarshal(data, &m); err != nil {
			s.log.Warn("relay sent a message that is not JSON", "err", err)
			continue
		}
		switch m.Type {
		case "offer":
			answer, err := s.Offer(m.SDP, ice, func(c Candidate) {
				raw, _ := json.Marshal(c) // nil marshals as null: end of candidates
				write(sigMsg{Type: "candidate", Candidate: raw})
			})
			if err != nil {
				s.log.Warn("viewer offer refused", "err", err)
				write(sigMsg{Type: "control", Message: "offer refused: " + err.Error()})
				continue
			}
			write(sigMsg{Type: "answer", SDP: answer})
		case "candidate":
			var c *webrtc.ICECandidateInit
			if err := json.Unmarshal(m.Candidate, &c); err != nil {
				s.log.Warn("viewer candidate", "err", err)
				continue
			}
			if err := s.AddCandidate(c); err != nil {
				s.log.Debug("viewer candidate", "err", err)
			}
		case "viewer-joined", "peer-left", "pong", "ping":
			// A viewer's signal connection comes and goes (its token
			// expires every few minutes) while its media flows on; the
			// peer connection's own state says when the viewer is gone.
		case "error":
			s.log.Warn("relay error", "message", m.Message)
		}
	}
}
