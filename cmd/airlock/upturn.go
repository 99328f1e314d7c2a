package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/airlock-rbi/airlock/internal/hostaddr"
	"github.com/airlock-rbi/airlock/internal/infra"
)

// airlock up runs STUN/TURN by default, so that a viewer behind a NAT
// (a laptop at home, the server elsewhere) reaches the session's
// container network through a relay on this host.
const (
	defaultTURNListen = ":3478"
	// turns: on 443 passes networks that let only HTTPS out; 5349 is the
	// standard turns: port, for a process that may not bind 443.
	defaultTURNTLS    = ":443"
	fallbackTURNTLS   = ":5349"
	turnListenOff     = "off"
	turnTLSListenFlag = "turn-tls-listen"
	turnListenFlag    = "turn-listen"
)

// upTURN fills in airlock up's TURN defaults where the operator set no
// flag: the advertised address is this host's outbound one, and turns:
// listens on :443 when this process can bind it, else :5349. set holds the
// flags given; listen is net.Listen (a test's stand-in probes binding).
// What was chosen, and why, is logged.
func upTURN(cfg *infra.Config, set map[string]bool, listen func(network, addr string) (net.Listener, error), log *slog.Logger) error {
	if cfg.TURNListen == turnListenOff {
		cfg.TURNListen = ""
	}
	if cfg.TURNListen == "" {
		cfg.TURNTLSListen = ""
		log.Info("TURN is off (--turn-listen empty): viewers behind a NAT cannot reach sessions")
		return nil
	}
	if cfg.TURNPublicIP == "" {
		a, err := hostaddr.Outbound()
		if err != nil {
			if set[turnListenFlag] {
				return fmt.Errorf("--turn-listen %s needs --turn-public-ip: %w", cfg.TURNListen, err)
			}
			cfg.TURNListen, cfg.TURNTLSListen = "", ""
			log.Warn("TURN is off: "+err.Error()+"; set --turn-public-ip to the address viewers reach this host by", "err", err)
			return nil
		}
		cfg.TURNPublicIP = a.String()
		log.Info("TURN advertises this host's outbound address; behind NAT set --turn-public-ip to the public one", "public_ip", cfg.TURNPublicIP)
	}
	if set[turnTLSListenFlag] {
		return nil
	}
	// Probed here and bound again by the server a moment later: a port
	// taken in between fails the start with the listener's error.
	var why []string
	for _, addr := range []string{defaultTURNTLS, fallbackTURNTLS} {
		l, err := listen("tcp4", addr)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", addr, err))
			continue
		}
		l.Close()
		cfg.TURNTLSListen = addr
		if len(why) > 0 {
			log.Warn("TURN over TLS (turns:) is on "+addr+", not "+defaultTURNTLS+", which networks that let only HTTPS out need: run as root or set --turn-tls-listen",
				"addr", addr, "reason", why[0])
		} else {
			log.Info("TURN over TLS (turns:) listening", "addr", addr)
		}
		return nil
	}
	log.Warn("TURN over TLS (turns:) is off: no port of "+defaultTURNTLS+" and "+fallbackTURNTLS+" could be bound; set --turn-tls-listen", "reason", fmt.Sprint(why))
	return nil
}
