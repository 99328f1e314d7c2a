package desktop

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
	"github.com/jezek/xgb/xtest"
)

// ErrInputClosed is returned by the methods of an Input after Close, or
// once its connection to the X server is gone.
var ErrInputClosed = errors.New("input closed")

// ErrUnknownKey is wrapped by the error Key returns for a key name it has
// no X keysym for.
var ErrUnknownKey = errors.New("no X keysym for this key")

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
}

// heldKey is a viewer key that is down, and what its key-down did.
type heldKey struct {
	kc  xproto.Keycode
	sym uint32
	// altGraph: the AltGraph key, which is not pressed in X but counts
	// as Alt for the AltGr rule (Windows sends Control, then AltGraph).
	altGraph bool
	// suspended: this modifier key was released for another key's sake
	// and is pressed again when that key goes up.
	suspended bool
	// added are modifier keys pressed for this key; lifted are the codes of
	// held modifier keys released for it. Both are undone at its key-up,
	// or at the next key or button event, whichever comes first.
	added  []xproto.Keycode
	lifted []string
}

// spare is a keycode that had no keysym in the keymap, which Key maps to
// the keysyms it needs. used orders them for reuse, least recent first.
type spare struct {
	kc     xproto.Keycode
	syms   [2]uint32 // what it was mapped to; zero when free
	used   uint64
	broken bool // remapped by someone else since: no longer ours
}

// maxSpares is how many keycodes without keysyms Input may remap: enough
// that the characters of a word typed in a foreign script stay mapped, and
// that a few keys held at once keep theirs.
const maxSpares = 10

// wheelStep is how many WheelEvent pixels make one wheel click. One click
// of buttons 4 to 7 scrolls Chromium on X11 by 120 pixels at zoom 1
// (measured with Chromium 156); a notch of a mouse wheel is 100 pixels in
// browsers on Windows and 120 on Linux, so each notch gives at least one
// click, and the smaller deltas of touchpads add up to clicks.
const wheelStep = 100.0

// remapSettle is how long Key waits after remapping a spare keycode
// before pressing it (see mapSpare). Only the first use of a character
// that the keymap lacks pays it; other calls wait for it meanwhile.
const remapSettle = 20 * time.Millisecond

