package turn

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// pendingTTL bounds how long a quota slot granted to an Allocate request
// waits for its allocation: pion creates it right after asking, in the
// same request, so anything older was a request that failed.
const pendingTTL = 10 * time.Second

// alloc is one allocation as Airlock knows it.
type alloc struct {
	session, user string
	relayPort     int
	closing       bool // its session ended; the relay socket is being closed
}

type pending struct {
	session, user string
	at            time.Time
}

// tracker keeps the allocations by client, counts them per user and per
// session for the quotas, and holds each relay socket so the allocations
// of an ended session can be closed: pion has no call to delete one, but
// closing its relay socket makes pion delete it.
type tracker struct {
	maxUser, maxSession int

	// mu guards the fields below.
	mu         sync.Mutex
	byClient   map[string]*alloc // clientKey → allocation
	pending    map[string]pending
	perUser    map[string]int
	perSession map[string]int
	relays     map[int]*relayConn // relay port → socket
}

func newTracker(maxUser, maxSession int) *tracker {
	return &tracker{
		maxUser: maxUser, maxSession: maxSession,
		byClient: map[string]*alloc{}, pending: map[string]pending{},
		perUser: map[string]int{}, perSession: map[string]int{}, relays: map[int]*relayConn{},
	}
}

// clientKey names a client's transport address. The network is part of
// it: a UDP and a TCP client may share an address and port.
func clientKey(a net.Addr) string { return a.Network() + "/" + a.String() }

// reserve takes a quota slot for an Allocate from client, or says which
// quota is full.
func (t *tracker) reserve(client, session, user string, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, client) // a client has one request at a time
	nUser, nSession := t.perUser[user], t.perSession[session]
	for k, p := range t.pending {
		if now.Sub(p.at) > pendingTTL {
			delete(t.pending, k)
			continue
		}
		if p.user == user {
			nUser++
		}
		if p.session == session {
			nSession++
		}
	}
	switch {
	case nUser >= t.maxUser:
		return fmt.Errorf("user %s already has %d allocations, the most a user may hold", user, nUser)
	case nSession >= t.maxSession:
		return fmt.Errorf("session %s already has %d allocations, the most a session may hold", session, nSession)
	}
	t.pending[client] = pending{session: session, user: user, at: now}
	return nil
}

// unreserve drops client's slot: its request failed.
func (t *tracker) unreserve(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, client)
}

// created records an allocation pion made for client.
func (t *tracker) created(client string, u restUser, relay net.Addr) {
	port := 0
	if ua, ok := relay.(*net.UDPAddr); ok {
		port = ua.Port
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, client)
	if old := t.byClient[client]; old != nil {
		t.forgetLocked(old) // pion refuses duplicates; stay consistent anyway
	}
	t.byClient[client] = &alloc{session: u.Session, user: u.User, relayPort: port}
	t.perUser[u.User]++
	t.perSession[u.Session]++
}

// deleted forgets client's allocation.
func (t *tracker) deleted(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.byClient[client]; a != nil {
		delete(t.byClient, client)
		t.forgetLocked(a)
	}
}

func (t *tracker) forgetLocked(a *alloc) {
	if t.perUser[a.user]--; t.perUser[a.user] <= 0 {
		delete(t.perUser, a.user)
	}
	if t.perSession[a.session]--; t.perSession[a.session] <= 0 {
		delete(t.perSession, a.session)
	}
}

// lookup returns a copy of client's allocation.
func (t *tracker) lookup(client string) (alloc, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.byClient[client]
	if a == nil {
		return alloc{}, false
	}
	return *a, true
}

// sessions lists the sessions holding allocations.
func (t *tracker) sessions() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.perSession))
	for s := range t.perSession {
		out = append(out, s)
	}
	return out
}

// closeSession marks the allocations of session closing and returns their
// relay sockets, for the caller to close outside the lock.
func (t *tracker) closeSession(session string) []*relayConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*relayConn
	for _, a := range t.byClient {
		if a.session != session {
			continue
		}
		a.closing = true
		if rc := t.relays[a.relayPort]; rc != nil {
			out = append(out, rc)
		}
	}
	return out
}

func (t *tracker) addRelay(port int, rc *relayConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.relays[port] = rc
}

func (t *tracker) removeRelay(port int, rc *relayConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.relays[port] == rc {
		delete(t.relays, port)
	}
}
