package desktop

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// inputTarget is the test's own window: it covers the screen, has the
// keyboard focus and records the key and button events it gets, as an
// app would see them.
type inputTarget struct {
	t      *testing.T
	conn   *xgb.Conn
	root   xproto.Window
	win    xproto.Window
	events chan xgb.Event
}

// markerType is the ClientMessage type the target sends itself to know
// it has seen every event made before.
const markerType = 0x4d41524b

func newInputTarget(t *testing.T, display string) *inputTarget {
	t.Helper()
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatal(err)
	}
	tg := &inputTarget{t: t, conn: conn, events: make(chan xgb.Event, 10000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, xerr := conn.WaitForEvent()
			if ev == nil && xerr == nil {
				return
			}
			if ev != nil {
				tg.events <- ev
			}
		}
	}()
	// Close before the display goes, and wait, so that the connection
	// does not see its server die.
	t.Cleanup(func() { conn.Close(); <-done })

	screen := xproto.Setup(conn).DefaultScreen(conn)
	tg.root = screen.Root
	if tg.win, err = xproto.NewWindowId(conn); err != nil {
		t.Fatal(err)
	}
	mask := uint32(xproto.EventMaskKeyPress | xproto.EventMaskKeyRelease |
		xproto.EventMaskButtonPress | xproto.EventMaskButtonRelease)
	if err := xproto.CreateWindowChecked(conn, screen.RootDepth, tg.win, screen.Root, 0, 0, 1280, 720, 0,
		xproto.WindowClassInputOutput, screen.RootVisual,
		xproto.CwBackPixel|xproto.CwOverrideRedirect|xproto.CwEventMask,
		[]uint32{screen.WhitePixel, 1, mask}).Check(); err != nil {
		t.Fatal(err)
	}
	if err := xproto.MapWindowChecked(conn, tg.win).Check(); err != nil {
		t.Fatal(err)
	}
	// The focus can only go to a viewable window: try until it is.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := xproto.SetInputFocusChecked(conn, xproto.InputFocusPointerRoot, tg.win, xproto.TimeCurrentTime).Check()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("focus the test window: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return tg
}

// drain returns the key and button events the window got up to now: it
// sends itself a marker event, which comes after every event the server
// made before, and reads until the marker.
func (tg *inputTarget) drain() []xgb.Event {
	tg.t.Helper()
	ev := xproto.ClientMessageEvent{Format: 32, Window: tg.win, Type: markerType,
		Data: xproto.ClientMessageDataUnionData32New([]uint32{0, 0, 0, 0, 0})}
	if err := xproto.SendEventChecked(tg.conn, false, tg.win, xproto.EventMaskNoEvent, string(ev.Bytes())).Check(); err != nil {
		tg.t.Fatal(err)
	}
	var got []xgb.Event
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-tg.events:
			switch e := ev.(type) {
			case xproto.ClientMessageEvent:
				if e.Type == markerType {
					return got
				}
			case xproto.KeyPressEvent, xproto.KeyReleaseEvent, xproto.ButtonPressEvent, xproto.ButtonReleaseEvent:
				got = append(got, ev)
			}
		case <-timeout:
			tg.t.Fatal("the marker event did not come back within 5s")
		}
	}
}

// keysym is what an app reads for a key event: the keysym of keycode at
// the level state selects in the current keyboard mapping (Shift for
// level 2, the modifier of ISO_Level3_Shift adds 2; NumLock selects the
// digits of the keypad).
func (tg *inputTarget) keysym(kc xproto.Keycode, state uint16) uint32 {
	tg.t.Helper()
	syms := tg.keysyms(kc)
	m, err := xproto.GetModifierMapping(tg.conn).Reply()
	if err != nil {
		tg.t.Fatal(err)
	}
	col := 0
	if state&xproto.ModMaskShift != 0 {
		col = 1
	}
	n := int(m.KeycodesPerModifier)
	for i := 3; i < 8; i++ {
		if state&(1<<i) == 0 {
			continue
		}
		for _, k := range m.Keycodes[i*n : (i+1)*n] {
			if k == 0 {
				continue
			}
			switch tg.keysyms(k)[0] {
			case xkISOLevel3Shift:
				col += 4
			case xkNumLock:
				if len(syms) > 1 && isKeypadKeysym(syms[1]) {
					col ^= 1
				}
			}
		}
	}
	if col >= len(syms) {
		return 0
	}
	if col%2 == 1 && syms[col] == 0 {
		col-- // a one-level key
	}
	return syms[col]
}

