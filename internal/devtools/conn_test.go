package devtools

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// fakeChromium is the far end of a Conn: it reads the commands and writes
// whatever the test says.
type fakeChromium struct {
	t    *testing.T
	in   *bufio.Reader // commands from the Conn
	out  *io.PipeWriter
	conn *Conn
	errc chan error
}

func newFake(t *testing.T) *fakeChromium {
	t.Helper()
	cmdR, cmdW := io.Pipe()
	outR, outW := io.Pipe()
	f := &fakeChromium{t: t, in: bufio.NewReader(cmdR), out: outW, conn: New(outR, cmdW), errc: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { f.errc <- f.conn.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = outW.Close()
		_ = cmdR.Close()
	})
	return f
}

type command struct {
	ID        int64           `json:"id"`
	SessionID string          `json:"sessionId"`
	Method    string          `json:"method"`
	Params    json.RawMessage `json:"params"`
}

func (f *fakeChromium) command() command {
	f.t.Helper()
	frame, err := readFrame(f.in, MaxMessage)
	if err != nil {
		f.t.Fatalf("read command: %v", err)
	}
	var c command
	if err := json.Unmarshal(frame, &c); err != nil {
		f.t.Fatalf("command %q: %v", frame, err)
	}
	return c
}

func (f *fakeChromium) send(s string) {
	f.t.Helper()
	if _, err := f.out.Write([]byte(s + "\x00")); err != nil {
		f.t.Fatalf("send: %v", err)
	}
}

func TestCallsMatchAnswersOutOfOrder(t *testing.T) {
	f := newFake(t)
	type answer struct {
		v   int
		err error
	}
	results := make(chan answer, 2)
	call := func(session string) {
		var r struct{ V int }
		err := f.conn.Call(context.Background(), session, "Test.get", map[string]string{"s": session}, &r)
		results <- answer{r.V, err}
	}
	go call("")
	a := f.command()
	go call("S1")
	b := f.command()
	if a.SessionID != "" || b.SessionID != "S1" || a.Method != "Test.get" || string(b.Params) != `{"s":"S1"}` {
		t.Fatalf("commands %+v %+v", a, b)
	}
	// Answer the second first.
	f.send(`{"id":` + itoa(b.ID) + `,"sessionId":"S1","result":{"V":2}}`)
	if r := <-results; r.err != nil || r.v != 2 {
		t.Fatalf("second call got %+v", r)
	}
	f.send(`{"id":` + itoa(a.ID) + `,"error":{"code":-32601,"message":"'Test.get' wasn't found"}}`)
	r := <-results
	var de *Error
	if !errors.As(r.err, &de) || de.Code != -32601 {
		t.Fatalf("first call: want a devtools error, got %v", r.err)
	}
}

func TestEventsInOrderAndHandlersMayCall(t *testing.T) {
	f := newFake(t)
	got := make(chan string, 10)
	f.conn.On("Page.thing", func(ctx context.Context, e Event) {
		var p struct{ N string }
		_ = json.Unmarshal(e.Params, &p)
		got <- e.SessionID + ":" + p.N
		if p.N == "2" {
			// A handler calling back must not deadlock the reader.
			err := f.conn.Call(ctx, e.SessionID, "Page.ack", nil, nil)
			got <- "ack:" + errString(err)
		}
	})
	f.send(`{"method":"Page.other","params":{}}`) // no handler: dropped
	f.send(`{"method":"Page.thing","sessionId":"A","params":{"N":"1"}}`)
	f.send(`{"method":"Page.thing","sessionId":"B","params":{"N":"2"}}`)
	if g := <-got; g != "A:1" {
		t.Fatalf("first event %q", g)
	}
	if g := <-got; g != "B:2" {
		t.Fatalf("second event %q", g)
	}
	c := f.command()
	if c.Method != "Page.ack" || c.SessionID != "B" {
		t.Fatalf("handler's call %+v", c)
	}
	f.send(`{"id":` + itoa(c.ID) + `,"sessionId":"B","result":{}}`)
	if g := <-got; g != "ack:" {
		t.Fatalf("handler's call: %q", g)
	}
}

func TestBadFramesEndTheConnection(t *testing.T) {
	for _, tc := range []struct {
		name, frame string
		want        string
	}{
		{"not json", "{nope", "not a JSON object"},
		{"neither", `{"foo":1}`, "neither a response"},
		{"both", `{"id":1,"method":"X.y"}`, "neither a response"},
		{"empty answer", `{"id":1}`, "neither result nor error"},
		{"unasked", `{"id":99,"result":{}}`, "not asked"},
		{"trailing", `{"method":"X.y"} {}`, "after its JSON"},
		{"long method", `{"method":"` + strings.Repeat("m", 300) + `"}`, "over 256"},
		{"too large", `{"method":"X.y","params":"` + strings.Repeat("a", MaxMessage) + `"}`, "size limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			pending := make(chan error, 1)
			go func() { pending <- f.conn.Call(context.Background(), "", "X.wait", nil, nil) }()
			f.command()
			go func() { _, _ = f.out.Write([]byte(tc.frame + "\x00")) }()
			err := <-f.errc
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: want an error with %q, got %v", tc.want, err)
			}
			if err := <-pending; !errors.Is(err, ErrClosed) {
				t.Fatalf("pending call: want ErrClosed, got %v", err)
			}
			if err := f.conn.Call(context.Background(), "", "X.after", nil, nil); !errors.Is(err, ErrClosed) {
				t.Fatalf("call after the end: want ErrClosed, got %v", err)
			}
		})
	}
}

func TestAbandonedCallsAnswerIsIgnored(t *testing.T) {
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.conn.Call(ctx, "", "X.slow", nil, nil) }()
	c := f.command()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("abandoned call: %v", err)
	}
	f.send(`{"id":` + itoa(c.ID) + `,"result":{}}`)
	go func() { errc <- f.conn.Call(context.Background(), "", "X.next", nil, nil) }()
	c = f.command()
	f.send(`{"id":` + itoa(c.ID) + `,"result":{}}`)
	if err := <-errc; err != nil {
		t.Fatalf("call after an abandoned one: %v", err)
	}
}

func TestChromiumExitingIsEOF(t *testing.T) {
	f := newFake(t)
	_ = f.out.Close()
	if err := <-f.errc; !errors.Is(err, io.EOF) {
		t.Fatalf("Run: want EOF, got %v", err)
	}
	<-f.conn.Done()
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
