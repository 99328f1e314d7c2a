package airlock

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// AuditLine is one event of an export, one JSON object a line, with the
// names the chain encoding (AuditEvent.ChainHash) gives its fields.
type AuditLine struct {
	V         int    `json:"v"`
	ID        int64  `json:"id"`
	Time      string `json:"time"`
	ActorKind string `json:"actor_kind"`
	Actor     string `json:"actor"`
	Action    string `json:"action"`
	Target    string `json:"target"`
	Outcome   string `json:"outcome"`
	Client    string `json:"client"`
	Session   string `json:"session"`
	Detail    string `json:"detail"`
	PrevHash  string `json:"prev_hash,omitempty"`
	Hash      string `json:"hash,omitempty"`
}

// MaxAuditLine bounds one line of an export, far above what the field
// bounds allow even with every byte escaped.
const MaxAuditLine = 1 << 20

// Line is e as a line of an export.
func (e *AuditEvent) Line() AuditLine {
	return AuditLine{V: e.ChainV, ID: e.ID, Time: e.Time.UTC().Format(AuditTimeLayout), ActorKind: string(e.ActorKind),
		Actor: e.Actor, Action: e.Action, Target: e.Target, Outcome: string(e.Outcome), Client: e.Client,
		Session: e.Session, Detail: e.Detail, PrevHash: hexOrEmpty(e.PrevHash), Hash: hexOrEmpty(e.Hash)}
}

func hexOrEmpty(b []byte) string {
	if b == nil {
		return ""
	}
	return hex.EncodeToString(b)
}

// AuditLineWriter writes events as JSON lines.
type AuditLineWriter struct{ enc *json.Encoder }

// NewAuditLineWriter writes to w; HTML characters are not escaped, so a
// line reads as it was stored.
func NewAuditLineWriter(w io.Writer) *AuditLineWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &AuditLineWriter{enc: enc}
}

// Write writes e as one line.
func (w *AuditLineWriter) Write(e *AuditEvent) error { return w.enc.Encode(e.Line()) }

// ParseAuditLine reads one line of an export strictly: no unknown
// fields, the time in AuditTimeLayout, hashes of 64 lowercase hex digits
// on a chained record and none on an unchained one. It does not check
// the hashes; AuditChecker does.
func ParseAuditLine(b []byte) (*AuditEvent, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l AuditLine
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("not a JSON audit record: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON object")
	}
	if l.ID < 1 {
		return nil, fmt.Errorf("id %d: must be at least 1", l.ID)
	}
	t, err := time.Parse(AuditTimeLayout, l.Time)
	if err != nil || t.Format(AuditTimeLayout) != l.Time {
		return nil, fmt.Errorf("record %d: time %q is not UTC in the form %s", l.ID, l.Time, AuditTimeLayout)
	}
	e := &AuditEvent{ID: l.ID, Time: t, ActorKind: ActorKind(l.ActorKind), Actor: l.Actor, Action: l.Action, Target: l.Target,
		Outcome: AuditOutcome(l.Outcome), Client: l.Client, Session: l.Session, Detail: l.Detail, ChainV: l.V}
	switch l.V {
	case 0:
		if l.PrevHash != "" || l.Hash != "" {
			return nil, fmt.Errorf("record %d: an unchained record (v 0) carries no hashes", l.ID)
		}
	case AuditChainV1:
		if e.PrevHash, err = parseHash(l.PrevHash); err != nil {
			return nil, fmt.Errorf("record %d: prev_hash: %w", l.ID, err)
		}
		if e.Hash, err = parseHash(l.Hash); err != nil {
			return nil, fmt.Errorf("record %d: hash: %w", l.ID, err)
		}
	default:
		return nil, fmt.Errorf("record %d: chain version %d is not 0 or 1", l.ID, l.V)
	}
	return e, nil
}

func parseHash(s string) ([]byte, error) {
	if len(s) != 64 {
		return nil, fmt.Errorf("%d characters, want 64 hex digits", len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return nil, fmt.Errorf("character %d is not a lowercase hex digit", i+1)
		}
	}
	return hex.DecodeString(s)
}

// VerifyAuditLines checks an export, line by line in constant memory. A
// line that does not parse is an error naming its line number; a broken
// chain is reported in the result. partial accepts a filtered export
// (see AuditChecker.Partial). An export with no records is an error: it
// proves nothing.
func VerifyAuditLines(r io.Reader, partial bool) (*AuditVerification, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxAuditLine)
	c := &AuditChecker{Partial: partial}
	n, records := 0, 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		e, err := ParseAuditLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		records++
		if !c.Add(e) {
			break
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", n+1, MaxAuditLine)
		}
		return nil, fmt.Errorf("read line %d: %w", n+1, err)
	}
	if records == 0 {
		return nil, errors.New("no audit records")
	}
	return c.Result(), nil
}