func (tg *inputTarget) keysyms(kc xproto.Keycode) []uint32 {
	tg.t.Helper()
	r, err := xproto.GetKeyboardMapping(tg.conn, kc, 1).Reply()
	if err != nil {
		tg.t.Fatal(err)
	}
	syms := make([]uint32, len(r.Keysyms))
	for i, s := range r.Keysyms {
		syms[i] = uint32(s)
	}
	return syms
}

// keysDown lists the keycodes the server has down.
func (tg *inputTarget) keysDown() []int {
	tg.t.Helper()
	r, err := xproto.QueryKeymap(tg.conn).Reply()
	if err != nil {
		tg.t.Fatal(err)
	}
	var down []int
	for i, b := range r.Keys {
		for bit := range 8 {
			if b&(1<<bit) != 0 {
				down = append(down, i*8+bit)
			}
		}
	}
	return down
}

func (tg *inputTarget) pointer() *xproto.QueryPointerReply {
	tg.t.Helper()
	p, err := xproto.QueryPointer(tg.conn, tg.root).Reply()
	if err != nil {
		tg.t.Fatal(err)
	}
	return p
}

func openTestInput(t *testing.T, display string) *Input {
	t.Helper()
	in, err := NewInput(display)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := in.Close(); err != nil {
			t.Errorf("close input: %v", err)
		}
	})
	return in
}

func TestInputMove(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	for _, tc := range []struct{ x, y, wantX, wantY int }{
		{640, 360, 640, 360},
		{0, 0, 0, 0},
		{1279, 719, 1279, 719},
		{100, 200, 100, 200},
		{5000, -20, 1279, 0}, // outside the screen: X keeps it at the edge
	} {
		if err := in.Move(tc.x, tc.y); err != nil {
			t.Fatal(err)
		}
		in.conn.Sync() // Move does not wait for the server
		p := tg.pointer()
		if int(p.RootX) != tc.wantX || int(p.RootY) != tc.wantY {
			t.Errorf("Move(%d, %d): pointer at %d,%d, want %d,%d", tc.x, tc.y, p.RootX, p.RootY, tc.wantX, tc.wantY)
		}
	}
}

func TestInputButtons(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	for _, tc := range []struct {
		b    int
		x, y int
	}{{1, 10, 20}, {2, 640, 360}, {3, 1200, 700}} {
		if err := in.Move(tc.x, tc.y); err != nil {
			t.Fatal(err)
		}
		if err := in.Button(tc.b, true); err != nil {
			t.Fatal(err)
		}
		// A second press of a held button is not sent again.
		if err := in.Button(tc.b, true); err != nil {
			t.Fatal(err)
		}
		if mask := tg.pointer().Mask; mask&(xproto.KeyButMaskButton1<<(tc.b-1)) == 0 {
			t.Errorf("button %d: not down in the pointer state %#x", tc.b, mask)
		}
		if err := in.Button(tc.b, false); err != nil {
			t.Fatal(err)
		}
		evs := tg.drain()
		if len(evs) != 2 {
			t.Fatalf("button %d: %d events, want a press and a release: %v", tc.b, len(evs), evs)
		}
		press, ok1 := evs[0].(xproto.ButtonPressEvent)
		release, ok2 := evs[1].(xproto.ButtonReleaseEvent)
		if !ok1 || !ok2 || int(press.Detail) != tc.b || int(release.Detail) != tc.b {
			t.Fatalf("button %d: events %v", tc.b, evs)
		}
		if int(press.EventX) != tc.x || int(press.EventY) != tc.y {
			t.Errorf("button %d pressed at %d,%d, want %d,%d", tc.b, press.EventX, press.EventY, tc.x, tc.y)
		}
	}
	for _, b := range []int{0, 4, 8} {
		if err := in.Button(b, true); err == nil {
			t.Errorf("Button(%d) accepted", b)
		}
	}
}

