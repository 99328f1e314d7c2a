package desktop

import (
	"fmt"
	"time"

	"github.com/jezek/xgb/xproto"
)

// spare is a keycode that had no keysym in the keymap, which Key maps to
// the keysyms it needs. used orders them for reuse, least recent first.
type spare struct {
	kc     xproto.Keycode
	syms   [2]uint32 // what it was mapped to; zero when free
	used   uint64
	broken bool // remapped by someone else since: no longer ours
	// dirty: pressed since the last appSync, so the app may not have
	// read that press yet and the keycode must not be remapped before.
	dirty bool
}

// maxSpares is how many keycodes without keysyms Input may remap: enough
// that the characters of a word typed in a foreign script stay mapped, and
// that a few keys held at once keep theirs.
const maxSpares = 10

// remapSettle is how long mapSpare waits, after the app has read the
// MappingNotify of a remapped keycode, for the key's name to be right
// too (see mapSpare). The typed character does not depend on it. Only
// the first use of a character that the keymap lacks pays it.
const remapSettle = 20 * time.Millisecond

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
	if pick.dirty {
		// Remapping it now could change what its last press typed.
		if err := in.appSync(); err != nil {
			return 0, err
		}
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
	// for it. Wait for the app to have read the notification; then a
	// moment more, as Chromium refreshes the keymap it names keys with
	// (KeyboardEvent.key) apart from the one it types with: a press right
	// after the change types the right character with the key "\u0000".
	if err := in.appSync(); err != nil {
		return 0, err
	}
	if !in.typing {
		time.Sleep(remapSettle)
	}
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
