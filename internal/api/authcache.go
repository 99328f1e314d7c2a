package api

import (
	"crypto/subtle"
	"sync"
	"time"

	"github.com/airlock-rbi/airlock/internal/auth"
)

// authCache keeps credentials the api verified for a few seconds, so
// that a busy client is not two store reads per request (on SQLite, one
// connection serves the whole api). Only successes are kept, keyed by the
// token's ID and checked against its hash, so a guess is always checked
// against the store.
//
// Revocation stays immediate in this process: the api's revocations
// (sign-out, token revoke, user delete, password change) drop the entries
// they end. Another api process on the same database sees a revocation
// after at most ttl.
type authCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[string]*authEntry
}

type authEntry struct {
	hash  []byte
	c     caller
	until time.Time
	// touched is when the token's last use was last written.
	touched time.Time
}

func newAuthCache(ttl time.Duration, maxEntries int) *authCache {
	return &authCache{ttl: ttl, max: maxEntries, entries: map[string]*authEntry{}}
}

func cacheKey(tok auth.Token) string { return string(tok.Kind) + ":" + tok.ID }

// get is the caller a token verified as before, unless its entry is gone
// or stale. touch reports that the token's last use is due to be written.
func (a *authCache) get(tok auth.Token, now time.Time) (c *caller, touch bool) {
	if a == nil {
		return nil, false
	}
	h := tok.Hash()
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.entries[cacheKey(tok)]
	if !ok || subtle.ConstantTimeCompare(e.hash, h) != 1 {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(a.entries, cacheKey(tok))
		return nil, false
	}
	if !e.c.Web && now.Sub(e.touched) > timeLastUsedGranularity {
		e.touched, touch = now, true
	}
	return e.c.clone(), touch
}

// put keeps a verified caller until the credential expires or ttl passes.
func (a *authCache) put(tok auth.Token, c *caller, expires *time.Time, now time.Time) {
	if a == nil {
		return
	}
	until := now.Add(a.ttl)
	if expires != nil && expires.Before(until) {
		until = *expires
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) >= a.max {
		// Full: drop one. Map order is arbitrary, which is as good as
		// any order for entries this short-lived.
		for k := range a.entries {
			delete(a.entries, k)
			break
		}
	}
	a.entries[cacheKey(tok)] = &authEntry{hash: tok.Hash(), c: *c.clone(), until: until, touched: now}
}

// dropToken forgets a web session or API token, by ID.
func (a *authCache) dropToken(id string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.entries {
		if e.c.TokenID == id {
			delete(a.entries, k)
		}
	}
}

// dropUser forgets every credential of a user.
func (a *authCache) dropUser(id string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.entries {
		if e.c.User.ID == id {
			delete(a.entries, k)
		}
	}
}

// clone copies c and its user record: a handler may change the record it
// is given, and the cache's must stay as the store had it.
func (c caller) clone() *caller {
	u := *c.User
	c.User = &u
	return &c
}

// cachingRevoker drops the cache's entries for what it revokes, then
// tells the next revoker (the relay).
type cachingRevoker struct {
	cache *authCache
	next  Revoker
}

func (r cachingRevoker) RevokeSession(id string) { r.next.RevokeSession(id) }

func (r cachingRevoker) RevokeUser(id string) {
	r.cache.dropUser(id)
	r.next.RevokeUser(id)
}

func (r cachingRevoker) RevokeGrant(id string) {
	r.cache.dropToken(id)
	r.next.RevokeGrant(id)
}