func TestInputWheel(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	if err := in.Move(640, 360); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		deltas [][2]float64 // dx, dy
		want   []int        // buttons clicked
	}{
		{"one notch down", [][2]float64{{0, 100}}, []int{5}},
		{"one notch up", [][2]float64{{0, -100}}, []int{4}},
		{"two notches at once", [][2]float64{{0, 240}}, []int{5, 5}},
		{"touchpad deltas add up", [][2]float64{{0, 30}, {0, 30}, {0, 30}, {0, 30}}, []int{5}},
		{"left over kept", [][2]float64{{0, 50}, {0, 50}}, []int{5}},
		{"direction change drops the rest", [][2]float64{{0, 90}, {0, -100}}, []int{4}},
		{"horizontal", [][2]float64{{100, 0}, {-100, 0}}, []int{7, 6}},
		{"both", [][2]float64{{-100, 100}}, []int{5, 6}},
		{"too small", [][2]float64{{0, 5}}, nil},
		{"bounded", [][2]float64{{0, 1e9}}, slices.Repeat([]int{5}, maxWheelClicks)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, dd := range tc.deltas {
				if err := in.Wheel(dd[0], dd[1]); err != nil {
					t.Fatal(err)
				}
			}
			var got []int
			for i, ev := range tg.drain() {
				switch e := ev.(type) {
				case xproto.ButtonPressEvent:
					got = append(got, int(e.Detail))
				case xproto.ButtonReleaseEvent:
					if i == 0 || int(e.Detail) != got[len(got)-1] {
						t.Fatalf("release of %d without its press", e.Detail)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("clicked %v, want %v", got, tc.want)
			}
			// Start the next case from nothing left over.
			in.mu.Lock()
			in.wheelX, in.wheelY = 0, 0
			in.mu.Unlock()
		})
	}
	if err := in.Wheel(0, math.Inf(1)); err == nil {
		t.Error("an infinite delta was accepted")
	}
}

// keyStep is one key event as the viewer sends it: "d" or "u", key, code.
type keyStep struct{ dir, key, code string }

func pressStep(key, code string) keyStep   { return keyStep{"d", key, code} }
func releaseStep(key, code string) keyStep { return keyStep{"u", key, code} }

// tap is a key's down and up.
func tapSteps(key, code string) []keyStep {
	return []keyStep{pressStep(key, code), releaseStep(key, code)}
}

// typed is a key an app saw pressed: its keysym and whether Control and
// Alt were down with it.
type typed struct {
	sym       uint32
	ctrl, alt bool
}

func (k typed) String() string {
	s := fmt.Sprintf("%#x", k.sym)
	if r, ok := keysymRune(k.sym); ok {
		s = fmt.Sprintf("%q", r)
	}
	if k.ctrl {
		s = "Ctrl+" + s
	}
	if k.alt {
		s = "Alt+" + s
	}
	return s
}

// sameKey compares keysyms by the character they type, so that the
// euro sign's legacy keysym equals its Unicode one.
func sameKey(a, b typed) bool {
	if a.ctrl != b.ctrl || a.alt != b.alt {
		return false
	}
	ra, oka := keysymRune(a.sym)
	rb, okb := keysymRune(b.sym)
	if oka && okb {
		return ra == rb
	}
	return a.sym == b.sym
}

func joinSteps(parts ...any) []keyStep {
	var out []keyStep
	for _, p := range parts {
		switch p := p.(type) {
		case keyStep:
			out = append(out, p)
		case []keyStep:
			out = append(out, p...)
		}
	}
	return out
}

