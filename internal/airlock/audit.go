package airlock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditEvent records who did what, with what outcome. Events form one
// hash chain (see ChainHash): each carries the hash of the one before it
// and its own, so a record changed, removed or inserted afterwards shows.
type AuditEvent struct {
	ID   int64
	Time time.Time
	// ActorKind is what Actor names; empty is derived from Actor by
	// ActorKindOf.
	ActorKind ActorKind
	Actor     string // user name, "node:<name>", "agent" or "system"
	Action    string // e.g. "session.create"
	Target    string // the object's ID or name
	// Outcome is success unless set; refusals are failures.
	Outcome AuditOutcome
	// Client is the caller's network address, where there is one.
	Client string
	// Session is the session the event concerns, if any.
	Session string
	Detail  string

	// ChainV is the version of the encoding Hash is over (AuditChainV1);
	// 0 marks an event written before the chain existed, which carries no
	// hashes. The store sets these three.
	ChainV   int
	PrevHash []byte
	Hash     []byte
}

// ActorKind is the kind of principal that acted.
type ActorKind string

// Actor kinds.
const (
	ActorUser      ActorKind = "user"
	ActorNode      ActorKind = "node"
	ActorAgent     ActorKind = "agent"
	ActorSystem    ActorKind = "system"
	ActorAnonymous ActorKind = "anonymous" // no credential, e.g. a failed sign-in
)

// Valid reports whether k is one of the actor kinds.
func (k ActorKind) Valid() bool {
	switch k {
	case ActorUser, ActorNode, ActorAgent, ActorSystem, ActorAnonymous:
		return true
	}
	return false
}

// ActorKindOf is the kind an actor name implies: "node:…" a node,
// "agent" an agent, "system" the system, "" anonymous, anything else a
// user.
func ActorKindOf(actor string) ActorKind {
	switch {
	case strings.HasPrefix(actor, "node:"):
		return ActorNode
	case actor == "agent":
		return ActorAgent
	case actor == "system":
		return ActorSystem
	case actor == "":
		return ActorAnonymous
	}
	return ActorUser
}

// AuditOutcome is whether the action was carried out.
type AuditOutcome string

// Outcomes.
const (
	OutcomeSuccess AuditOutcome = "success"
	OutcomeFailure AuditOutcome = "failure"
)

// Valid reports whether o is success or failure.
func (o AuditOutcome) Valid() bool { return o == OutcomeSuccess || o == OutcomeFailure }

// AuditChainV1 is the first, and so far only, chain encoding.
const AuditChainV1 = 1

// AuditTimeLayout is how an event's time is written in the chain
// encoding and in exports: UTC, always six fractional digits.
const AuditTimeLayout = "2006-01-02T15:04:05.000000Z"

// auditV1Tag starts every v1 hash input, so that no other SHA-256 input
// of Airlock's can be mistaken for an audit record's.
const auditV1Tag = "airlock-audit-v1\n"

