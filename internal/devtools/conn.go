// Package devtools is a small client of the Chrome DevTools Protocol
// over Chromium's --remote-debugging-pipe: NUL-terminated JSON messages,
// Chromium reading commands on its fd 3 and writing answers and events
// on its fd 4. A pipe, unlike --remote-debugging-port, is reachable by
// no page and no other process in the container.
//
// It sends commands with ids and matches the answers, dispatches events
// in order, and speaks to targets over flattened sessions (one
// connection, a sessionId per target). It leaves out everything the
// agent does not use: no target discovery beyond auto-attach, no
// domains' typed wrappers (callers use github.com/chromedp/cdproto's
// types or their own).
//
// Chromium's side is untrusted input once a page owns a renderer: frames
// are bounded (MaxMessage), malformed ones end the connection, and a
// handler's slowness never blocks the reader.
package devtools

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Event is an event from Chromium; SessionID names the target's session,
// empty for the browser's own.
type Event struct {
	SessionID string
	Method    string
	Params    json.RawMessage
}

// Handler is called with each event of the method it was registered for,
// one at a time in the order Chromium sent them. It may Call.
type Handler func(ctx context.Context, e Event)

// ErrClosed is returned by calls on a connection that has ended.
var ErrClosed = errors.New("devtools: connection closed")

// maxQueued bounds the events waiting for handlers: a Chromium that
// floods events faster than the agent handles them ends the connection
// instead of growing the agent's memory.
const maxQueued = 10000

// Conn is one connection to a browser.
type Conn struct {
	r *bufio.Reader
	w io.Writer

	wmu sync.Mutex // one frame at a time on w

	mu       sync.Mutex
	next     int64
	pending  map[int64]chan message
	handlers map[string][]Handler
	queue    []Event
	wake     chan struct{}
	err      error // set once the connection ended
	done     chan struct{}
}

// New makes a connection over Chromium's pipe ends: r is what Chromium
// writes (its fd 4), w what it reads (its fd 3). Run must run for calls
// to be answered.
func New(r io.Reader, w io.Writer) *Conn {
	return &Conn{
		r: bufio.NewReaderSize(r, 64<<10), w: w,
		pending: map[int64]chan message{}, handlers: map[string][]Handler{},
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

// On registers h for events named method (e.g. "Browser.downloadProgress").
func (c *Conn) On(method string, h Handler) {
	c.mu.Lock()
	c.handlers[method] = append(c.handlers[method], h)
	c.mu.Unlock()
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Run reads Chromium's messages until the pipe ends, ctx ends or a
// message is malformed, and dispatches events to handlers meanwhile. It
// returns why it stopped; io.EOF is Chromium closing the pipe (exiting).
func (c *Conn) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go c.dispatch(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.read() }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.close(err)
	return err
}

func (c *Conn) read() error {
	for {
		frame, err := readFrame(c.r, MaxMessage)
		if err != nil {
			return err
		}
		m, err := parseMessage(frame)
		if err != nil {
			return err
		}
		if m.Method != "" {
			if err := c.enqueue(Event{SessionID: m.SessionID, Method: m.Method, Params: m.Params}); err != nil {
				return err
			}
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[m.ID]
		delete(c.pending, m.ID)
		asked := m.ID <= c.next
		c.mu.Unlock()
		switch {
		case ok:
			ch <- m
		case !asked:
			return fmt.Errorf("devtools: answer to id %d, which was not asked", m.ID)
		}
		// Else the answer to a call its caller gave up on.
	}
}

func (c *Conn) enqueue(e Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.handlers[e.Method]) == 0 {
		return nil
	}
	if len(c.queue) >= maxQueued {
		return fmt.Errorf("devtools: over %d events wait for handlers", maxQueued)
	}
	c.queue = append(c.queue, e)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

func (c *Conn) dispatch(ctx context.Context) {
	for {
		c.mu.Lock()
		var e Event
		var hs []Handler
		ok := len(c.queue) > 0
		if ok {
			e = c.queue[0]
			c.queue[0] = Event{}
			c.queue = c.queue[1:]
			hs = c.handlers[e.Method]
		}
		c.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-c.wake:
				continue
			}
		}
		for _, h := range hs {
			h(ctx, e)
		}
	}
}

func (c *Conn) close(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = fmt.Errorf("%w: %w", ErrClosed, err)
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	close(c.done)
}

// Call sends method with params (nil: none) to the browser, or to the
// target of sessionID when it is not empty, and decodes the result into
// result (nil: ignored). It returns an *Error when Chromium answers with
// one.
func (c *Conn) Call(ctx context.Context, sessionID, method string, params, result any) error {
	req := struct {
		ID        int64  `json:"id"`
		SessionID string `json:"sessionId,omitempty"`
		Method    string `json:"method"`
		Params    any    `json:"params,omitempty"`
	}{SessionID: sessionID, Method: method, Params: params}
	ch := make(chan message, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("%s: %w", method, err)
	}
	c.next++
	req.ID = c.next
	c.pending[req.ID] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, req.ID)
		c.mu.Unlock()
	}
	frame, err := json.Marshal(req)
	if err != nil {
		forget()
		return fmt.Errorf("devtools: encode %s: %w", method, err)
	}
	c.wmu.Lock()
	_, err = c.w.Write(append(frame, 0))
	c.wmu.Unlock()
	if err != nil {
		forget()
		return fmt.Errorf("devtools: send %s: %w", method, err)
	}
	select {
	case <-ctx.Done():
		forget()
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case m, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return fmt.Errorf("%s: %w", method, err)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %w", method, m.Error)
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(m.Result, result); err != nil {
			return fmt.Errorf("devtools: %s: decode result: %w", method, err)
		}
		return nil
	}
}