// runKeys sends the steps and returns the non-modifier keys the window
// saw pressed, checking that every key pressed was released and that no
// key is down in the server at the end.
func runKeys(t *testing.T, tg *inputTarget, in *Input, ss []keyStep) []typed {
	t.Helper()
	for _, s := range ss {
		if err := in.Key(s.dir == "d", s.key, s.code); err != nil {
			t.Fatalf("%s %q %q: %v", s.dir, s.key, s.code, err)
		}
	}
	var got []typed
	pressed := map[xproto.Keycode]int{}
	for _, ev := range tg.drain() {
		switch e := ev.(type) {
		case xproto.KeyPressEvent:
			pressed[e.Detail]++
			sym := tg.keysym(e.Detail, e.State)
			if isModifierKeysym(sym) || sym == xkISOLevel3Shift || sym == xkNumLock {
				continue
			}
			got = append(got, typed{sym: sym, ctrl: e.State&xproto.ModMaskControl != 0, alt: e.State&xproto.ModMask1 != 0})
		case xproto.KeyReleaseEvent:
			pressed[e.Detail]--
		}
	}
	for kc, n := range pressed {
		if n != 0 {
			t.Errorf("keycode %d: %d more presses than releases", kc, n)
		}
	}
	if d := tg.keysDown(); len(d) != 0 {
		t.Errorf("keys still down after the last key-up: %v", d)
	}
	return got
}