// ChainHash is the hash of e under encoding v1, given the hash of the
// record before it (prev; 32 zero bytes for the first record of the
// chain):
//
//	SHA-256( "airlock-audit-v1\n"
//	         || field(id) || field(time) || field(actor_kind) || field(actor)
//	         || field(action) || field(target) || field(outcome)
//	         || field(client) || field(session) || field(detail)
//	         || prev )
//
// where field(s) is the length of s in bytes as a 4-byte big-endian
// unsigned integer followed by the bytes of s, id is the decimal ID with
// no sign or leading zeros, time is the UTC time in AuditTimeLayout
// ("2025-06-01T12:00:00.123456Z") and the others are the strings as
// stored and exported (UTF-8). prev is the 32 raw bytes, not hex. The
// JSON lines of an export carry each of these under the same names, with
// prev_hash and hash in lowercase hex, so any SHA-256 tool can recheck a
// chain.
func (e *AuditEvent) ChainHash(prev []byte) []byte {
	h := sha256.New()
	h.Write([]byte(auditV1Tag))
	var n [4]byte
	for _, f := range []string{
		strconv.FormatInt(e.ID, 10), e.Time.UTC().Format(AuditTimeLayout), string(e.ActorKind), e.Actor,
		e.Action, e.Target, string(e.Outcome), e.Client, e.Session, e.Detail,
	} {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	h.Write(prev)
	return h.Sum(nil)
}

// ZeroHash is the previous hash of the chain's first record.
var ZeroHash = make([]byte, sha256.Size)

// Normalize fills what an appender may leave out (a zero Time with now,
// the actor kind from the actor, success) and brings the time to the
// stored precision; it refuses an unknown kind or outcome and fields
// beyond their bounds, so what is hashed is what is stored.
func (e *AuditEvent) Normalize(now time.Time) error {
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	if e.ActorKind == "" {
		e.ActorKind = ActorKindOf(e.Actor)
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeSuccess
	}
	// An export is JSON, which carries only valid UTF-8: what is hashed
	// must be what an export shows.
	for _, f := range []*string{&e.Actor, &e.Action, &e.Target, &e.Client, &e.Session, &e.Detail} {
		*f = strings.ToValidUTF8(*f, "\uFFFD")
	}
	if !e.ActorKind.Valid() {
		return Errorf(EINVALID, "audit actor kind %q is not one of user, node, agent, system, anonymous", e.ActorKind)
	}
	if !e.Outcome.Valid() {
		return Errorf(EINVALID, "audit outcome %q is not success or failure", e.Outcome)
	}
	if e.Action == "" {
		return Errorf(EINVALID, "audit event has no action")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"actor", e.Actor, MaxAuditField}, {"action", e.Action, MaxAuditField}, {"target", e.Target, MaxAuditField},
		{"client", e.Client, MaxAuditField}, {"session", e.Session, MaxAuditField}, {"detail", e.Detail, MaxAuditDetail},
	} {
		if len(f.v) > f.max {
			return Errorf(EINVALID, "audit %s is %d bytes, more than %d", f.name, len(f.v), f.max)
		}
	}
	return nil
}

// Bounds of an audit event's fields, in bytes.
const (
	MaxAuditField  = 512
	MaxAuditDetail = 8192
)

// AuditFilter selects audit events. Zero fields select everything.
type AuditFilter struct {
	Actor string
	// Action is an exact action, or a prefix when it ends with "." or
	// ".*" ("session." and "session.*" select every session action).
	Action  string
	Target  string
	Outcome AuditOutcome
	// Since is inclusive, Until exclusive.
	Since, Until time.Time
	// Before selects events with smaller IDs (a listing's cursor: the
	// last ID of the page before); After those with larger ones.
	Before, After int64
	// Limit bounds a listing (at least 1); an export ignores it.
	Limit int
}

// ActionPrefix is the prefix f.Action selects by, and whether it is one.
func (f AuditFilter) ActionPrefix() (string, bool) {
	if p, ok := strings.CutSuffix(f.Action, ".*"); ok {
		return p + ".", true
	}
	return f.Action, strings.HasSuffix(f.Action, ".")
}

// Audit keeps the audit log: append-only, one hash chain.
type Audit interface {
	// AppendAudit normalizes the events, chains them after the last one
	// and stores them, setting their IDs and hashes: all of them or, on
	// any error, none (a node that sends a report again after a failure
	// does not record part of it twice). Appends from every process on
	// the database are serialized into the one chain.
	AppendAudit(ctx context.Context, events ...*AuditEvent) error
	// ListAudit returns the events f selects, newest first, at most
	// f.Limit.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// ExportAudit calls fn with each event f selects, oldest first,
	// reading a page at a time; fn's error stops it and is returned.
	ExportAudit(ctx context.Context, f AuditFilter, fn func(*AuditEvent) error) error
	// VerifyAudit walks the whole chain and reports the first break.
	VerifyAudit(ctx context.Context) (*AuditVerification, error)
}

// AuditVerification is what a walk of the chain found.
type AuditVerification struct {
	// Records is how many chained records were checked.
	Records int64 `json:"records"`
	// Unchained counts the records written before the chain existed (at
	// its start, with no hashes), which nothing vouches for.
	Unchained int64 `json:"unchained,omitempty"`
	// FirstID and LastID are the first and last chained records checked;
	// Head is the last one's hash: keep it, and a later walk whose chain
	// no longer passes through it shows the log was cut back.
	FirstID int64  `json:"first_id,omitempty"`
	LastID  int64  `json:"last_id,omitempty"`
	Head    string `json:"head,omitempty"`
	// Gaps counts jumps in the IDs a partial check let pass (a filtered
	// export).
	Gaps int64 `json:"gaps,omitempty"`
	// Broken is the first broken link; nil when the chain holds.
	Broken *AuditBreak `json:"broken,omitempty"`
}

