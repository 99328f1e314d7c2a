package airlock

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

var auditT0 = time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)

// TestChainHashEncoding pins encoding v1 to a hash computed outside Go
// (Python's hashlib over the bytes ChainHash's comment describes), so the
// documented encoding and the code cannot drift apart.
func TestChainHashEncoding(t *testing.T) {
	prev := make([]byte, 32)
	for i := range prev {
		prev[i] = byte(i)
	}
	e := &AuditEvent{ID: 7, Time: auditT0, ActorKind: ActorUser, Actor: "alice", Action: "session.create", Target: "s1",
		Outcome: OutcomeSuccess, Client: "192.0.2.1", Session: "s1", Detail: "chromium (é)"}
	const want = "1d787793dfc808949f7f28a4e91db956abe41bb817ddf2b6a044f25351a90a73"
	if got := hex.EncodeToString(e.ChainHash(prev)); got != want {
		t.Fatalf("ChainHash = %s, want %s", got, want)
	}
	// The length prefixes keep field boundaries: moving a byte from one
	// field to the next changes the hash.
	moved := *e
	moved.Actor, moved.Action = "alices", "ession.create"
	if bytes.Equal(moved.ChainHash(prev), e.ChainHash(prev)) {
		t.Fatal("a byte moved between fields left the hash unchanged")
	}
}

// chain makes n chained events as the store would.
func chain(n int) []*AuditEvent {
	var out []*AuditEvent
	prev := ZeroHash
	for i := range n {
		e := &AuditEvent{ID: int64(i + 1), Time: auditT0.Add(time.Duration(i) * time.Second), ActorKind: ActorUser, Actor: "alice",
			Action: "x.y", Outcome: OutcomeSuccess, Detail: fmt.Sprint(i), ChainV: AuditChainV1, PrevHash: prev}
		e.Hash = e.ChainHash(prev)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func TestAuditChecker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		partial bool
		edit    func(es []*AuditEvent) []*AuditEvent
		want    string // "" intact, else the problem of the break
		wantID  int64
	}{
		{"ok/intact", false, nil, "", 0},
		{"ok/partial-with-gap", true, func(es []*AuditEvent) []*AuditEvent { return append(es[1:2], es[3:]...) }, "", 0},
		{"ok/unchained-prefix", false, func(es []*AuditEvent) []*AuditEvent {
			return append([]*AuditEvent{{ID: 1}}, rechain(es[1:], ZeroHash)...)
		}, "", 0},
		{"fail/field-changed", false, func(es []*AuditEvent) []*AuditEvent { es[2].Detail = "other"; return es }, BreakHash, 3},
		{"fail/rehashed", false, func(es []*AuditEvent) []*AuditEvent {
			es[2].Detail = "other"
			es[2].Hash = es[2].ChainHash(es[2].PrevHash)
			return es
		}, BreakPrevHash, 4},
		{"fail/gap", false, func(es []*AuditEvent) []*AuditEvent { return append(es[:2], es[3:]...) }, BreakGap, 4},
		{"fail/not-from-zero", false, func(es []*AuditEvent) []*AuditEvent { return es[1:] }, BreakStart, 2},
		{"fail/order", true, func(es []*AuditEvent) []*AuditEvent { return []*AuditEvent{es[2], es[1]} }, BreakOrder, 2},
		{"fail/version", false, func(es []*AuditEvent) []*AuditEvent { es[1].ChainV = 2; return es }, BreakVersion, 2},
		{"fail/unchained-after", false, func(es []*AuditEvent) []*AuditEvent {
			return append(es[:2], &AuditEvent{ID: 3})
		}, BreakUnchained, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := chain(5)
			if tc.edit != nil {
				es = tc.edit(es)
			}
			c := &AuditChecker{Partial: tc.partial}
			for _, e := range es {
				c.Add(e)
			}
			v := c.Result()
			if tc.want == "" {
				if !v.OK() {
					t.Fatalf("broken: %v", v.Broken)
				}
				return
			}
			if v.OK() || v.Broken.Problem != tc.want || v.Broken.ID != tc.wantID {
				t.Fatalf("got %+v, want %s at %d", v.Broken, tc.want, tc.wantID)
			}
		})
	}
}

