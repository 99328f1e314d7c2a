package desktop

import (
	"fmt"

	"github.com/jezek/xgb/xproto"
)

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
