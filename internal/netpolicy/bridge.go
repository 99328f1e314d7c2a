package netpolicy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Level is a session network's isolation level as the host rules see it.
type Level string

const (
	// Standard sessions may reach anything but the host, other sessions and
	// link-local addresses.
	Standard Level = "standard"
	// Hardened sessions reach only the node's egress proxy and resolver,
	// and the infra API and TURN.
	Hardened Level = "hardened"
	// Sandboxed sessions get the hardened rules; the runtime is the
	// provision policy's business.
	Sandboxed Level = "sandboxed"
)

// Bridge device names: a prefix the rules match on, then random hex,
// within Linux's 15-byte limit for interface names.
const (
	bridgeStandard = "als"
	bridgeHardened = "alh"
)

// ParseLevel checks a level name; empty is standard.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case "":
		return Standard, nil
	case Standard, Hardened, Sandboxed:
		return l, nil
	}
	return "", fmt.Errorf("isolation level %q is not one of standard, hardened, sandboxed", s)
}

// BridgeName returns a new, random bridge device name for a session
// network of level l.
func BridgeName(l Level) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("bridge name: %w", err)
	}
	prefix := bridgeStandard
	if l != Standard {
		prefix = bridgeHardened
	}
	return prefix + hex.EncodeToString(b[:]), nil
}

// IsSessionBridge reports whether a device name is a session bridge's:
// names the node's rules would treat as sessions' are the node's alone.
func IsSessionBridge(name string) bool {
	return strings.HasPrefix(name, bridgeStandard) || strings.HasPrefix(name, bridgeHardened)
}
