package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/airlock-rbi/airlock/internal/airlock"
	"github.com/airlock-rbi/airlock/internal/auth"
)

// Join token bounds. A token is a bearer secret that mints trust-zone
// certificates, so it lives an hour and enrolls one node unless the admin
// asks for more, and never lives longer than a day.
const (
	DefaultJoinTTL      = time.Hour
	MaxJoinTTL          = 24 * time.Hour
	DefaultJoinUses     = 1
	MaxJoinUses         = 1000
	DefaultJoinCapacity = 20
	maxNodeCapacity     = 10000
)

type createJoinTokenRequest struct {
	// TTL is a Go duration ("1h"); empty: DefaultJoinTTL.
	TTL string `json:"ttl,omitempty"`
	// Uses is how many nodes may enroll with it; 0: DefaultJoinUses.
	Uses int `json:"uses,omitempty"`
	// Capacity caps the capacity an enrolled node may advertise; 0:
	// DefaultJoinCapacity.
	Capacity int `json:"capacity,omitempty"`
	// Isolation lists the levels an enrolled node may advertise; empty:
	// standard only.
	Isolation []string `json:"isolation,omitempty"`
}

type joinTokenView struct {
	ID        string    `json:"id"`
	Token     string    `json:"token,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Uses      int       `json:"uses"`
	UsesLeft  int       `json:"uses_left"`
	Capacity  int       `json:"capacity"`
	Isolation []string  `json:"isolation"`
	// State is active, expired or used.
	State string `json:"state"`
}

func viewJoinToken(t *airlock.JoinToken, now time.Time) joinTokenView {
	v := joinTokenView{ID: t.ID, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		Uses: t.Uses, UsesLeft: t.UsesLeft, Capacity: t.MaxCapacity, Isolation: isolationNames(t.Isolation), State: "active"}
	switch {
	case t.UsesLeft == 0:
		v.State = "used"
	case t.Expired(now):
		v.State = "expired"
	}
	return v
}

func isolationNames(levels []airlock.Isolation) []string {
	out := make([]string, 0, len(levels))
	for _, i := range levels {
		out = append(out, string(i))
	}
	return out
}

// parseJoinTokenRequest applies the defaults and refuses what is out of
// bounds.
func parseJoinTokenRequest(req createJoinTokenRequest) (ttl time.Duration, uses, capacity int, iso []airlock.Isolation, err error) {
	ttl = DefaultJoinTTL
	if req.TTL != "" {
		d, perr := time.ParseDuration(req.TTL)
		if perr != nil || d < time.Second || d > MaxJoinTTL {
			return 0, 0, 0, nil, airlock.Errorf(airlock.EINVALID, "ttl %q must be a duration between 1s and %s, such as 1h", req.TTL, fmtDuration(MaxJoinTTL))
		}
		ttl = d
	}
	uses = cmpOr(req.Uses, DefaultJoinUses)
	if uses < 1 || uses > MaxJoinUses {
		return 0, 0, 0, nil, airlock.Errorf(airlock.EINVALID, "uses %d must be between 1 and %d", req.Uses, MaxJoinUses)
	}
	capacity = cmpOr(req.Capacity, DefaultJoinCapacity)
	if capacity < 1 || capacity > maxNodeCapacity {
		return 0, 0, 0, nil, airlock.Errorf(airlock.EINVALID, "capacity %d must be between 1 and %d", req.Capacity, maxNodeCapacity)
	}
	if len(req.Isolation) == 0 {
		req.Isolation = []string{string(airlock.IsolationStandard)}
	}
	for _, name := range req.Isolation {
		i := airlock.Isolation(name)
		if !i.Valid() {
			return 0, 0, 0, nil, airlock.Errorf(airlock.EINVALID, "isolation %q is not one of standard, hardened, sandboxed", name)
		}
		if !slices.Contains(iso, i) {
			iso = append(iso, i)
		}
	}
	return ttl, uses, capacity, iso, nil
}

// cmpOr is v, or def when v is zero. Negative values stay, to be refused.
func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// fmtDuration prints whole hours as "24h" rather than "24h0m0s".
func fmtDuration(d time.Duration) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

// createJoinToken makes a join token for provision nodes. The secret is
// shown once, here; the store keeps its hash.
func (s *Server) createJoinToken(w http.ResponseWriter, r *http.Request) error {
	if s.ca == nil {
		return errNoCA
	}
	var req createJoinTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ttl, uses, capacity, iso, err := parseJoinTokenRequest(req)
	if err != nil {
		return err
	}
	jt, err := auth.NewJoinToken(s.ca.Fingerprint())
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := s.clock.now()
	who := callerOf(ctx).User.Name
	t := &airlock.JoinToken{ID: newID()[:16], SecretHash: jt.SecretHash(), CreatedBy: who, CreatedAt: now,
		ExpiresAt: now.Add(ttl), Uses: uses, MaxCapacity: capacity, Isolation: iso}
	if err := s.store.CreateJoinToken(ctx, t); err != nil {
		return err
	}
	s.audit(ctx, who, "node.join-token.create", t.ID, fmt.Sprintf("ttl=%s uses=%d capacity=%d isolation=%s",
		ttl, uses, capacity, strings.Join(isolationNames(iso), ",")))
	v := viewJoinToken(t, now)
	v.Token = jt.String()
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) listJoinTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.store.ListJoinTokens(r.Context())
	if err != nil {
		return err
	}
	now := s.clock.now()
	out := make([]joinTokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, viewJoinToken(t, now))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deleteJoinToken revokes a join token; nodes enrolled with it stay.
func (s *Server) deleteJoinToken(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if err := s.store.DeleteJoinToken(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, callerOf(ctx).User.Name, "node.join-token.delete", id, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var errBadJoin = airlock.Errorf(airlock.EUNAUTHORIZED,
	"join token is not valid (unknown, revoked or from another deployment); create a new one with airlock server join-token")

// joinRefusal says why t cannot enroll a node at now, or nil if it can.
func joinRefusal(t *airlock.JoinToken, now time.Time) error {
	if t.UsesLeft < 1 {
		return airlock.Errorf(airlock.EUNAUTHORIZED, "join token %s has already been used (it allowed %s); create a new one with airlock server join-token (--uses N for several nodes)",
			t.ID, plural(t.Uses, "enrollment"))
	}
	if t.Expired(now) {
		return airlock.Errorf(airlock.EUNAUTHORIZED, "join token %s expired at %s; create a new one with airlock server join-token",
			t.ID, t.ExpiresAt.Format(time.RFC3339))
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// withinCaps refuses a node that advertises more than its token allows.
func withinCaps(t *airlock.JoinToken, n *airlock.Node) error {
	if n.Capacity > t.MaxCapacity {
		return airlock.Errorf(airlock.EFORBIDDEN, "capacity %d is above this join token's cap of %d; start the node with --capacity %d or less, or create a token with airlock server join-token --capacity %d",
			n.Capacity, t.MaxCapacity, t.MaxCapacity, n.Capacity)
	}
	allowed := strings.Join(isolationNames(t.Isolation), ",")
	for _, i := range n.Isolation {
		if !t.Allows(i) {
			return airlock.Errorf(airlock.EFORBIDDEN, "isolation %s is not allowed by this join token, which allows %s; create a token with airlock server join-token --isolation %s,%s",
				i, allowed, allowed, i)
		}
	}
	return nil
}
