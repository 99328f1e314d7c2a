package infra

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/api"
	"github.com/airlock-rbi/airlock/internal/turn"
)

// turnCredentialTTL: a browser keeps its TURN credentials for the life of
// a connection's ICE restarts.
const turnCredentialTTL = time.Hour

// startTURN runs the embedded STUN/TURN server when configured, with the
// shared secret of the data directory's turn-secret file (so every api
// process sharing it hands out credentials the one TURN server accepts),
// and returns the api's ICE function and a closer.
func startTURN(ctx context.Context, cfg Config, st airlock.Store, log *slog.Logger) (api.ICE, func(), error) {
	if cfg.TURNListen == "" {
		return nil, func() {}, nil
	}
	secret, err := readTURNSecret(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	ip := net.ParseIP(cfg.TURNPublicIP).To4()
	if ip == nil {
		return nil, nil, fmt.Errorf("--turn-public-ip %q must be the IPv4 address browsers reach this host by", cfg.TURNPublicIP)
	}
	host, portStr, err := net.SplitHostPort(cfg.TURNListen)
	if err != nil {
		return nil, nil, fmt.Errorf("--turn-listen %q: %w", cfg.TURNListen, err)
	}
	udp, err := net.ListenPacket("udp4", cfg.TURNListen)
	if err != nil {
		return nil, nil, fmt.Errorf("turn udp listener: %w", err)
	}
	tcp, err := net.Listen("tcp4", net.JoinHostPort(host, portStr))
	if err != nil {
		udp.Close()
		return nil, nil, fmt.Errorf("turn tcp listener: %w", err)
	}
	srv, err := turn.NewServer(turn.Config{Secret: secret, PublicIP: ip, Logger: log.With("component", "turn")}, udp, tcp)
	if err != nil {
		udp.Close()
		tcp.Close()
		return nil, nil, err
	}
	port, _ := strconv.Atoi(portStr)
	log.Info("turn listening", "addr", cfg.TURNListen, "public_ip", ip.String())
	ice := func(user string, now time.Time) []turn.ICEServer {
		return turn.ICEServers(ip.String(), port, secret, user, turnCredentialTTL, now)
	}
	return ice, func() { srv.Close() }, nil
}