func TestInputKeys(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	ctrl := func(ks ...any) []keyStep {
		return joinSteps(pressStep("Control", "ControlLeft"), joinSteps(ks...), releaseStep("Control", "ControlLeft"))
	}
	// Windows reports AltGr as Control then AltGraph; Ctrl+Alt types the
	// same characters there.
	altGr := func(ks ...any) []keyStep {
		return joinSteps(pressStep("Control", "ControlLeft"), pressStep("AltGraph", "AltRight"), joinSteps(ks...),
			releaseStep("AltGraph", "AltRight"), releaseStep("Control", "ControlLeft"))
	}
	ctrlAlt := func(ks ...any) []keyStep {
		return joinSteps(pressStep("Control", "ControlLeft"), pressStep("Alt", "AltLeft"), joinSteps(ks...),
			releaseStep("Alt", "AltLeft"), releaseStep("Control", "ControlLeft"))
	}
	shift := func(ks ...any) []keyStep {
		return joinSteps(pressStep("Shift", "ShiftLeft"), joinSteps(ks...), releaseStep("Shift", "ShiftLeft"))
	}
	ch := func(r rune) typed { return typed{sym: runeKeysym(r)} }
	for _, tc := range []struct {
		name  string
		steps []keyStep
		want  []typed
	}{
		{"a", tapSteps("a", "KeyA"), []typed{ch('a')}},
		{"A with Shift", shift(tapSteps("A", "KeyA")), []typed{ch('A')}},
		{"A without Shift held", tapSteps("A", "KeyA"), []typed{ch('A')}},
		{"é on AZERTY", tapSteps("é", "Digit2"), []typed{ch('é')}},
		{"è ç à ù on AZERTY", joinSteps(tapSteps("è", "Digit7"), tapSteps("ç", "Digit9"), tapSteps("à", "Digit0"), tapSteps("ù", "Quote")),
			[]typed{ch('è'), ch('ç'), ch('à'), ch('ù')}},
		{"€ with AltGr (Control, AltGraph)", altGr(tapSteps("€", "KeyE")), []typed{ch('€')}},
		{"€ with Control+Alt", ctrlAlt(tapSteps("€", "KeyE")), []typed{ch('€')}},
		{"@ with AltGr on AZERTY", altGr(tapSteps("@", "Digit0")), []typed{ch('@')}},
		{"@ with Control+Alt", ctrlAlt(tapSteps("@", "Digit0")), []typed{ch('@')}},
		{"@ with AltGraph alone (Linux)", joinSteps(pressStep("AltGraph", "AltRight"), tapSteps("@", "KeyQ"), releaseStep("AltGraph", "AltRight")),
			[]typed{ch('@')}},
		{"AltGr released before the character", joinSteps(pressStep("Control", "ControlLeft"), pressStep("AltGraph", "AltRight"),
			pressStep("~", "Digit2"), releaseStep("AltGraph", "AltRight"), releaseStep("Control", "ControlLeft"), releaseStep("~", "Digit2")),
			[]typed{ch('~')}},
		{"ß ü ö ä on German", joinSteps(tapSteps("ß", "Minus"), tapSteps("ü", "BracketLeft"), tapSteps("ö", "Semicolon"), tapSteps("ä", "Quote")),
			[]typed{ch('ß'), ch('ü'), ch('ö'), ch('ä')}},
		{"§ ° ² µ", joinSteps(shift(tapSteps("§", "Digit3")), shift(tapSteps("°", "Minus")), tapSteps("²", "Backquote"), altGr(tapSteps("µ", "KeyM"))),
			[]typed{ch('§'), ch('°'), ch('²'), ch('µ')}},
		{"Ä with Shift", shift(tapSteps("Ä", "Quote")), []typed{ch('Ä')}},
		{"1 with Shift held (AZERTY digits)", shift(tapSteps("1", "Digit1")), []typed{ch('1')}},
		{"Enter", tapSteps("Enter", "Enter"), []typed{{sym: xkReturn}}},
		{"Backspace", tapSteps("Backspace", "Backspace"), []typed{{sym: xkBackSpace}}},
		{"ArrowLeft", tapSteps("ArrowLeft", "ArrowLeft"), []typed{{sym: xkLeft}}},
		{"Shift+Tab keeps Shift", shift(tapSteps("Tab", "Tab")), []typed{{sym: 0xfe20}}}, // ISO_Left_Tab
		{"F5", tapSteps("F5", "F5"), []typed{{sym: xkF1 + 4}}},
		{"Escape Delete Home End PageUp", joinSteps(tapSteps("Escape", "Escape"), tapSteps("Delete", "Delete"), tapSteps("Home", "Home"),
			tapSteps("End", "End"), tapSteps("PageUp", "PageUp")),
			[]typed{{sym: xkEscape}, {sym: xkDelete}, {sym: xkHome}, {sym: xkEnd}, {sym: xkPrior}}},
		{"Ctrl+c", ctrl(tapSteps("c", "KeyC")), []typed{{sym: 'c', ctrl: true}}},
		{"Ctrl+Shift+T", ctrl(shift(tapSteps("T", "KeyT"))), []typed{{sym: 'T', ctrl: true}}},
		{"Ctrl+с on Russian", ctrl(tapSteps("с", "KeyC")), []typed{{sym: 'c', ctrl: true}}},
		{"Ctrl+Shift+С on Russian", ctrl(shift(tapSteps("С", "KeyC"))), []typed{{sym: 'C', ctrl: true}}},
		{"Ctrl+é on AZERTY", ctrl(tapSteps("é", "Digit2")), []typed{{sym: '2', ctrl: true}}},
		{"Alt+f", joinSteps(pressStep("Alt", "AltLeft"), tapSteps("f", "KeyF"), releaseStep("Alt", "AltLeft")), []typed{{sym: 'f', alt: true}}},
		{"Ctrl+Alt+Delete", ctrlAlt(tapSteps("Delete", "Delete")), []typed{{sym: xkDelete, ctrl: true, alt: true}}},
		{"repeat", joinSteps(pressStep("a", "KeyA"), pressStep("a", "KeyA"), pressStep("a", "KeyA"), releaseStep("a", "KeyA")),
			[]typed{ch('a'), ch('a'), ch('a')}},
		{"repeat of a remapped character", joinSteps(pressStep("é", "Digit2"), pressStep("é", "Digit2"), releaseStep("é", "Digit2")),
			[]typed{ch('é'), ch('é')}},
		{"modifier repeat", shift(pressStep("Shift", "ShiftLeft"), tapSteps("B", "KeyB")), []typed{ch('B')}},
		{"dead key", joinSteps(tapSteps("Dead", "BracketLeft"), tapSteps("ê", "KeyE")), []typed{ch('ê')}},
		{"ignored keys", joinSteps(tapSteps("Unidentified", ""), tapSteps("Process", "KeyA")), nil},
		{"up without down", joinSteps(releaseStep("x", "KeyX")), nil},
		{"overlapping keys", joinSteps(pressStep("A", "KeyA"), pressStep("b", "KeyB"), releaseStep("A", "KeyA"), releaseStep("b", "KeyB")),
			[]typed{ch('A'), ch('b')}},
		{"Cyrillic", joinSteps(tapSteps("П", "KeyG"), tapSteps("р", "KeyH"), tapSteps("и", "KeyB")), []typed{ch('П'), ch('р'), ch('и')}},
		{"Meta", tapSteps("Meta", "MetaLeft"), nil},
		{"numpad digits", joinSteps(tapSteps("1", "Numpad1"), tapSteps("+", "NumpadAdd"), tapSteps(".", "NumpadDecimal")),
			[]typed{{sym: xkKP0 + 1}, {sym: xkKPAdd}, {sym: xkKPDecimal}}},
		{"numpad movement", joinSteps(tapSteps("ArrowLeft", "Numpad4"), tapSteps("Home", "Numpad7"), tapSteps("Enter", "NumpadEnter")),
			[]typed{{sym: xkKPLeft}, {sym: xkKPHome}, {sym: xkKPEnter}}},
		{"space and tilde", joinSteps(tapSteps(" ", "Space"), shift(tapSteps("~", "Backquote"))), []typed{ch(' '), ch('~')}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runKeys(t, tg, in, tc.steps)
			if !slices.EqualFunc(got, tc.want, sameKey) {
				t.Errorf("typed %v, want %v", got, tc.want)
			}
		})
	}
}

