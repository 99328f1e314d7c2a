package desktop

import (
	"testing"
	"time"

	"github.com/jezek/xgb/xproto"
)

// TestInputSparesWaitForTheApp types more distinct letters than there
// are spares into an app that reads its events late, as a busy one does,
// and answers _NET_WM_PING as it reads: each press must still type its
// own letter, though its keycode is remapped for later ones.
func TestInputSparesWaitForTheApp(t *testing.T) {
	d := startTestDisplay(t, 1280, 720)
	tg := newInputTarget(t, d.Name)
	atom := func(name string) xproto.Atom {
		r, err := xproto.InternAtom(tg.conn, false, uint16(len(name)), name).Reply()
		if err != nil {
			t.Fatal(err)
		}
		return r.Atom
	}
	protocols, ping := atom("WM_PROTOCOLS"), atom("_NET_WM_PING")
	p := []byte{byte(ping), byte(ping >> 8), byte(ping >> 16), byte(ping >> 24)}
	if err := xproto.ChangePropertyChecked(tg.conn, xproto.PropModeReplace, tg.win, protocols, xproto.AtomAtom, 32, 1, p).Check(); err != nil {
		t.Fatal(err)
	}
	in := openTestInput(t, d.Name)

	word := []rune("αβγδεζηθικλμνξοπρστυφχψω")
	if len(word) < 2*maxSpares {
		t.Fatal("the word does not go round the spares twice")
	}
	typed := make(chan error, 1)
	go func() {
		for _, r := range word {
			for _, down := range []bool{true, false} {
				if err := in.Key(down, string(r), ""); err != nil {
					typed <- err
					return
				}
			}
		}
		typed <- nil
	}()
	// The app reads nothing until the typing is done, or has waited a
	// second for it.
	var err error
	done := false
	select {
	case err = <-typed:
		done = true
	case <-time.After(time.Second):
	}
	// Then it reads as an app does: a press becomes the keysym its
	// keycode has as it is read, and a ping is answered on the root.
	got := make(chan []rune, 1)
	go func() {
		var rs []rune
		for ev := range tg.events {
			switch e := ev.(type) {
			case xproto.KeyPressEvent:
				m, err := xproto.GetKeyboardMapping(tg.conn, e.Detail, 1).Reply()
				if err != nil || len(m.Keysyms) == 0 {
					continue
				}
				if r, ok := keysymRune(uint32(m.Keysyms[0])); ok {
					rs = append(rs, r)
				}
			case xproto.ClientMessageEvent:
				switch {
				case e.Type == markerType:
					got <- rs
					return
				case e.Type == protocols && xproto.Atom(e.Data.Data32[0]) == ping:
					e.Window = tg.root
					_ = xproto.SendEvent(tg.conn, false, tg.root, xproto.EventMaskSubstructureNotify|xproto.EventMaskSubstructureRedirect, string(e.Bytes()))
				}
			}
		}
	}()
	if !done {
		err = <-typed
	}
	if err != nil {
		t.Fatal(err)
	}
	marker := xproto.ClientMessageEvent{Format: 32, Window: tg.win, Type: markerType,
		Data: xproto.ClientMessageDataUnionData32New([]uint32{0, 0, 0, 0, 0})}
	if err := xproto.SendEventChecked(tg.conn, false, tg.win, xproto.EventMaskNoEvent, string(marker.Bytes())).Check(); err != nil {
		t.Fatal(err)
	}
	select {
	case rs := <-got:
		if string(rs) != string(word) {
			t.Errorf("the app read %q, want %q", string(rs), string(word))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app did not read its events")
	}
}