// OK reports whether the chain held.
func (v *AuditVerification) OK() bool { return v.Broken == nil }

// AuditBreak is a broken link: the record, what was wrong, and the value
// expected against the one found.
type AuditBreak struct {
	ID       int64  `json:"id"`
	Problem  string `json:"problem"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
}

// Problems an AuditBreak names.
const (
	BreakHash      = "hash"        // the record's fields do not hash to its hash: it was changed
	BreakPrevHash  = "prev_hash"   // it does not follow the record before: one was changed, removed or inserted
	BreakGap       = "id_gap"      // an ID is missing: a record was removed
	BreakOrder     = "id_order"    // IDs do not increase
	BreakVersion   = "version"     // an encoding version this build does not know
	BreakUnchained = "unchained"   // a record without hashes after the chain started
	BreakStart     = "chain_start" // the chain's first record does not start from the zero hash
)

func (b *AuditBreak) String() string {
	return fmt.Sprintf("record %d: %s: expected %s, found %s", b.ID, b.Problem, b.Expected, b.Found)
}

// AuditChecker checks records in ID order, one at a time, so a store or a
// file of any length is checked in constant memory.
type AuditChecker struct {
	// Partial accepts records that do not start the chain or follow each
	// other (a filtered or partial export): each is checked against its
	// own hash, and links only between consecutive IDs.
	Partial bool

	v        AuditVerification
	seen     bool // a record was added
	started  bool // a chained record was added
	prevID   int64
	prevHash []byte
}

// Add checks the next record; it reports false once the chain is broken,
// after which further records are ignored.
func (c *AuditChecker) Add(e *AuditEvent) bool {
	if c.v.Broken != nil {
		return false
	}
	brk := func(problem, expected, found string) bool {
		c.v.Broken = &AuditBreak{ID: e.ID, Problem: problem, Expected: expected, Found: found}
		return false
	}
	if c.seen && e.ID <= c.prevID {
		return brk(BreakOrder, fmt.Sprintf("an ID above %d", c.prevID), strconv.FormatInt(e.ID, 10))
	}
	c.seen = true
	if e.ChainV == 0 {
		if c.started {
			return brk(BreakUnchained, "a chained record (v1)", "a record without hashes")
		}
		c.v.Unchained++
		c.prevID = e.ID
		return true
	}
	if e.ChainV != AuditChainV1 {
		return brk(BreakVersion, "1", strconv.Itoa(e.ChainV))
	}
	if got := e.ChainHash(e.PrevHash); !bytes.Equal(got, e.Hash) {
		return brk(BreakHash, hex.EncodeToString(got), hex.EncodeToString(e.Hash))
	}
	switch {
	case !c.started:
		if !c.Partial && !bytes.Equal(e.PrevHash, ZeroHash) {
			return brk(BreakStart, hex.EncodeToString(ZeroHash), hex.EncodeToString(e.PrevHash))
		}
		c.v.FirstID = e.ID
	case e.ID != c.prevID+1:
		if !c.Partial {
			return brk(BreakGap, "ID "+strconv.FormatInt(c.prevID+1, 10), "ID "+strconv.FormatInt(e.ID, 10))
		}
		c.v.Gaps++
	case !bytes.Equal(e.PrevHash, c.prevHash):
		return brk(BreakPrevHash, hex.EncodeToString(c.prevHash), hex.EncodeToString(e.PrevHash))
	}
	c.started = true
	c.prevID, c.prevHash = e.ID, e.Hash
	c.v.Records++
	c.v.LastID, c.v.Head = e.ID, hex.EncodeToString(e.Hash)
	return true
}

// Result is what the records added so far showed.
func (c *AuditChecker) Result() *AuditVerification {
	v := c.v
	return &v
}
