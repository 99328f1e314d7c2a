package oidc

import (
	"testing"

	"github.com/airlock-rbi/airlock/internal/oidc/oidctest"
)

// The tests log in through a real Hydra (oidctest). Its front publishes
// the test's own signing key beside Hydra's, so tokens the test signs
// (another issuer, a key not in the set) arrive through the real flow.

// redirectURL is the callback registered for the test clients. Nothing
// listens there: the test's browser stops at the redirect to it.
const (
	redirectURL   = "https://airlock.test/api/v1/auth/oidc/callback"
	postLogoutURL = "https://airlock.test/logged-out"
)

type (
	behaviour   = oidctest.Behaviour
	browser     = oidctest.Browser
	hydraClient = oidctest.Client
)

// hydra is a running Hydra and the test's signing key, published in its
// key set.
type hydra struct {
	*oidctest.Hydra
	key *testKey
}

func startHydra(t *testing.T) *hydra {
	t.Helper()
	h := &hydra{Hydra: oidctest.Start(t), key: newTestKey(t, "airlock-test")}
	h.AddJWK(h.key.jwk())
	return h
}

func (h *hydra) newClient(t *testing.T, b *behaviour, public bool) hydraClient {
	t.Helper()
	return h.NewClient(t, b, public, redirectURL, postLogoutURL)
}

func (h *hydra) newBrowser(t *testing.T) *browser { return h.NewBrowser(t) }

func (h *hydra) setTamper(clientID string, f func(string) string) { h.SetTamper(clientID, f) }
