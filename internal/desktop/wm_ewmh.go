package desktop

import (
	"fmt"
	"slices"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// wmAtoms are the ICCCM and EWMH atoms the window manager uses.
type wmAtoms struct {
	utf8String, wmState, wmChangeState xproto.Atom

	netSupported, netSupportingWMCheck, netWMName, netActiveWindow, netClientList      xproto.Atom
	netNumberOfDesktops, netCurrentDesktop, netDesktopGeometry, netWorkarea            xproto.Atom
	netWMState, netWMStateMaximizedVert, netWMStateMaximizedHorz, netWMStateFullscreen xproto.Atom
	netWMWindowType, netWMWindowTypeNormal, netWMWindowTypeDialog                      xproto.Atom
	netFrameExtents, netRequestFrameExtents, netWMUserTime                             xproto.Atom
}

func internAtoms(conn *xgb.Conn) (wmAtoms, error) {
	var a wmAtoms
	names := []struct {
		name string
		atom *xproto.Atom
	}{
		{"UTF8_STRING", &a.utf8String}, {"WM_STATE", &a.wmState}, {"WM_CHANGE_STATE", &a.wmChangeState},
		{"_NET_SUPPORTED", &a.netSupported}, {"_NET_SUPPORTING_WM_CHECK", &a.netSupportingWMCheck},
		{"_NET_WM_NAME", &a.netWMName}, {"_NET_ACTIVE_WINDOW", &a.netActiveWindow}, {"_NET_CLIENT_LIST", &a.netClientList},
		{"_NET_NUMBER_OF_DESKTOPS", &a.netNumberOfDesktops}, {"_NET_CURRENT_DESKTOP", &a.netCurrentDesktop},
		{"_NET_DESKTOP_GEOMETRY", &a.netDesktopGeometry}, {"_NET_WORKAREA", &a.netWorkarea},
		{"_NET_WM_STATE", &a.netWMState}, {"_NET_WM_STATE_MAXIMIZED_VERT", &a.netWMStateMaximizedVert},
		{"_NET_WM_STATE_MAXIMIZED_HORZ", &a.netWMStateMaximizedHorz}, {"_NET_WM_STATE_FULLSCREEN", &a.netWMStateFullscreen},
		{"_NET_WM_WINDOW_TYPE", &a.netWMWindowType}, {"_NET_WM_WINDOW_TYPE_NORMAL", &a.netWMWindowTypeNormal},
		{"_NET_WM_WINDOW_TYPE_DIALOG", &a.netWMWindowTypeDialog},
		{"_NET_FRAME_EXTENTS", &a.netFrameExtents}, {"_NET_REQUEST_FRAME_EXTENTS", &a.netRequestFrameExtents},
		{"_NET_WM_USER_TIME", &a.netWMUserTime},
	}
	cookies := make([]xproto.InternAtomCookie, len(names))
	for i, n := range names {
		cookies[i] = xproto.InternAtom(conn, false, uint16(len(n.name)), n.name)
	}
	for i, n := range names {
		r, err := cookies[i].Reply()
		if err != nil {
			return a, fmt.Errorf("intern atom %s: %w", n.name, err)
		}
		*n.atom = r.Atom
	}
	return a, nil
}

// ICCCM WM_STATE values and WM_NORMAL_HINTS flags.
const (
	wmStateWithdrawn = 0
	wmStateNormal    = 1
	wmStateIconic    = 3

	sizeHintUSPosition = 1
	sizeHintPPosition  = 4
)

// EWMH _NET_WM_STATE actions.
const (
	netWMStateRemove = 0
	netWMStateAdd    = 1
	netWMStateToggle = 2
)

// advertise tells clients that an EWMH window manager runs and what it
// supports: Chromium asks the WM to maximize and to go full screen only
// when it finds its atoms in _NET_SUPPORTED.
func (wm *WM) advertise() error {
	var err error
	if wm.check, err = xproto.NewWindowId(wm.conn); err != nil {
		return fmt.Errorf("window id: %w", err)
	}
	if err := xproto.CreateWindowChecked(wm.conn, 0, wm.check, wm.root, -1, -1, 1, 1, 0, xproto.WindowClassInputOnly,
		0, xproto.CwOverrideRedirect, []uint32{1}).Check(); err != nil {
		return fmt.Errorf("create the EWMH check window: %w", err)
	}
	const name = "Airlock"
	for _, win := range []xproto.Window{wm.root, wm.check} {
		wm.setWindows(win, wm.atoms.netSupportingWMCheck, wm.check)
	}
	xproto.ChangeProperty(wm.conn, xproto.PropModeReplace, wm.check, wm.atoms.netWMName, wm.atoms.utf8String, 8, uint32(len(name)), []byte(name))
	a := wm.atoms
	wm.setAtoms(wm.root, a.netSupported, a.netSupported, a.netSupportingWMCheck, a.netWMName, a.netActiveWindow, a.netClientList,
		a.netNumberOfDesktops, a.netCurrentDesktop, a.netDesktopGeometry, a.netWorkarea,
		a.netWMState, a.netWMStateMaximizedVert, a.netWMStateMaximizedHorz, a.netWMStateFullscreen,
		a.netWMWindowType, a.netWMWindowTypeNormal, a.netWMWindowTypeDialog, a.netFrameExtents, a.netRequestFrameExtents)
	wm.setCardinals(wm.root, a.netNumberOfDesktops, 1)
	wm.setCardinals(wm.root, a.netCurrentDesktop, 0)
	wm.setWindows(wm.root, a.netActiveWindow, 0)
	wm.publishScreen()
	wm.publishClients()
	// A checked request last: when it returns, the server has done all
	// of the above.
	if _, err := xproto.GetInputFocus(wm.conn).Reply(); err != nil {
		return fmt.Errorf("advertise EWMH: %w", err)
	}
	return nil
}

// publishScreen states the screen's size as the one desktop's size and
// work area.
func (wm *WM) publishScreen() {
	w, h := uint32(wm.sw), uint32(wm.sh)
	wm.setCardinals(wm.root, wm.atoms.netDesktopGeometry, w, h)
	wm.setCardinals(wm.root, wm.atoms.netWorkarea, 0, 0, w, h)
}

func (wm *WM) publishClients() {
	wm.setWindows(wm.root, wm.atoms.netClientList, wm.order...)
}

// floating says whether a window is placed at its own size instead of
// maximized: transient windows (Chromium's bubbles, a page's dialogs) and
// any window whose type is not normal.
func (wm *WM) floating(win xproto.Window) bool {
	if t := wm.windowList(win, xproto.AtomWmTransientFor); len(t) > 0 && t[0] != 0 {
		return true
	}
	types := wm.atomList(win, wm.atoms.netWMWindowType)
	return len(types) > 0 && types[0] != wm.atoms.netWMWindowTypeNormal
}

// hasPosition says whether a window asked for its position (WM_NORMAL_HINTS).
func (wm *WM) hasPosition(win xproto.Window) bool {
	r, err := xproto.GetProperty(wm.conn, false, win, xproto.AtomWmNormalHints, xproto.AtomWmSizeHints, 0, 1).Reply()
	if err != nil || r.Format != 32 || len(r.Value) < 4 {
		return false
	}
	return xgb.Get32(r.Value)&(sizeHintUSPosition|sizeHintPPosition) != 0
}

// inactive says whether a window asked to be shown without the focus
// (EWMH: a _NET_WM_USER_TIME of 0).
func (wm *WM) inactive(win xproto.Window) bool {
	t := wm.cardinals(win, wm.atoms.netWMUserTime)
	return len(t) > 0 && t[0] == 0
}

// writeState sets a managed window's _NET_WM_STATE: a normal window is
// maximized, always, and either kind may be full screen. Other states the
// window set are kept.
func (wm *WM) writeState(win xproto.Window, c *client) {
	a := wm.atoms
	state := slices.DeleteFunc(wm.atomList(win, a.netWMState), func(s xproto.Atom) bool {
		return s == a.netWMStateMaximizedVert || s == a.netWMStateMaximizedHorz || s == a.netWMStateFullscreen
	})
	if !c.floating {
		state = append(state, a.netWMStateMaximizedVert, a.netWMStateMaximizedHorz)
	}
	if c.fullscreen {
		state = append(state, a.netWMStateFullscreen)
	}
	wm.setAtoms(win, a.netWMState, state...)
}

// clientMessage handles the EWMH and ICCCM requests clients send the
// root window.
func (wm *WM) clientMessage(e xproto.ClientMessageEvent) {
	a := wm.atoms
	if e.Type == a.netRequestFrameExtents {
		// Asked before mapping; there are no frames.
		wm.setCardinals(e.Window, a.netFrameExtents, 0, 0, 0, 0)
		return
	}
	c, ok := wm.clients[e.Window]
	if !ok || e.Format != 32 {
		return
	}
	d := e.Data.Data32
	wm.log.Debug("client message", "window", e.Window, "type", e.Type, "data", d)
	switch e.Type {
	case a.netActiveWindow:
		wm.focus(e.Window)
	case a.netWMState:
		// Maximized cannot be taken away from a normal window: there
		// is nothing around it to show. Full screen comes and goes.
		if fs := uint32(a.netWMStateFullscreen); d[1] != fs && d[2] != fs {
			wm.writeState(e.Window, c)
			return
		}
		switch d[0] {
		case netWMStateRemove:
			c.fullscreen = false
		case netWMStateAdd:
			c.fullscreen = true
		case netWMStateToggle:
			c.fullscreen = !c.fullscreen
		}
		wm.writeState(e.Window, c)
		wm.apply(e.Window, c, c.fullscreen)
		if !c.floating || c.fullscreen {
			wm.confirm(e.Window, wm.geometry(c))
		}
	case a.wmChangeState:
		// Iconify is refused: with no task bar, an iconified window
		// could not be brought back. The state is said again so that the
		// window knows.
		if d[0] == wmStateIconic {
			wm.setCardinals(e.Window, a.wmState, wmStateNormal, 0)
		}
	}
}

func (wm *WM) setAtoms(win xproto.Window, prop xproto.Atom, atoms ...xproto.Atom) {
	vals := make([]uint32, len(atoms))
	for i, v := range atoms {
		vals[i] = uint32(v)
	}
	wm.set32(win, prop, xproto.AtomAtom, vals)
}

func (wm *WM) setWindows(win xproto.Window, prop xproto.Atom, wins ...xproto.Window) {
	vals := make([]uint32, len(wins))
	for i, v := range wins {
		vals[i] = uint32(v)
	}
	wm.set32(win, prop, xproto.AtomWindow, vals)
}

func (wm *WM) setCardinals(win xproto.Window, prop xproto.Atom, vals ...uint32) {
	typ := xproto.Atom(xproto.AtomCardinal)
	if prop == wm.atoms.wmState {
		typ = prop
	}
	wm.set32(win, prop, typ, vals)
}

func (wm *WM) set32(win xproto.Window, prop, typ xproto.Atom, vals []uint32) {
	buf := make([]byte, 4*len(vals))
	for i, v := range vals {
		xgb.Put32(buf[4*i:], v)
	}
	xproto.ChangeProperty(wm.conn, xproto.PropModeReplace, win, prop, typ, 32, uint32(len(vals)), buf)
}

// get32 reads a property of 32-bit values; a missing or malformed one
// reads as none.
func (wm *WM) get32(win xproto.Window, prop, typ xproto.Atom) []uint32 {
	r, err := xproto.GetProperty(wm.conn, false, win, prop, typ, 0, 64).Reply()
	if err != nil || r.Format != 32 {
		return nil
	}
	vals := make([]uint32, len(r.Value)/4)
	for i := range vals {
		vals[i] = xgb.Get32(r.Value[4*i:])
	}
	return vals
}

func (wm *WM) atomList(win xproto.Window, prop xproto.Atom) []xproto.Atom {
	var out []xproto.Atom
	for _, v := range wm.get32(win, prop, xproto.AtomAtom) {
		out = append(out, xproto.Atom(v))
	}
	return out
}

func (wm *WM) windowList(win xproto.Window, prop xproto.Atom) []xproto.Window {
	var out []xproto.Window
	for _, v := range wm.get32(win, prop, xproto.AtomWindow) {
		out = append(out, xproto.Window(v))
	}
	return out
}

func (wm *WM) cardinals(win xproto.Window, prop xproto.Atom) []uint32 {
	return wm.get32(win, prop, xproto.AtomCardinal)
}
