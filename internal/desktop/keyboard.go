package desktop

import (
	"errors"
	"fmt"

	"github.com/jezek/xgb/xproto"
)

// ErrUnknownKey is wrapped by the error Key returns for a key name it has
// no X keysym for.
var ErrUnknownKey = errors.New("no X keysym for this key")

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
	return in.keyDownAs(keyID(key, code), key, code)
}

// keyDownAs is keyDown for the key that a key-up of id releases.
func (in *Input) keyDownAs(id, key, code string) error {
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
		for i := range in.spares {
			if in.spares[i].kc == kc {
				in.spares[i].dirty = true
			}
		}
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
