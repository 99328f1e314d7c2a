package desktop

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/jezek/xgb/xtest"
)

// ErrInputClosed is returned by the methods of an Input after Close, or
// once its connection to the X server is gone.
var ErrInputClosed = errors.New("input closed")

// Input injects a viewer's pointer and keyboard input into an X display
// through the XTEST extension, following docs/viewer-protocol.md: a
// printable key is typed as the character it names whatever the display's
// keymap, with Shift or the level-3 shift pressed for it, or a spare
// keycode remapped to it when the keymap lacks it.
//
// Its methods are safe for concurrent use; events are injected in the
// order the calls take its lock.
type Input struct {
	conn    *xgb.Conn
	root    xproto.Window
	display string

	stale    atomic.Bool   // a MappingNotify arrived since km was read
	done     chan struct{} // closed when the event reader ends
	errMu    sync.Mutex
	asyncErr error // an X error of a request not waited for (Move)

	mu         sync.Mutex
	closed     bool
	autoRepeat bool // the server's global autorepeat before NewInput turned it off
	km         keymap
	down       map[xproto.Keycode]int // keys pressed through this Input, by keycode: how many hold it
	held       map[string]*heldKey    // the viewer's keys down, by code
	pending    string                 // the held key whose modifier changes are still in effect
	spares     []spare                // keycodes without keysyms, remapped on demand
	tick       uint64                 // use counter for the spares' LRU
	buttons    [4]bool                // buttons 1 to 3 held
	wheelX     float64                // wheel pixels not yet turned into clicks
	wheelY     float64
	cookies    []*xgb.Cookie // requests of the current call, checked by flush
	typing     bool          // in Type: key names do not matter
	atoms      atoms
	ping       pinger      // the app appSync asks
	pingSeq    uint32      // the last ping's token
	pongs      chan uint32 // the tokens of answered pings, from events
}

// X core event types for XTEST FakeInput.
const (
	fakeKeyPress      = 2
	fakeKeyRelease    = 3
	fakeButtonPress   = 4
	fakeButtonRelease = 5
	fakeMotion        = 6
)

// NewInput connects to the X display named display (e.g. ":99") and
// prepares to inject input there. The display must have the XTEST
// extension. The server's key autorepeat is turned off until Close: the
// viewer's browser repeats held keys itself.
func NewInput(display string) (*Input, error) {
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, fmt.Errorf("input: connect to X display %s: %w", display, err)
	}
	in := &Input{
		conn:    conn,
		display: display,
		done:    make(chan struct{}),
		down:    map[xproto.Keycode]int{},
		held:    map[string]*heldKey{},
		pongs:   make(chan uint32, 16),
	}
	if err := in.init(); err != nil {
		conn.Close()
		// Wait for the connection's goroutines to end.
		for ev, xerr := conn.WaitForEvent(); ev != nil || xerr != nil; ev, xerr = conn.WaitForEvent() {
		}
		return nil, fmt.Errorf("input on X display %s: %w", display, err)
	}
	go in.events()
	return in, nil
}

func (in *Input) init() error {
	if err := xtest.Init(in.conn); err != nil {
		return fmt.Errorf("the X server has no XTEST extension, which input injection needs (Xvfb has it unless started with -extension XTEST): %w", err)
	}
	if _, err := xtest.GetVersion(in.conn, 2, 2).Reply(); err != nil {
		return fmt.Errorf("XTEST version: %w", err)
	}
	in.root = xproto.Setup(in.conn).DefaultScreen(in.conn).Root
	if err := in.loadKeymap(); err != nil {
		return err
	}
	if err := in.internAtoms(); err != nil {
		return err
	}
	// The viewer's browser repeats a held key itself (keydown with
	// repeat), so the server must not repeat it too: turn its autorepeat
	// off, and back on at Close if it was on.
	kb, err := xproto.GetKeyboardControl(in.conn).Reply()
	if err != nil {
		return fmt.Errorf("read keyboard control: %w", err)
	}
	in.autoRepeat = kb.GlobalAutoRepeat != xproto.AutoRepeatModeOff
	if err := in.setAutoRepeat(false); err != nil {
		return err
	}
	// The spares are the keycodes without any keysym, from the highest
	// down: those are the least likely to mean anything to an app.
	for kc := int(in.km.max); kc >= int(in.km.min) && len(in.spares) < maxSpares; kc-- {
		if in.km.empty(xproto.Keycode(kc)) && !in.km.isModifier(xproto.Keycode(kc)) {
			in.spares = append(in.spares, spare{kc: xproto.Keycode(kc)})
		}
	}
	return nil
}