// TestInputKeysLevel3 types characters that the keymap has on level 3
// and 4 of a key, as a German keymap has € on E: Input presses
// ISO_Level3_Shift for them instead of remapping a spare keycode.
func TestInputKeysLevel3(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	const kcE = 26
	if got := tg.keysyms(kcE)[0]; got != 'e' {
		t.Fatalf("keycode %d is %#x, not e: the test assumes the US keymap of Xvfb", kcE, got)
	}
	// e E e E EuroSign cent, as "keycode 26 = e E e E EuroSign cent".
	if err := xproto.ChangeKeyboardMappingChecked(tg.conn, 1, kcE, 6,
		[]xproto.Keysym{'e', 'E', 'e', 'E', 0x20ac, 0xa2}).Check(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !in.stale.Load() {
		if time.Now().After(deadline) {
			t.Fatal("Input saw no MappingNotify")
		}
		time.Sleep(time.Millisecond)
	}
	for _, tc := range []struct {
		steps []keyStep
		want  rune
	}{
		{tapSteps("€", "KeyE"), '€'},
		{tapSteps("¢", "KeyE"), '¢'},
		{tapSteps("e", "KeyE"), 'e'},
	} {
		if err := in.Key(true, tc.steps[0].key, tc.steps[0].code); err != nil {
			t.Fatal(err)
		}
		in.mu.Lock()
		kc := in.held[tc.steps[0].code].kc
		in.mu.Unlock()
		if kc != kcE {
			t.Errorf("%q typed with keycode %d, want %d (level 3 of E)", tc.want, kc, kcE)
		}
		if err := in.Key(false, tc.steps[1].key, tc.steps[1].code); err != nil {
			t.Fatal(err)
		}
	}
	var got []rune
	for _, ev := range tg.drain() {
		if e, ok := ev.(xproto.KeyPressEvent); ok {
			if r, ok := keysymRune(tg.keysym(e.Detail, e.State)); ok {
				got = append(got, r)
			}
		}
	}
	if string(got) != "€¢e" {
		t.Errorf("typed %q, want %q", string(got), "€¢e")
	}
	if d := tg.keysDown(); len(d) != 0 {
		t.Errorf("keys still down: %v", d)
	}
}

// TestInputSpares types more foreign characters than there are spare
// keycodes, while one of them is held: the LRU reuses the others, the held
// one keeps its keysym until it is released.
func TestInputSpares(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	var got []rune
	// Each press is read at once, while its keycode still has the keysym:
	// a later character may take the spare over.
	collect := func() {
		for _, ev := range tg.drain() {
			if e, ok := ev.(xproto.KeyPressEvent); ok {
				sym := tg.keysym(e.Detail, e.State)
				if r, ok := keysymRune(sym); ok && !isModifierKeysym(sym) {
					got = append(got, r)
				}
			}
		}
	}
	if err := in.Key(true, "ж", "Semicolon"); err != nil {
		t.Fatal(err)
	}
	collect()
	in.mu.Lock()
	heldKC := in.held["Semicolon"].kc
	in.mu.Unlock()
	text := []rune("αβγδεζηθικλμνξοπρστυφχψωΑΒΓ")
	if len(text) < 2*maxSpares {
		t.Fatal("the text does not go round the spares twice")
	}
	for _, r := range text {
		for _, down := range []bool{true, false} {
			if err := in.Key(down, string(r), "KeyQ"); err != nil {
				t.Fatal(err)
			}
		}
		collect()
	}
	if got := tg.keysyms(heldKC)[0]; got != runeKeysym('ж') {
		t.Errorf("held keycode %d remapped to %#x while down", heldKC, got)
	}
	if err := in.Key(false, "ж", "Semicolon"); err != nil {
		t.Fatal(err)
	}
	want := append([]rune{'ж'}, text...)
	if string(got) != string(want) {
		t.Errorf("typed %q, want %q", string(got), string(want))
	}
	if d := tg.keysDown(); len(d) != 0 {
		t.Errorf("keys still down: %v", d)
	}
}

func TestInputReleaseAllAndClose(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in, err := NewInput(d.Name)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := xproto.GetKeyboardControl(tg.conn).Reply()
	if err != nil {
		t.Fatal(err)
	}
	if kb.GlobalAutoRepeat != xproto.AutoRepeatModeOff {
		t.Error("autorepeat still on with an Input open")
	}
	for _, s := range joinSteps(pressStep("Shift", "ShiftLeft"), pressStep("É", "Digit2"), pressStep("Control", "ControlRight"), pressStep("A", "KeyA")) {
		if err := in.Key(true, s.key, s.code); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.Move(50, 50); err != nil {
		t.Fatal(err)
	}
	for _, b := range []int{1, 3} {
		if err := in.Button(b, true); err != nil {
			t.Fatal(err)
		}
	}
	if len(tg.keysDown()) == 0 {
		t.Fatal("no key down before ReleaseAll")
	}
	in.mu.Lock()
	var mapped []xproto.Keycode
	for _, s := range in.spares {
		if s.syms != [2]uint32{} {
			mapped = append(mapped, s.kc)
		}
	}
	in.mu.Unlock()
	if len(mapped) == 0 {
		t.Fatal("É did not use a spare keycode")
	}
	in.ReleaseAll()
	if d := tg.keysDown(); len(d) != 0 {
		t.Errorf("keys down after ReleaseAll: %v", d)
	}
	if mask := tg.pointer().Mask; mask&(xproto.KeyButMaskButton1|xproto.KeyButMaskButton2|xproto.KeyButMaskButton3) != 0 {
		t.Errorf("buttons down after ReleaseAll: state %#x", mask)
	}
	// Key-ups after ReleaseAll find nothing to release.
	if err := in.Key(false, "é", "Digit2"); err != nil {
		t.Fatal(err)
	}

	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := in.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for _, kc := range mapped {
		if syms := tg.keysyms(kc); slices.ContainsFunc(syms, func(s uint32) bool { return s != 0 }) {
			t.Errorf("spare keycode %d still mapped after Close: %x", kc, syms)
		}
	}
	if kb, err := xproto.GetKeyboardControl(tg.conn).Reply(); err != nil {
		t.Fatal(err)
	} else if kb.GlobalAutoRepeat == xproto.AutoRepeatModeOff {
		t.Error("autorepeat not turned back on by Close")
	}
	for name, call := range map[string]func() error{
		"Key":    func() error { return in.Key(true, "a", "KeyA") },
		"Move":   func() error { return in.Move(1, 1) },
		"Button": func() error { return in.Button(1, true) },
		"Wheel":  func() error { return in.Wheel(0, 100) },
	} {
		if err := call(); !errors.Is(err, ErrInputClosed) {
			t.Errorf("%s after Close: %v, want ErrInputClosed", name, err)
		}
	}
	in.ReleaseAll() // does nothing, and does not block
}

// TestInputNoAutorepeat holds a key longer than the server's repeat delay:
// the app sees one press, as the viewer's browser sends the repeats.
func TestInputNoAutorepeat(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	if err := in.Key(true, "a", "KeyA"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond) // Xvfb repeats after 660 ms
	if err := in.Key(false, "a", "KeyA"); err != nil {
		t.Fatal(err)
	}
	if evs := tg.drain(); len(evs) != 2 {
		t.Errorf("%d events for one held key, want a press and a release: %v", len(evs), evs)
	}
}

func TestInputErrors(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	in := openTestInput(t, d.Name)
	err := in.Key(true, "NoSuchKey", "")
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"NoSuchKey"`) {
		t.Errorf("unknown key: %v", err)
	}
	for _, key := range []string{"Dead", "AltGraph", "Unidentified", ""} {
		if err := in.Key(true, key, "KeyQ"); err != nil {
			t.Errorf("%q: %v, want it ignored", key, err)
		}
		if err := in.Key(false, key, "KeyQ"); err != nil {
			t.Errorf("%q up: %v", key, err)
		}
	}
	if _, err := NewInput(":7999"); err == nil || !strings.Contains(err.Error(), ":7999") {
		t.Errorf("no such display: %v", err)
	}
}

func TestInputWithoutXTest(t *testing.T) {
	name := startXvfbWithout(t, "XTEST")
	_, err := NewInput(name)
	if err == nil || !strings.Contains(err.Error(), "XTEST") {
		t.Fatalf("NewInput on a display without XTEST: %v, want an error naming XTEST", err)
	}
}

// startXvfbWithout starts Xvfb with an extension disabled, on a display
// number no one uses.
func startXvfbWithout(t *testing.T, ext string) string {
	t.Helper()
	startTestDisplay(t, 64, 64) // installs Xvfb when missing
	for n := 700 + os.Getpid()%200; n < 1100; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		cmd := exec.Command("Xvfb", fmt.Sprintf(":%d", n), "-screen", "0", "640x480x24", "-nolisten", "tcp", "-extension", ext)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		sock := fmt.Sprintf("/tmp/.X11-unix/X%d", n)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				return fmt.Sprintf(":%d", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Fatal("could not start Xvfb on any display number")
	return ""
}

// TestInputConcurrent drives one Input from several goroutines, for the
// race detector.
func TestInputConcurrent(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				var err error
				switch (g + i) % 4 {
				case 0:
					err = in.Move(i*10, g*100)
				case 1:
					code := fmt.Sprintf("Key%c", 'A'+g)
					if err = in.Key(true, string(rune('a'+g)), code); err == nil {
						err = in.Key(false, string(rune('a'+g)), code)
					}
				case 2:
					err = in.Wheel(0, 30)
				case 3:
					if err = in.Button(1+g%3, true); err == nil {
						err = in.Button(1+g%3, false)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := tg.keysDown(); len(d) != 0 {
		t.Errorf("keys still down: %v", d)
	}
}

// TestInputType types committed text, as an input method gives it: each
// character as itself, Enter and Tab for '\n' and '\t', never as a
// shortcut of a held Control, which is pressed again after.
func TestInputType(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	in := openTestInput(t, d.Name)
	if err := in.Key(true, "Control", "ControlLeft"); err != nil {
		t.Fatal(err)
	}
	if err := in.Type("aÉ中😀\n\tx"); err != nil {
		t.Fatal(err)
	}
	ctrlAfter := len(tg.keysDown()) == 1
	if err := in.Key(false, "Control", "ControlLeft"); err != nil {
		t.Fatal(err)
	}
	var got []typed
	for _, ev := range tg.drain() {
		if e, ok := ev.(xproto.KeyPressEvent); ok {
			if sym := tg.keysym(e.Detail, e.State); !isModifierKeysym(sym) {
				got = append(got, typed{sym: sym, ctrl: e.State&xproto.ModMaskControl != 0})
			}
		}
	}
	want := []typed{{sym: 'a'}, {sym: runeKeysym('É')}, {sym: runeKeysym('中')}, {sym: runeKeysym('😀')}, {sym: xkReturn}, {sym: xkTab}, {sym: 'x'}}
	if !slices.EqualFunc(got, want, sameKey) {
		t.Errorf("typed %v, want %v", got, want)
	}
	if !ctrlAfter {
		t.Error("the held Control is not down again after the text")
	}
	if d := tg.keysDown(); len(d) != 0 {
		t.Errorf("keys still down: %v", d)
	}
	if err := in.Type("a\x07"); err == nil || !strings.Contains(err.Error(), "U+0007") {
		t.Errorf("a control character: %v", err)
	}
}
