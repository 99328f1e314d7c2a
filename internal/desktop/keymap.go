package desktop

import (
	"errors"
	"fmt"

	"github.com/jezek/xgb/xproto"
)

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
