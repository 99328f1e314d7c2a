package throttle

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTest(cfg Config) (*Login, *clock) {
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = c.Now
	return New(cfg), c
}

// addr is the n-th address of 10.0.0.0/8, so tests can spread attempts
// over addresses and see the account's limit alone.
func addr(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

// fail makes one failed attempt and reports whether it was admitted.
func fail(l *Login, a netip.Addr, account string) *Refusal {
	at, ref := l.Begin(a, account)
	if ref != nil {
		return ref
	}
	at.Failed()
	return nil
}

func TestAddressBucket(t *testing.T) {
	l, clk := newTest(Config{AddrBurst: 20, AddrEvery: 3 * time.Second})
	a := addr(1)
	for i := range 20 {
		if ref := fail(l, a, fmt.Sprintf("user%d", i)); ref != nil {
			t.Fatalf("failure %d refused: %s", i+1, ref.Reason)
		}
	}
	ref := fail(l, a, "another")
	if ref == nil {
		t.Fatal("the 21st failure in a row from one address was admitted")
	}
	if ref.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %s; want 3s (one token every 3s)", ref.RetryAfter)
	}
	if ref := fail(l, addr(2), "another"); ref != nil {
		t.Errorf("another address was refused: %s", ref.Reason)
	}
	clk.Advance(3 * time.Second)
	if ref := fail(l, a, "another"); ref != nil {
		t.Errorf("refused after the bucket refilled one: %s", ref.Reason)
	}
	if ref := fail(l, a, "another"); ref == nil {
		t.Error("a second attempt was admitted on a single refilled token")
	}
}

// TestSuccessIsFree: a busy NAT's correct sign-ins do not use up the
// address's bucket; attempts the server was too busy to check do, but not
// the account's.
func TestSuccessIsFree(t *testing.T) {
	l, clk := newTest(Config{AddrBurst: 3, AddrEvery: time.Hour, AccountFree: 1})
	for i := range 50 {
		at, ref := l.Begin(addr(1), fmt.Sprintf("user%d", i))
		if ref != nil {
			t.Fatalf("attempt %d refused: %s", i+1, ref.Reason)
		}
		// The password check takes time; the refund must hold anyway.
		clk.Advance(300 * time.Millisecond)
		at.Succeeded()
	}
	for i := range 3 {
		at, ref := l.Begin(addr(1), "carol")
		if ref != nil {
			t.Fatalf("abandoned attempt %d refused: %s", i+1, ref.Reason)
		}
		at.Abandon()
	}
	if _, ref := l.Begin(addr(1), "dave"); ref == nil {
		t.Error("three abandoned attempts cost the address nothing")
	}
	if _, ref := l.Begin(addr(2), "carol"); ref != nil {
		t.Errorf("abandoned attempts were charged to the account: %s", ref.Reason)
	}
}

// TestAddrInFlight: one address cannot have more than AddrInFlight
// attempts open at once, even with tokens to spare.
func TestAddrInFlight(t *testing.T) {
	l, _ := newTest(Config{AddrBurst: 20, AddrInFlight: 4})
	var open []*Attempt
	for i := range 4 {
		at, ref := l.Begin(addr(1), fmt.Sprintf("u%d", i))
		if ref != nil {
			t.Fatalf("attempt %d refused: %s", i+1, ref.Reason)
		}
		open = append(open, at)
	}
	ref := func() *Refusal { _, r := l.Begin(addr(1), "u9"); return r }
	if r := ref(); r == nil || !strings.Contains(r.Reason, "being checked") {
		t.Fatalf("a fifth attempt in flight: %v", r)
	}
	open[0].Succeeded()
	if r := ref(); r != nil {
		t.Fatalf("refused once one ended: %s", r.Reason)
	}
}

func TestAccountBackoff(t *testing.T) {
	l, clk := newTest(Config{AccountFree: 5, AccountBase: time.Second, AccountMax: time.Minute})
	// Each guess from its own address: only the account's limit applies.
	n := 0
	guess := func() *Refusal { n++; return fail(l, addr(n), "admin") }
	for i := range 5 {
		if ref := guess(); ref != nil {
			t.Fatalf("free failure %d refused: %s", i+1, ref.Reason)
		}
	}
	for _, tc := range []struct {
		name string
		want time.Duration // the wait after the failures so far
	}{
		{"after 5", time.Second},
		{"after 6", 2 * time.Second},
		{"after 7", 4 * time.Second},
		{"after 8", 8 * time.Second},
		{"after 9", 16 * time.Second},
		{"after 10", 32 * time.Second},
		{"after 11, capped", time.Minute},
		{"after 12, capped", time.Minute},
	} {
		ref := guess()
		if ref == nil {
			t.Fatalf("%s: an attempt right away was admitted", tc.name)
		}
		if ref.RetryAfter != tc.want {
			t.Errorf("%s: RetryAfter = %s; want %s", tc.name, ref.RetryAfter, tc.want)
		}
		clk.Advance(ref.RetryAfter)
		if ref := guess(); ref != nil {
			t.Fatalf("%s: refused once the wait was over: %s", tc.name, ref.Reason)
		}
	}
	// The real user, after the cap, gets in and clears the backoff.
	clk.Advance(time.Minute)
	at, ref := l.Begin(addr(9999), "admin")
	if ref != nil {
		t.Fatalf("the real user was refused after the cap: %s", ref.Reason)
	}
	at.Succeeded()
	if ref := guess(); ref != nil {
		t.Errorf("refused right after a success: %s", ref.Reason)
	}
}