// maxWheelClicks bounds the clicks one Wheel call sends, so that a bogus
// delta cannot flood the display.
const maxWheelClicks = 40

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
// keymap stale, and X errors of requests not waited for are kept for the
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
			if m, ok := ev.(xproto.MappingNotifyEvent); ok && m.Request != xproto.MappingPointer {
				in.stale.Store(true)
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

// Move moves the pointer to x, y in display pixels. It does not wait for
// the server: an X error it causes is returned by a later Move.
func (in *Input) Move(x, y int) error {
	if err := in.lockOpen(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	in.errMu.Lock()
	err := in.asyncErr
	in.asyncErr = nil
	in.errMu.Unlock()
	xtest.FakeInput(in.conn, fakeMotion, 0, 0, in.root, clamp16(x), clamp16(y), 0)
	if err != nil {
		return fmt.Errorf("move pointer: %w", err)
	}
	return nil
}

func clamp16(v int) int16 {
	return int16(max(math.MinInt16, min(math.MaxInt16, v)))
}

// Button presses (down) or releases button b: 1 left, 2 middle, 3 right.
// A press of a button already down, or a release of one that is up, does
// nothing.
func (in *Input) Button(b int, down bool) error {
	if b < 1 || b > 3 {
		return fmt.Errorf("button %d: only 1 (left), 2 (middle) and 3 (right) exist", b)
	}
	if err := in.lockOpen(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	if in.buttons[b] == down {
		return nil
	}
	in.restorePending()
	if down {
		in.fake(fakeButtonPress, byte(b), 0, 0)
	} else {
		in.fake(fakeButtonRelease, byte(b), 0, 0)
	}
	in.buttons[b] = down
	if err := in.flush(); err != nil {
		return fmt.Errorf("button %d: %w", b, err)
	}
	return nil
}

// Wheel scrolls by dx, dy WheelEvent pixels (positive: right, down). The
// pixels add up until they make a whole click of wheelStep pixels, sent as
// a click of button 4 (up), 5 (down), 6 (left) or 7 (right), so that the
// small deltas of a touchpad scroll too; a change of direction drops what
// was left over.
func (in *Input) Wheel(dx, dy float64) error {
	if math.IsNaN(dx) || math.IsNaN(dy) || math.IsInf(dx, 0) || math.IsInf(dy, 0) {
		return fmt.Errorf("wheel %v,%v: not a number", dx, dy)
	}
	if err := in.lockOpen(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	for _, a := range []struct {
		acc      *float64
		delta    float64
		neg, pos byte
	}{{&in.wheelY, dy, 4, 5}, {&in.wheelX, dx, 6, 7}} {
		if a.delta == 0 {
			continue
		}
		if (*a.acc < 0) != (a.delta < 0) {
			*a.acc = 0
		}
		*a.acc += a.delta
		n := int(*a.acc / wheelStep)
		*a.acc -= float64(n) * wheelStep
		button := a.pos
		if n < 0 {
			n, button = -n, a.neg
		}
		for range min(n, maxWheelClicks) {
			in.fake(fakeButtonPress, button, 0, 0)
			in.fake(fakeButtonRelease, button, 0, 0)
		}
	}
	if err := in.flush(); err != nil {
		return fmt.Errorf("wheel: %w", err)
	}
	return nil
}

// Key presses (down) or releases the key a browser KeyboardEvent
// describes: its key and code, as docs/viewer-protocol.md says.
//
// A printable key is typed as its character: Shift or the level-3 shift
// is pressed for it, or a held Shift released, as the display's keymap
// needs, and undone at its key-up (or at the next key or button, for
// overlapping keys); a character the keymap lacks gets a spare keycode.
// With Control and Alt held (or Control and AltGraph: Windows' AltGr) it
// is typed with them released. With only Control held it is a shortcut,
// typed with Control; a non-ASCII key then comes from code (Ctrl+С on a
// Russian layout is Ctrl+C). Named keys (Enter, ArrowLeft, F5, Shift, ...)
// are pressed with whatever modifiers are held; keypad keys set NumLock
// as they need. A repeated key-down types the key again, except for
// modifiers and locks.
//
// A key-up releases what the key-down of the same code pressed, and does
// nothing when there was none. Keys that are not typed on purpose (Dead,
// AltGraph, Unidentified) return nil; a key name with no X keysym returns
// an error wrapping ErrUnknownKey.
func (in *Input) Key(down bool, key, code string) error {
	if err := in.lockOpen(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	var err error
	if down {
		err = in.keyDown(key, code)
	} else {
		err = in.keyUp(keyID(key, code))
	}
	if ferr := in.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		dir := "up"
		if down {
			dir = "down"
		}
		return fmt.Errorf("key %q (code %q) %s: %w", key, code, dir, err)
	}
	return nil
}

// keyID is what pairs a key-up with its key-down: the code, or the key
// for the rare viewers that give no code.
func keyID(key, code string) string {
	if code != "" {
		return code
	}
	return "key:" + key
}

func (in *Input) keyDown(key, code string) error {
	id := keyID(key, code)
	if h, ok := in.held[id]; ok {
		// The browser repeats a held key: type it again, but never a
		// modifier or a lock key, which would toggle.
		if h.suspended || h.altGraph || isModifierKeysym(h.sym) {
			return nil
		}
		if err := in.keyUp(id); err != nil {
			return err
		}
	}
	in.restorePending()
	if key == "AltGraph" {
		in.held[id] = &heldKey{altGraph: true}
		return nil
	}
	if in.stale.Load() {
		if err := in.refreshKeymap(); err != nil {
			return err
		}
	}
	ctrl, alt := in.heldControlAlt()
	sym, ok := keysymFor(key, code, ctrl && !alt)
	if !ok {
		if keyIgnored(key) {
			return nil
		}
		return ErrUnknownKey
	}
	h := &heldKey{sym: sym}
	if isKeypadKeysym(sym) {
		kc, err := in.keypadKeycode(sym)
		if err != nil {
			return err
		}
		h.kc = kc
	} else if _, printable := printableRune(key); !printable {
		// A named key is pressed as is, with whatever modifiers the viewer
		// holds: Shift+Tab, Ctrl+Shift+End.
		kc, err := in.keycodeFor(sym)
		if err != nil {
			return err
		}
		h.kc = kc
	} else {
		if ctrl && alt {
			// How Windows reports AltGr: type the character alone.
			h.lifted = in.lift(func(o *heldKey) bool { return isControlSym(o.sym) || isAltSym(o.sym) })
		}
		shortcut := ctrl && !alt
		c, err := in.choose(sym, shortcut)
		if err != nil {
			return err
		}
		h.kc = c.kc
		if !c.free && c.shift != in.modDown(xproto.MapIndexShift) {
			if c.shift {
				in.press(in.km.shiftKey)
				h.added = append(h.added, in.km.shiftKey)
			} else {
				h.lifted = append(h.lifted, in.lift(func(o *heldKey) bool { return in.km.inMod(xproto.MapIndexShift, o.kc) })...)
			}
		}
		if in.km.level3Key != 0 && c.level3 != in.modDown(in.km.level3Mod) {
			if c.level3 {
				in.press(in.km.level3Key)
				h.added = append(h.added, in.km.level3Key)
			} else {
				h.lifted = append(h.lifted, in.lift(func(o *heldKey) bool { return in.km.inMod(in.km.level3Mod, o.kc) })...)
			}
		}
	}
	in.press(h.kc)
	in.held[id] = h
	if len(h.added) > 0 || len(h.lifted) > 0 {
		in.pending = id
	}
	return nil
}

func isControlSym(sym uint32) bool { return sym == xkControlL || sym == xkControlR }

func isAltSym(sym uint32) bool {
	return sym == xkAltL || sym == xkAltR || sym == xkMetaL || sym == xkMetaR
}

// heldControlAlt says whether the viewer holds Control, and Alt.
func (in *Input) heldControlAlt() (ctrl, alt bool) {
	for _, h := range in.held {
		if h.suspended {
			continue
		}
		ctrl = ctrl || isControlSym(h.sym)
		alt = alt || isAltSym(h.sym) || h.altGraph
	}
	return ctrl, alt
}

func (in *Input) keyUp(id string) error {
	h, ok := in.held[id]
	if !ok {
		return nil
	}
	delete(in.held, id)
	if !h.suspended && !h.altGraph {
		in.release(h.kc)
	}
	if in.pending == id {
		in.undo(h)
		in.pending = ""
	}
	return nil
}

// restorePending undoes the modifier changes of the pending key, if any:
// they were for that key alone.
func (in *Input) restorePending() {
	if in.pending == "" {
		return
	}
	if h, ok := in.held[in.pending]; ok {
		in.undo(h)
	}
	in.pending = ""
}

// undo releases the modifiers h added and presses back those it lifted
// that the viewer still holds.
func (in *Input) undo(h *heldKey) {
	for i := len(h.added) - 1; i >= 0; i-- {
		in.release(h.added[i])
	}
	for _, id := range h.lifted {
		if o, ok := in.held[id]; ok && o.suspended {
			o.suspended = false
			in.press(o.kc)
		}
	}
	h.added, h.lifted = nil, nil
}

// lift releases the viewer's held keys that match and returns their codes.
func (in *Input) lift(match func(*heldKey) bool) []string {
	var ids []string
	for id, o := range in.held {
		if !o.suspended && match(o) {
			o.suspended = true
			in.release(o.kc)
			ids = append(ids, id)
		}
	}
	return ids
}

func (in *Input) press(kc xproto.Keycode) {
	if in.down[kc] == 0 {
		in.fake(fakeKeyPress, byte(kc), 0, 0)
	}
	in.down[kc]++
}

func (in *Input) release(kc xproto.Keycode) {
	switch in.down[kc] {
	case 0:
		return
	case 1:
		delete(in.down, kc)
		in.fake(fakeKeyRelease, byte(kc), 0, 0)
	default:
		in.down[kc]--
	}
}

// modDown says whether a key of modifier mod is down through this Input.
func (in *Input) modDown(mod int) bool {
	for _, kc := range in.km.mods[mod] {
		if in.down[kc] > 0 {
			return true
		}
	}
	return false
}

// keycodeFor finds the keycode whose first level is sym, for a named key
// (pressed with whatever modifiers are held), or maps a spare one to it.
func (in *Input) keycodeFor(sym uint32) (xproto.Keycode, error) {
	for kc := int(in.km.min); kc <= int(in.km.max); kc++ {
		if in.km.at(xproto.Keycode(kc), 0) == sym {
			in.touchSpare(xproto.Keycode(kc))
			return xproto.Keycode(kc), nil
		}
	}
	return in.mapSpare(sym)
}

// keypadKeycode finds the keypad key for a KP_ keysym and sets NumLock as
// that key needs: on for the digits, off for the movement keysyms. In the
// keymaps of X servers Shift does not choose the level of keypad keys,
// NumLock does. Modifiers stay as the viewer holds them.
func (in *Input) keypadKeycode(sym uint32) (xproto.Keycode, error) {
	for col := range 2 {
		for kc := int(in.km.min); kc <= int(in.km.max); kc++ {
			k := xproto.Keycode(kc)
			if in.km.at(k, col) != sym {
				continue
			}
			lo, hi := in.km.at(k, 0), in.km.at(k, 1)
			if hi != 0 && hi != lo && isKeypadKeysym(hi) && isKeypadKeysym(lo) {
				if err := in.setNumLock(col == 1); err != nil {
					return 0, err
				}
			}
			in.touchSpare(k)
			return k, nil
		}
	}
	return in.mapSpare(sym)
}

// setNumLock taps the Num_Lock key when NumLock is not as wanted.
func (in *Input) setNumLock(on bool) error {
	if in.km.numLockMask == 0 {
		return nil
	}
	p, err := xproto.QueryPointer(in.conn, in.root).Reply()
	if err != nil {
		return fmt.Errorf("modifier state: %w", err)
	}
	if (p.Mask&in.km.numLockMask != 0) == on {
		return nil
	}
	kc, err := in.keycodeFor(xkNumLock)
	if err != nil {
		return err
	}
	if in.down[kc] == 0 {
		in.fake(fakeKeyPress, byte(kc), 0, 0)
		in.fake(fakeKeyRelease, byte(kc), 0, 0)
	}
	return nil
}

// choice is a key that types a keysym and the modifiers it needs.
type choice struct {
	kc     xproto.Keycode
	free   bool // the level does not depend on Shift
	shift  bool
	level3 bool
}

// choose finds the keycode and level that type sym, preferring those that
// need the fewest modifier changes; it maps a spare keycode to sym when
// the keymap has none. With shortcut, a letter may be typed in either case
// and Shift is left as the viewer holds it.
func (in *Input) choose(sym uint32, shortcut bool) (choice, error) {
	if c, ok, err := in.find(sym, shortcut); err != nil || ok {
		return c, err
	}
	if _, err := in.mapSpare(sym); err != nil {
		return choice{}, err
	}
	c, ok, err := in.find(sym, shortcut)
	if err == nil && !ok {
		err = fmt.Errorf("keysym %#x: not found after mapping it", sym)
	}
	return c, err
}

func (in *Input) find(sym uint32, shortcut bool) (choice, bool, error) {
	want, wantOK := keysymRune(sym)
	other := sym
	if shortcut && sym < 0x80 {
		lo, up := caseOf(sym)
		other = lo ^ up ^ sym
	}
	matches := func(s uint32) bool {
		if s == sym || s == other {
			return true
		}
		r, ok := keysymRune(s)
		return ok && wantOK && r == want
	}
	shiftOn := in.modDown(xproto.MapIndexShift)
	level3On := in.km.level3Key != 0 && in.modDown(in.km.level3Mod)
	cols := []int{0, 1}
	if in.km.level3Key != 0 && in.km.per >= 6 {
		cols = append(cols, 4, 5)
	}
	var state *uint16 // the server's modifier state, read when needed
	best, bestCost := choice{}, -1
	for kc := int(in.km.min); kc <= int(in.km.max); kc++ {
		for _, col := range cols {
			if s := in.km.at(xproto.Keycode(kc), col); s == 0 || !matches(s) {
				continue
			}
			base := col &^ 1
			lo, hi := in.km.at(xproto.Keycode(kc), base), in.km.at(xproto.Keycode(kc), base+1)
			c := choice{kc: xproto.Keycode(kc), level3: base == 4}
			// Shift does not matter to a key with one level, nor to a
			// letter of a shortcut, which matches in either case.
			c.free = hi == 0 || matches(lo) && matches(hi)
			if !c.free {
				c.shift = col&1 == 1
				l, u := caseOf(lo)
				cased := l == lo && u == hi && l != u
				if cased {
					if state == nil {
						p, err := xproto.QueryPointer(in.conn, in.root).Reply()
						if err != nil {
							return choice{}, false, fmt.Errorf("modifier state: %w", err)
						}
						state = &p.Mask
					}
					// Caps Lock turns the level of letters over.
					if *state&xproto.ModMaskLock != 0 {
						c.shift = !c.shift
					}
				}
			}
			cost := 0
			if !c.free && c.shift != shiftOn {
				if c.shift && in.km.shiftKey == 0 {
					continue
				}
				cost++
				if !c.shift {
					cost++ // releasing the viewer's Shift shows
				}
			}
			if c.level3 != level3On {
				cost++
			}
			if bestCost < 0 || cost < bestCost {
				best, bestCost = c, cost
			}
		}
	}
	if bestCost >= 0 {
		in.touchSpare(best.kc)
	}
	return best, bestCost >= 0, nil
}

// mapSpare maps the least recently used spare keycode that is not down to
// sym: a letter as its lower and upper case, anything else on both levels
// so that Shift does not change it.
func (in *Input) mapSpare(sym uint32) (xproto.Keycode, error) {
	var pick *spare
	for i := range in.spares {
		s := &in.spares[i]
		if s.broken || in.down[s.kc] > 0 {
			continue
		}
		if pick == nil || s.used < pick.used {
			pick = s
		}
	}
	if pick == nil {
		return 0, fmt.Errorf("keysym %#x is not in the keymap and all %d spare keycodes are in use", sym, len(in.spares))
	}
	lo, up := caseOf(sym)
	if lo == up {
		lo, up = sym, sym
	}
	syms := []xproto.Keysym{xproto.Keysym(lo), xproto.Keysym(up)}
	if err := xproto.ChangeKeyboardMappingChecked(in.conn, 1, pick.kc, 2, syms).Check(); err != nil {
		return 0, fmt.Errorf("map keycode %d to keysym %#x: %w", pick.kc, sym, err)
	}
	// Apps learn of the new mapping from a MappingNotify and then ask
	// for it: Chromium types with the keycode's old keysym when the key
	// comes right after the change. Give them a moment.
	time.Sleep(remapSettle)
	in.km.set(pick.kc, lo, up)
	pick.syms = [2]uint32{lo, up}
	in.tick++
	pick.used = in.tick
	return pick.kc, nil
}

func (in *Input) touchSpare(kc xproto.Keycode) {
	for i := range in.spares {
		if in.spares[i].kc == kc {
			in.tick++
			in.spares[i].used = in.tick
		}
	}
}

// refreshKeymap reads the keymap again after a MappingNotify. Spares that
// someone else remapped are given up.
func (in *Input) refreshKeymap() error {
	in.stale.Store(false)
	if err := in.loadKeymap(); err != nil {
		return err
	}
	for i := range in.spares {
		s := &in.spares[i]
		switch {
		case in.km.empty(s.kc):
			s.syms = [2]uint32{}
		case in.km.at(s.kc, 0) != s.syms[0]:
			// The server may show a one-level key as sym, NoSymbol: only
			// the first level tells whether it is still ours.
			s.broken = true
		}
	}
	return nil
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

// keymap is the display's keyboard mapping as the core protocol gives it:
// per keysyms for each keycode, in the core columns (group 1 levels 1 and
// 2, group 2 levels 1 and 2, group 1 levels 3 and 4, ...).
type keymap struct {
	min, max xproto.Keycode
	per      int
	syms     []xproto.Keysym
	mods     [8][]xproto.Keycode // the keycodes of each modifier

	shiftKey    xproto.Keycode // a Shift key to press, or 0
	level3Key   xproto.Keycode // an ISO_Level3_Shift key bound to a modifier, or 0
	level3Mod   int            // its modifier index
	numLockMask uint16         // the modifier bit of Num_Lock, or 0
}

func (in *Input) loadKeymap() error {
	setup := xproto.Setup(in.conn)
	km := keymap{min: setup.MinKeycode, max: setup.MaxKeycode}
	r, err := xproto.GetKeyboardMapping(in.conn, km.min, byte(int(km.max)-int(km.min)+1)).Reply()
	if err != nil {
		return fmt.Errorf("read keyboard mapping: %w", err)
	}
	km.per, km.syms = int(r.KeysymsPerKeycode), r.Keysyms
	if km.per == 0 {
		return errors.New("read keyboard mapping: no keysyms per keycode")
	}
	m, err := xproto.GetModifierMapping(in.conn).Reply()
	if err != nil {
		return fmt.Errorf("read modifier mapping: %w", err)
	}
	if n := int(m.KeycodesPerModifier); n > 0 {
		for i := range 8 {
			for _, kc := range m.Keycodes[i*n : (i+1)*n] {
				if kc != 0 {
					km.mods[i] = append(km.mods[i], kc)
				}
			}
		}
	}
	for _, kc := range km.mods[xproto.MapIndexShift] {
		if s := km.at(kc, 0); (s == xkShiftL || s == xkShiftR) && km.shiftKey == 0 {
			km.shiftKey = kc
		}
	}
	for i := xproto.MapIndex1; i <= xproto.MapIndex5; i++ {
		for _, kc := range km.mods[i] {
			switch km.at(kc, 0) {
			case xkISOLevel3Shift:
				if km.level3Key == 0 {
					km.level3Key, km.level3Mod = kc, i
				}
			case xkNumLock:
				km.numLockMask = 1 << i
			}
		}
	}
	in.km = km
	return nil
}

func (m *keymap) at(kc xproto.Keycode, col int) uint32 {
	if kc < m.min || kc > m.max || col >= m.per {
		return 0
	}
	return uint32(m.syms[int(kc-m.min)*m.per+col])
}

func (m *keymap) set(kc xproto.Keycode, lo, up uint32) {
	row := m.syms[int(kc-m.min)*m.per : int(kc-m.min+1)*m.per]
	clear(row)
	row[0] = xproto.Keysym(lo)
	if m.per > 1 {
		row[1] = xproto.Keysym(up)
	}
}

func (m *keymap) empty(kc xproto.Keycode) bool {
	for col := range m.per {
		if m.at(kc, col) != 0 {
			return false
		}
	}
	return true
}

func (m *keymap) inMod(mod int, kc xproto.Keycode) bool {
	for _, k := range m.mods[mod] {
		if k == kc {
			return true
		}
	}
	return false
}

func (m *keymap) isModifier(kc xproto.Keycode) bool {
	for mod := range m.mods {
		if m.inMod(mod, kc) {
			return true
		}
	}
	return false
}