func (in *Input) setAutoRepeat(on bool) error {
	mode := uint32(xproto.AutoRepeatModeOff)
	if on {
		mode = xproto.AutoRepeatModeOn
	}
	if err := xproto.ChangeKeyboardControlChecked(in.conn, xproto.KbAutoRepeatMode, []uint32{mode}).Check(); err != nil {
		return fmt.Errorf("set keyboard autorepeat: %w", err)
	}
	return nil
}

// events reads the connection's events: MappingNotify marks the cached
// keymap stale, apps' answers to pings go to appSync, and X errors of requests not waited for are kept for the
// next Move.
func (in *Input) events() {
	defer close(in.done)
	for {
		ev, xerr := in.conn.WaitForEvent()
		switch {
		case ev == nil && xerr == nil:
			return // connection closed
		case xerr != nil:
			in.errMu.Lock()
			if in.asyncErr == nil {
				in.asyncErr = xerr
			}
			in.errMu.Unlock()
		default:
			switch e := ev.(type) {
			case xproto.MappingNotifyEvent:
				if e.Request != xproto.MappingPointer {
					in.stale.Store(true)
				}
			case xproto.ClientMessageEvent:
				in.pong(e)
			}
		}
	}
}

// lockOpen takes the lock and says whether the Input can still be used.
func (in *Input) lockOpen() error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return ErrInputClosed
	}
	select {
	case <-in.done:
		in.mu.Unlock()
		return fmt.Errorf("connection to X display %s lost: %w", in.display, ErrInputClosed)
	default:
	}
	return nil
}

// fake queues one XTEST event; flush waits for the server to accept all
// the queued ones (one round trip).
func (in *Input) fake(typ byte, detail byte, x, y int16) {
	c := xtest.FakeInputChecked(in.conn, typ, detail, 0, in.root, x, y, 0)
	in.cookies = append(in.cookies, c.Cookie)
}

func (in *Input) flush() error {
	var first error
	for _, c := range in.cookies {
		if err := c.Check(); err != nil && first == nil {
			first = err
		}
	}
	in.cookies = in.cookies[:0]
	return first
}

// ReleaseAll releases every key and button held through this Input, for
// when the viewer goes away with keys down. It does its best: after Close,
// or with the connection gone, there is nothing left to release.
func (in *Input) ReleaseAll() {
	if in.lockOpen() != nil {
		return
	}
	defer in.mu.Unlock()
	in.releaseAll()
	_ = in.flush()
}

func (in *Input) releaseAll() {
	for kc := range in.down {
		in.fake(fakeKeyRelease, byte(kc), 0, 0)
	}
	clear(in.down)
	clear(in.held)
	in.pending = ""
	for b := 1; b <= 3; b++ {
		if in.buttons[b] {
			in.fake(fakeButtonRelease, byte(b), 0, 0)
			in.buttons[b] = false
		}
	}
	in.wheelX, in.wheelY = 0, 0
}

// Close releases what is held, gives back the spare keycodes it remapped
// and closes the connection.
func (in *Input) Close() error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil
	}
	in.closed = true
	var err error
	select {
	case <-in.done:
	default:
		in.releaseAll()
		err = in.flush()
		for _, s := range in.spares {
			if s.syms != [2]uint32{} && !s.broken {
				if e := xproto.ChangeKeyboardMappingChecked(in.conn, 1, s.kc, 2, []xproto.Keysym{0, 0}).Check(); e != nil && err == nil {
					err = e
				}
			}
		}
		if in.autoRepeat {
			if e := in.setAutoRepeat(true); e != nil && err == nil {
				err = e
			}
		}
	}
	in.mu.Unlock()
	in.conn.Close()
	<-in.done
	if err != nil {
		return fmt.Errorf("close input on X display %s: %w", in.display, err)
	}
	return nil
}