// TestAccountWindowIsShared: once an account is slowed, concurrent guesses
// do not all get through the same opening.
func TestAccountWindowIsShared(t *testing.T) {
	l, _ := newTest(Config{AccountFree: 2})
	for i := range 2 {
		if ref := fail(l, addr(i), "admin"); ref != nil {
			t.Fatal(ref.Reason)
		}
	}
	if _, ref := l.Begin(addr(10), "admin"); ref == nil {
		t.Fatal("admitted within the backoff")
	}
	l2, clk := newTest(Config{AccountFree: 2})
	for i := range 2 {
		fail(l2, addr(i), "admin")
	}
	clk.Advance(time.Second)
	if _, ref := l2.Begin(addr(10), "admin"); ref != nil {
		t.Fatalf("first attempt after the wait refused: %s", ref.Reason)
	}
	if _, ref := l2.Begin(addr(11), "admin"); ref == nil {
		t.Fatal("a second concurrent attempt shared the opening")
	}
}

func TestAccountDecay(t *testing.T) {
	l, clk := newTest(Config{AccountFree: 4, AccountDecay: 5 * time.Minute})
	for i := range 4 {
		fail(l, addr(i), "bob")
	}
	clk.Advance(5 * time.Minute)
	// 4 failures halved to 2: two more are free, the third is slowed.
	for i := range 2 {
		if ref := fail(l, addr(100+i), "bob"); ref != nil {
			t.Fatalf("free failure %d after the decay refused: %s", i+1, ref.Reason)
		}
	}
	if ref := fail(l, addr(200), "bob"); ref == nil {
		t.Fatal("the count did not come back after the decay")
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"fe80::1%eth0", "fe80::2%eth1", true},
		{"::1", "127.0.0.1", false},
	} {
		t.Run(tc.a+"/"+tc.b, func(t *testing.T) {
			ka, kb := AddrKey(netip.MustParseAddr(tc.a)), AddrKey(netip.MustParseAddr(tc.b))
			if (ka == kb) != tc.same {
				t.Fatalf("keys %q and %q: same = %v, want %v", ka, kb, ka == kb, tc.same)
			}
		})
	}
	if AddrKey(netip.Addr{}) != "invalid" {
		t.Fatal("the zero address has a key of its own")
	}
}

// TestTablesBounded: invented addresses and account names never grow the
// tables past MaxEntries, and the most recent entries are the ones kept.
func TestTablesBounded(t *testing.T) {
	l, _ := newTest(Config{MaxEntries: 100, AccountFree: 1})
	fail(l, addr(0), "admin")
	for i := range 5000 {
		fail(l, addr(i+1), fmt.Sprintf("user%d", i))
		if i%10 == 0 {
			// admin stays in use, so it is not the one evicted.
			fail(l, addr(0), "admin")
		}
	}
	if a, u := l.Len(); a > 100 || u > 100 {
		t.Fatalf("tables hold %d addresses and %d accounts; the bound is 100", a, u)
	}
	if _, ref := l.Begin(addr(7777), "admin"); ref == nil {
		t.Fatal("the account in use was evicted by invented names")
	}
}

func TestConcurrent(t *testing.T) {
	l, clk := newTest(Config{MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				at, ref := l.Begin(addr(g*1000+i%70), fmt.Sprintf("u%d", i%60))
				if ref != nil {
					continue
				}
				switch i % 3 {
				case 0:
					at.Failed()
				case 1:
					at.Succeeded()
				default:
					at.Abandon()
				}
				if i%100 == 0 {
					clk.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	if a, u := l.Len(); a > 50 || u > 50 {
		t.Fatalf("tables hold %d and %d entries; the bound is 50", a, u)
	}
}

// TestClean: an address is clean until it fails, and again once its bucket
// has refilled; a success does not make it unclean.
func TestClean(t *testing.T) {
	l, clk := newTest(Config{AddrBurst: 5, AddrEvery: time.Second})
	begin := func() *Attempt {
		at, ref := l.Begin(addr(1), "erin")
		if ref != nil {
			t.Fatal(ref.Reason)
		}
		return at
	}
	for _, tc := range []struct {
		name    string
		before  func()
		want    bool
		outcome func(*Attempt)
	}{
		{"new address", func() {}, true, (*Attempt).Succeeded},
		{"after a success", func() {}, true, (*Attempt).Failed},
		{"after a failure", func() {}, false, (*Attempt).Abandon},
		{"after a busy answer", func() { clk.Advance(time.Second) }, false, (*Attempt).Succeeded},
		{"refilled", func() { clk.Advance(time.Second) }, true, (*Attempt).Succeeded},
	} {
		tc.before()
		at := begin()
		if at.Clean() != tc.want {
			t.Errorf("%s: Clean() = %v, want %v", tc.name, at.Clean(), tc.want)
		}
		tc.outcome(at)
	}
}
