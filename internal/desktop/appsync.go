package desktop

import (
	"fmt"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// An app turns a KeyPress into a character when it reads the event, with
// the keymap it holds then, and it refreshes that keymap when it reads a
// MappingNotify: from the server, as the mapping is by then. So a spare
// keycode remapped to a new character before the app has read the press
// that used it for the last one makes that press type the new character
// (Chromium did: "абвгдежзийклмн" typed fast arrived as "клмндежзийклмн").
// Nothing the X server says tells when another client has read its
// events, but the app can: _NET_WM_PING (EWMH) asks the window's client
// to send the message back to the root window, which it does as it reads
// it, after every event queued before it. That is the barrier appSync
// builds: events are delivered to a client in order, so once the answer
// comes, the app has read the presses and mapping changes sent before.

// pingTimeout bounds the wait for an app's answer to a ping: an app that
// reads no event for that long is hung, not busy. One that does not
// answer is not asked again while it has the focus.
const pingTimeout = 5 * time.Second

// fallbackSettle is how long appSync waits when no app can be asked: the
// focus is on a window whose client does not speak _NET_WM_PING, or on
// none. A guess, for such apps only.
const fallbackSettle = 20 * time.Millisecond

// pinger is what appSync knows of the app that has the keyboard.
type pinger struct {
	focus  xproto.Window // the focus window this was found for
	target xproto.Window // its top-level window that takes _NET_WM_PING, or 0
	mute   bool          // target did not answer once: not asked again
}

// appSync returns once the app with the keyboard focus has read every
// event sent to it before the call; the spares pressed until then may be
// remapped. It is called with in.mu held.
func (in *Input) appSync() error {
	if err := in.waitApp(); err != nil {
		return err
	}
	for i := range in.spares {
		in.spares[i].dirty = false
	}
	return nil
}

func (in *Input) waitApp() error {
	if err := in.flush(); err != nil {
		return err
	}
	f, err := xproto.GetInputFocus(in.conn).Reply()
	if err != nil {
		return fmt.Errorf("keyboard focus: %w", err)
	}
	if f.Focus != in.ping.focus || in.ping.target == 0 && !in.ping.mute {
		in.ping = pinger{focus: f.Focus, target: in.pingTarget(f.Focus)}
	}
	if in.ping.target == 0 || in.ping.mute {
		time.Sleep(fallbackSettle)
		return nil
	}
	in.pingSeq++
	token := in.pingSeq
	ev := xproto.ClientMessageEvent{
		Format: 32, Window: in.ping.target, Type: in.atoms.wmProtocols,
		Data: xproto.ClientMessageDataUnionData32New([]uint32{uint32(in.atoms.netWMPing), token, uint32(in.ping.target), 0, 0}),
	}
	// No event mask: the event goes to the client that made the window.
	if err := xproto.SendEventChecked(in.conn, false, in.ping.target, xproto.EventMaskNoEvent, string(ev.Bytes())).Check(); err != nil {
		// The window went away meanwhile: look for the next one next
		// time, and wait as for an app that cannot be asked.
		in.ping = pinger{}
		time.Sleep(fallbackSettle)
		return nil
	}
	timeout := time.NewTimer(pingTimeout)
	defer timeout.Stop()
	for {
		select {
		case got := <-in.pongs:
			if got == token {
				return nil
			}
		case <-timeout.C:
			in.ping.mute = true
			return nil
		case <-in.done:
			return fmt.Errorf("connection to X display %s lost: %w", in.display, ErrInputClosed)
		}
	}
}

// pingTarget finds the window that answers pings for the focus window:
// itself or its nearest ancestor whose WM_PROTOCOLS has _NET_WM_PING.
// 0 when there is none (no focus, PointerRoot, an app without it, or a
// window gone while it looked).
func (in *Input) pingTarget(w xproto.Window) xproto.Window {
	for range 16 {
		if w == xproto.WindowNone || w == xproto.InputFocusPointerRoot || w == in.root {
			return 0
		}
		p, err := xproto.GetProperty(in.conn, false, w, in.atoms.wmProtocols, xproto.AtomAtom, 0, 32).Reply()
		if err != nil {
			return 0 // the window is gone
		}
		for i := 0; i+4 <= len(p.Value) && p.Format == 32; i += 4 {
			if xproto.Atom(xgb.Get32(p.Value[i:])) == in.atoms.netWMPing {
				return w
			}
		}
		t, err := xproto.QueryTree(in.conn, w).Reply()
		if err != nil {
			return 0
		}
		w = t.Parent
	}
	return 0
}

// atoms are the atoms appSync needs.
type atoms struct {
	wmProtocols, netWMPing xproto.Atom
}

func (in *Input) internAtoms() error {
	for _, a := range []struct {
		name string
		dst  *xproto.Atom
	}{{"WM_PROTOCOLS", &in.atoms.wmProtocols}, {"_NET_WM_PING", &in.atoms.netWMPing}} {
		r, err := xproto.InternAtom(in.conn, false, uint16(len(a.name)), a.name).Reply()
		if err != nil {
			return fmt.Errorf("intern atom %s: %w", a.name, err)
		}
		*a.dst = r.Atom
	}
	// Apps answer pings on the root window, to SubstructureNotify.
	if err := xproto.ChangeWindowAttributesChecked(in.conn, in.root, xproto.CwEventMask, []uint32{xproto.EventMaskSubstructureNotify}).Check(); err != nil {
		return fmt.Errorf("watch the root window for ping answers: %w", err)
	}
	return nil
}

// pong passes an app's answer to a ping on to appSync.
func (in *Input) pong(ev xproto.ClientMessageEvent) {
	if ev.Window != in.root || ev.Type != in.atoms.wmProtocols || ev.Format != 32 {
		return
	}
	d := ev.Data.Data32
	if len(d) < 2 || xproto.Atom(d[0]) != in.atoms.netWMPing {
		return
	}
	select {
	case in.pongs <- d[1]:
	default: // an old answer nobody waits for
	}
}
