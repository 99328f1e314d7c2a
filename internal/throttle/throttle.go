// Package throttle slows down online password guessing at the infra
// server's sign-in: failed attempts are counted per client address (IPv6
// grouped by /64, since one host is routinely given a whole /64) and per
// account, and an attempt that comes too soon is refused with how long to
// wait, which the server answers as 429 with Retry-After.
//
// The two counters answer different attackers. Per address, a token
// bucket (golang.org/x/time/rate) lets a burst of failures through and
// then one every few seconds: one machine cannot guess fast, at any
// account. Per account, an exponential backoff after a few free failures,
// capped at about a minute and decaying while nobody fails: many machines
// cannot guess fast at one account, yet the throttle never locks the real
// user out for longer than the cap, and a success clears it.
//
// Both tables have a fixed maximum size and forget the least recently used
// entry, so invented addresses and user names cost bounded memory. Time is
// injected (Config.Now) so tests do not sleep.
package throttle

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Config tunes a Login. Zero values take the defaults named.
type Config struct {
	// AddrBurst is how many failed sign-ins an address may make in a row
	// (default 20), AddrEvery how often it earns one more (default 3s).
	AddrBurst int
	AddrEvery time.Duration
	// AddrInFlight is how many attempts of one address may be checked
	// or waiting to be checked at once (default 4): a person signs in
	// one attempt at a time, and a crowd from one address would only
	// queue in front of everyone else's.
	AddrInFlight int
	// AccountFree is how many failures an account takes before it is
	// slowed (default 5). After that each failure doubles the wait before
	// the next attempt, from AccountBase (default 1s) up to AccountMax
	// (default 1 min).
	AccountFree int
	AccountBase time.Duration
	AccountMax  time.Duration
	// AccountDecay: an account's failure count halves for each such period
	// without a failure (default 5 min).
	AccountDecay time.Duration
	// MaxEntries bounds each table, addresses and accounts (default 10000).
	MaxEntries int
	// Now defaults to the wall clock.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.AddrBurst <= 0 {
		c.AddrBurst = 20
	}
	if c.AddrEvery <= 0 {
		c.AddrEvery = 3 * time.Second
	}
	if c.AddrInFlight <= 0 {
		c.AddrInFlight = 4
	}
	if c.AccountFree <= 0 {
		c.AccountFree = 5
	}
	if c.AccountBase <= 0 {
		c.AccountBase = time.Second
	}
	if c.AccountMax <= 0 {
		c.AccountMax = time.Minute
	}
	if c.AccountDecay <= 0 {
		c.AccountDecay = 5 * time.Minute
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 10000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Login throttles sign-in attempts. It is safe for concurrent use.
type Login struct {
	cfg      Config
	mu       sync.Mutex
	addrs    *lru[*bucket]
	accounts *lru[*backoff]
}

// bucket is an address's failures: a token bucket that each failure takes
// one token from, and the attempts admitted but not yet ended, which may
// each still take one.
type bucket struct {
	lim     *rate.Limiter
	pending int
}

// New makes a Login.
func New(cfg Config) *Login {
	cfg.defaults()
	return &Login{cfg: cfg, addrs: newLRU[*bucket](cfg.MaxEntries), accounts: newLRU[*backoff](cfg.MaxEntries)}
}

// Refusal says why an attempt was refused and when to try again.
type Refusal struct {
	// RetryAfter is at least one second, in whole seconds, as the
	// Retry-After header carries it.
	RetryAfter time.Duration
	// Reason is safe to show the client.
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }

// Attempt is an admitted sign-in attempt; exactly one of its methods
// reports how it ended.
type Attempt struct {
	l       *Login
	addrKey string
	account string
	ended   bool
	clean   bool
}

// Clean reports whether the attempt's address had no failure left in its
// bucket when it was admitted (none in the last AddrBurst × AddrEvery, or
// fewer as they were refilled): such attempts are the ones to serve first
// when the server is busy, as a guessing client's address soon is not.
func (a *Attempt) Clean() bool { return a.clean }

// Begin admits an attempt from addr for account, or refuses it. Attempts
// in flight count against the address as if they would fail, so a crowd
// of concurrent guesses cannot all slip in before the first one fails; a
// success costs nothing.
func (l *Login) Begin(addr netip.Addr, account string) (*Attempt, *Refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	key := AddrKey(addr)
	b := l.bucket(key)
	if short := float64(b.pending+1) - b.lim.TokensAt(now); short > 0 {
		return nil, refusal(time.Duration(short*float64(l.cfg.AddrEvery)), "too many failed sign-ins from your address")
	}
	if b.pending >= l.cfg.AddrInFlight {
		return nil, refusal(time.Second, fmt.Sprintf("your address already has %d sign-ins being checked", b.pending))
	}
	acc := l.accounts.get(account, func() *backoff { return &backoff{} })
	acc.decay(now, l.cfg.AccountDecay)
	if now.Before(acc.next) {
		return nil, refusal(acc.next.Sub(now), "too many failed sign-ins for this account")
	}
	if acc.failures >= l.cfg.AccountFree {
		// This attempt takes the window: the next one waits whatever
		// this one's outcome, so concurrent guesses cannot share it.
		acc.next = now.Add(l.delay(acc.failures))
	}
	clean := b.lim.TokensAt(now) >= float64(l.cfg.AddrBurst)
	b.pending++
	return &Attempt{l: l, addrKey: key, account: account, clean: clean}, nil
}

// bucket is the address key's bucket, made full if it is new (or was
// evicted).
func (l *Login) bucket(key string) *bucket {
	return l.addrs.get(key, func() *bucket {
		return &bucket{lim: rate.NewLimiter(rate.Every(l.cfg.AddrEvery), l.cfg.AddrBurst)}
	})
}

// end takes the attempt off its address's pending count, once.
func (a *Attempt) end() *bucket {
	b := a.l.bucket(a.addrKey)
	if !a.ended && b.pending > 0 {
		b.pending--
	}
	a.ended = true
	return b
}

// Failed records a wrong password (or an unknown account).
func (a *Attempt) Failed() {
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	// ReserveN, not AllowN: a failure always costs its token, running the
	// bucket into debt if other failures emptied it meanwhile.
	a.end().lim.ReserveN(now, 1)
	acc := l.accounts.get(a.account, func() *backoff { return &backoff{} })
	acc.decay(now, l.cfg.AccountDecay)
	acc.failures++
	acc.last = now
	if acc.failures >= l.cfg.AccountFree {
		if next := now.Add(l.delay(acc.failures)); next.After(acc.next) {
			acc.next = next
		}
	}
}

// Succeeded records a correct password: the account's backoff is cleared
// and the attempt does not count against the address.
func (a *Attempt) Succeeded() {
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	a.end()
	l.accounts.delete(a.account)
}

// Abandon records an attempt whose password was never checked because
// the server was too busy. It costs the address a token, as a failure
// does: a client whose attempts keep the server that busy is the one to
// slow down, and without the cost a crowd of them would hold the hash
// queue for ever, retrying. The account is not charged: nothing was
// learnt about its password.
func (a *Attempt) Abandon() {
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	a.end().lim.ReserveN(l.cfg.Now(), 1)
}

// delay is the wait after n failures of an account, n >= AccountFree.
func (l *Login) delay(n int) time.Duration {
	shift := n - l.cfg.AccountFree
	if shift >= 32 {
		return l.cfg.AccountMax
	}
	return min(l.cfg.AccountBase<<shift, l.cfg.AccountMax)
}

// Len is the number of addresses and accounts remembered.
func (l *Login) Len() (addrs, accounts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addrs.len(), l.accounts.len()
}

// backoff is an account's failure count.
type backoff struct {
	failures int
	last     time.Time // of the last failure, or of the last decay step
	next     time.Time // no attempt before
}

// decay halves the count for each whole period since the last failure.
func (b *backoff) decay(now time.Time, period time.Duration) {
	if b.failures == 0 || !now.After(b.last) {
		return
	}
	steps := int64(now.Sub(b.last) / period)
	if steps <= 0 {
		return
	}
	if steps >= 32 {
		b.failures = 0
	} else {
		b.failures >>= steps
	}
	b.last = b.last.Add(time.Duration(steps) * period)
}

func refusal(d time.Duration, why string) *Refusal {
	secs := (d + time.Second - 1) / time.Second
	retry := max(secs, 1) * time.Second
	return &Refusal{RetryAfter: retry, Reason: fmt.Sprintf("%s; retry in %d s", why, retry/time.Second)}
}

// AddrKey is the key a client address is counted under: an IPv4 address
// (also when written IPv4-mapped) as itself, an IPv6 address by its /64,
// and an invalid one under a single shared key.
func AddrKey(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return "invalid"
	case addr.Is4():
		return addr.String()
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return "invalid"
	}
	return p.String()
}