// rechain gives es new hashes starting from prev.
func rechain(es []*AuditEvent, prev []byte) []*AuditEvent {
	for _, e := range es {
		e.PrevHash = prev
		e.Hash = e.ChainHash(prev)
		prev = e.Hash
	}
	return es
}

func exportOf(t *testing.T, es []*AuditEvent) string {
	t.Helper()
	var b bytes.Buffer
	w := NewAuditLineWriter(&b)
	for _, e := range es {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestVerifyAuditLines(t *testing.T) {
	good := exportOf(t, chain(3))
	lines := strings.SplitAfter(good, "\n")
	for _, tc := range []struct {
		name, in string
		partial  bool
		err      string // a parse error containing this
		broken   string // else a break of this problem
	}{
		{"ok/export", good, false, "", ""},
		{"ok/blank-lines", "\n" + lines[0] + "\n" + lines[1] + lines[2], false, "", ""},
		{"ok/partial", lines[1] + lines[2], true, "", ""},
		{"fail/empty", "", false, "no audit records", ""},
		{"fail/not-json", lines[0] + "{oops\n", false, "line 2: not a JSON audit record", ""},
		{"fail/unknown-field", `{"v":0,"id":1,"time":"2025-06-01T12:00:00.000000Z","extra":1}` + "\n", false, `line 1: not a JSON audit record: json: unknown field "extra"`, ""},
		{"fail/two-objects", `{"v":0,"id":1,"time":"2025-06-01T12:00:00.000000Z"} {}` + "\n", false, "line 1: data after", ""},
		{"fail/time-form", `{"v":0,"id":1,"time":"2025-06-01T12:00:00Z"}` + "\n", false, "line 1: record 1: time", ""},
		{"fail/id", `{"v":0,"id":0,"time":"2025-06-01T12:00:00.000000Z"}` + "\n", false, "line 1: id 0", ""},
		{"fail/version", `{"v":3,"id":1,"time":"2025-06-01T12:00:00.000000Z"}` + "\n", false, "chain version 3", ""},
		{"fail/unchained-with-hash", `{"v":0,"id":1,"time":"2025-06-01T12:00:00.000000Z","hash":"00"}` + "\n", false, "carries no hashes", ""},
		{"fail/upper-hex", strings.Replace(lines[0], `"hash":"`, `"hash":"A`, 1), false, "line 1: record 1: hash: 65 characters", ""},
		{"fail/long-line", `{"v":0,"detail":"` + strings.Repeat("x", MaxAuditLine) + "\"}\n", false, "line 1: longer than", ""},
		{"fail/tampered", strings.Replace(good, `"detail":"1"`, `"detail":"9"`, 1), false, "", BreakHash},
		{"fail/line-removed", lines[0] + lines[2], false, "", BreakGap},
		{"fail/not-from-start", lines[1] + lines[2], false, "", BreakStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := VerifyAuditLines(strings.NewReader(tc.in), tc.partial)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.broken == "" && !v.OK():
				t.Fatalf("broken: %v", v.Broken)
			case tc.broken != "" && (v.OK() || v.Broken.Problem != tc.broken):
				t.Fatalf("got %+v, want a %s break", v.Broken, tc.broken)
			}
		})
	}
}

// FuzzAuditLines: the verifier never panics, and a line it accepts
// writes back to a line that parses to the same record.
func FuzzAuditLines(f *testing.F) {
	for _, s := range []string{"", "{}\n", `{"v":0,"id":1,"time":"2025-06-01T12:00:00.000000Z"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = VerifyAuditLines(bytes.NewReader(data), false)
		_, _ = VerifyAuditLines(bytes.NewReader(data), true)
		line, _, _ := bytes.Cut(data, []byte("\n"))
		e, err := ParseAuditLine(line)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := NewAuditLineWriter(&b).Write(e); err != nil {
			t.Fatal(err)
		}
		again, err := ParseAuditLine(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
		if err != nil {
			t.Fatalf("re-parse %s: %v", b.Bytes(), err)
		}
		if fmt.Sprint(again) != fmt.Sprint(e) || !bytes.Equal(again.ChainHash(again.PrevHash), e.ChainHash(e.PrevHash)) {
			t.Fatalf("round trip changed %+v into %+v", e, again)
		}
	})
}
