package desktop

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/damage"
	"github.com/jezek/xgb/randr"
	"github.com/jezek/xgb/xproto"
)

// WM is the display's window manager. The session shows one screen and
// no desktop around it, so it keeps every normal top-level window
// maximized to the screen, at once again whenever the screen is resized
// (a viewer's window changed size), and puts transient windows and
// dialogs on top at the size they ask for. It does not reparent or draw
// frames: Chromium draws its own, and believes the window maximized
// because the WM says so through EWMH (_NET_WM_STATE).
type WM struct {
	conn  *xgb.Conn
	root  xproto.Window
	check xproto.Window
	atoms wmAtoms
	log   *slog.Logger
	done  chan struct{}
	// damage collects what is drawn on the screen, and painted receives
	// when it stops being empty: Prepare empties it, then waits on it for
	// Chromium's repaint.
	damage  damage.Damage
	painted chan struct{}

	// mu guards the fields below: the events goroutine holds it while it
	// handles an event, Prepare and Settle while they size windows.
	mu     sync.Mutex
	sw, sh int
	// tw, th is the size Prepare grew the maximized windows to ahead of
	// the screen, zero when none: windows are max(screen, target) until
	// the screen reaches it.
	tw, th  int
	clients map[xproto.Window]*client
	order   []xproto.Window // managed windows, bottom to top
	focused xproto.Window
}

// client is a managed top-level window.
type client struct {
	// floating: a transient window or a dialog, placed at its own size
	// on top rather than maximized.
	floating   bool
	fullscreen bool
	// rect is a floating window's own geometry, kept while it is full
	// screen so that it can go back.
	rect rect
}

type rect struct{ x, y, w, h int }

// StartWM becomes the window manager of display (e.g. ":0"). It fails
// when another client manages the display already. Logger may be nil.
func StartWM(display string, logger *slog.Logger) (*WM, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		return nil, fmt.Errorf("window manager: connect to X display %s: %w", display, err)
	}
	wm := &WM{conn: conn, log: logger, done: make(chan struct{}), painted: make(chan struct{}, 1), clients: map[xproto.Window]*client{}}
	if err := wm.init(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("window manager on %s: %w", display, err)
	}
	go wm.events()
	return wm, nil
}

func (wm *WM) init() error {
	if err := randr.Init(wm.conn); err != nil {
		return fmt.Errorf("missing X extension RANDR: %w", err)
	}
	if err := damage.Init(wm.conn); err != nil {
		return fmt.Errorf("missing X extension DAMAGE: %w", err)
	}
	if _, err := damage.QueryVersion(wm.conn, 1, 1).Reply(); err != nil {
		return fmt.Errorf("DAMAGE version: %w", err)
	}
	wm.root = xproto.Setup(wm.conn).DefaultScreen(wm.conn).Root
	var err error
	if wm.damage, err = damage.NewDamageId(wm.conn); err != nil {
		return fmt.Errorf("damage id: %w", err)
	}
	// NonEmpty: one event when the region stops being empty, none until
	// Prepare empties it again, so the screen's drawing costs the WM one
	// event per resize.
	if err := damage.CreateChecked(wm.conn, wm.damage, xproto.Drawable(wm.root), damage.ReportLevelNonEmpty).Check(); err != nil {
		return fmt.Errorf("create damage: %w", err)
	}
	if wm.atoms, err = internAtoms(wm.conn); err != nil {
		return err
	}
	// Only one client may redirect the root's children: this fails when
	// another window manager runs.
	mask := uint32(xproto.EventMaskSubstructureRedirect | xproto.EventMaskSubstructureNotify | xproto.EventMaskStructureNotify)
	if err := xproto.ChangeWindowAttributesChecked(wm.conn, wm.root, xproto.CwEventMask, []uint32{mask}).Check(); err != nil {
		return fmt.Errorf("another window manager runs: %w", err)
	}
	if err := randr.SelectInputChecked(wm.conn, wm.root, randr.NotifyMaskScreenChange).Check(); err != nil {
		return fmt.Errorf("select RandR events: %w", err)
	}
	geo, err := xproto.GetGeometry(wm.conn, xproto.Drawable(wm.root)).Reply()
	if err != nil {
		return fmt.Errorf("screen geometry: %w", err)
	}
	wm.sw, wm.sh = int(geo.Width), int(geo.Height)
	if err := wm.advertise(); err != nil {
		return err
	}
	// Windows mapped before the WM started (it normally starts first).
	tree, err := xproto.QueryTree(wm.conn, wm.root).Reply()
	if err != nil {
		return fmt.Errorf("list windows: %w", err)
	}
	for _, win := range tree.Children {
		if attrs, err := xproto.GetWindowAttributes(wm.conn, win).Reply(); err == nil && attrs.MapState != xproto.MapStateUnmapped && win != wm.check {
			wm.manage(win)
		}
	}
	return nil
}

// Close stops managing the display. The windows stay where they are.
func (wm *WM) Close() error {
	wm.conn.Close()
	<-wm.done
	return nil
}

// events handles the display's events until the connection closes.
func (wm *WM) events() {
	defer close(wm.done)
	for {
		ev, xerr := wm.conn.WaitForEvent()
		if ev == nil && xerr == nil {
			return
		}
		if xerr != nil {
			// An unchecked request failed, nearly always because its
			// window was destroyed in between: nothing to put right.
			wm.log.Debug("X error", "err", xerr)
			continue
		}
		if _, ok := ev.(damage.NotifyEvent); ok {
			notify(wm.painted)
			continue
		}
		wm.handle(ev)
	}
}

// handle acts on an event other than damage's.
func (wm *WM) handle(ev xgb.Event) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	switch e := ev.(type) {
	case xproto.MapRequestEvent:
		wm.manage(e.Window)
	case xproto.ConfigureRequestEvent:
		wm.configureRequest(e)
	case xproto.UnmapNotifyEvent:
		wm.unmanage(e.Window, true)
	case xproto.DestroyNotifyEvent:
		wm.unmanage(e.Window, false)
	case xproto.ClientMessageEvent:
		wm.clientMessage(e)
	case xproto.ConfigureNotifyEvent:
		if e.Window == wm.root {
			wm.screenChanged(int(e.Width), int(e.Height))
		}
	case randr.ScreenChangeNotifyEvent:
		// Width and height in the event are before rotation; the
		// root's geometry is what windows must match.
		if geo, err := xproto.GetGeometry(wm.conn, xproto.Drawable(wm.root)).Reply(); err == nil {
			wm.screenChanged(int(geo.Width), int(geo.Height))
		}
	}
}

// manage maps a top-level window: maximized, or a floating one where
// place puts it, on top and focused.
func (wm *WM) manage(win xproto.Window) {
	if _, ok := wm.clients[win]; ok {
		xproto.MapWindow(wm.conn, win)
		return
	}
	attrs, err := xproto.GetWindowAttributes(wm.conn, win).Reply()
	if err != nil {
		return // gone already
	}
	if attrs.OverrideRedirect {
		xproto.MapWindow(wm.conn, win)
		return
	}
	geo, err := xproto.GetGeometry(wm.conn, xproto.Drawable(win)).Reply()
	if err != nil {
		return
	}
	c := &client{floating: wm.floating(win)}
	state := wm.atomList(win, wm.atoms.netWMState)
	c.fullscreen = slices.Contains(state, wm.atoms.netWMStateFullscreen)
	c.rect = place(c.floating, rect{int(geo.X), int(geo.Y), int(geo.Width), int(geo.Height)}, wm.hasPosition(win), wm.sw, wm.sh)
	wm.clients[win] = c
	wm.order = append(wm.order, win)
	wm.setCardinals(win, wm.atoms.wmState, wmStateNormal, 0)
	wm.setCardinals(win, wm.atoms.netFrameExtents, 0, 0, 0, 0)
	wm.writeState(win, c)
	wm.apply(win, c, true)
	xproto.MapWindow(wm.conn, win)
	if !wm.inactive(win) {
		wm.focus(win)
	}
	wm.publishClients()
}

// unmanage forgets a window that was unmapped or destroyed, and gives
// the focus to the top remaining window if it had it.
func (wm *WM) unmanage(win xproto.Window, alive bool) {
	if _, ok := wm.clients[win]; !ok {
		return
	}
	delete(wm.clients, win)
	wm.order = slices.DeleteFunc(wm.order, func(w xproto.Window) bool { return w == win })
	if alive {
		// ICCCM 4.1.3.1: a withdrawn window says so.
		wm.setCardinals(win, wm.atoms.wmState, wmStateWithdrawn, 0)
	}
	if wm.focused == win {
		wm.focused = 0
		if n := len(wm.order); n > 0 {
			wm.focus(wm.order[n-1])
		} else {
			xproto.SetInputFocus(wm.conn, xproto.InputFocusPointerRoot, xproto.InputFocusPointerRoot, xproto.TimeCurrentTime)
			wm.setWindows(wm.root, wm.atoms.netActiveWindow, 0)
		}
	}
	wm.publishClients()
}

// geometry is where a managed window belongs now.
func (wm *WM) geometry(c *client) rect {
	if c.fullscreen || !c.floating {
		return rect{0, 0, max(wm.sw, wm.tw), max(wm.sh, wm.th)}
	}
	return c.rect
}

// apply moves and sizes a managed window to its geometry, and raises it
// if asked.
func (wm *WM) apply(win xproto.Window, c *client, raise bool) {
	r := wm.geometry(c)
	mask := uint16(xproto.ConfigWindowX | xproto.ConfigWindowY | xproto.ConfigWindowWidth | xproto.ConfigWindowHeight | xproto.ConfigWindowBorderWidth)
	values := []uint32{uint32(int32(r.x)), uint32(int32(r.y)), uint32(r.w), uint32(r.h), 0}
	if raise {
		mask |= xproto.ConfigWindowStackMode
		values = append(values, xproto.StackModeAbove)
	}
	xproto.ConfigureWindow(wm.conn, win, mask, values)
}

// configureRequest grants a floating or unmanaged window what it asks
// and refuses a maximized one any change of geometry, telling it so with
// a synthetic ConfigureNotify as ICCCM 4.1.5 asks: Chromium sizes itself
// from that, not from what it asked.
func (wm *WM) configureRequest(e xproto.ConfigureRequestEvent) {
	c, managed := wm.clients[e.Window]
	if managed && (!c.floating || c.fullscreen) {
		if e.ValueMask&xproto.ConfigWindowStackMode != 0 && e.ValueMask&xproto.ConfigWindowSibling == 0 {
			xproto.ConfigureWindow(wm.conn, e.Window, xproto.ConfigWindowStackMode, []uint32{uint32(e.StackMode)})
		}
		wm.confirm(e.Window, wm.geometry(c))
		return
	}
	var values []uint32
	for _, f := range []struct {
		bit uint16
		v   uint32
	}{
		{xproto.ConfigWindowX, uint32(int32(e.X))},
		{xproto.ConfigWindowY, uint32(int32(e.Y))},
		{xproto.ConfigWindowWidth, uint32(e.Width)},
		{xproto.ConfigWindowHeight, uint32(e.Height)},
		{xproto.ConfigWindowBorderWidth, uint32(e.BorderWidth)},
		{xproto.ConfigWindowSibling, uint32(e.Sibling)},
		{xproto.ConfigWindowStackMode, uint32(e.StackMode)},
	} {
		if e.ValueMask&f.bit != 0 {
			values = append(values, f.v)
		}
	}
	xproto.ConfigureWindow(wm.conn, e.Window, e.ValueMask, values)
	if managed {
		r := &c.rect
		if e.ValueMask&xproto.ConfigWindowX != 0 {
			r.x = int(e.X)
		}
		if e.ValueMask&xproto.ConfigWindowY != 0 {
			r.y = int(e.Y)
		}
		if e.ValueMask&xproto.ConfigWindowWidth != 0 {
			r.w = int(e.Width)
		}
		if e.ValueMask&xproto.ConfigWindowHeight != 0 {
			r.h = int(e.Height)
		}
	}
}

// confirm sends a window the synthetic ConfigureNotify that tells it its
// geometry after a request the WM did not grant.
func (wm *WM) confirm(win xproto.Window, r rect) {
	ev := xproto.ConfigureNotifyEvent{Event: win, Window: win, X: int16(r.x), Y: int16(r.y), Width: uint16(r.w), Height: uint16(r.h)}
	xproto.SendEvent(wm.conn, false, win, xproto.EventMaskStructureNotify, string(ev.Bytes()))
}

// screenChanged sizes every maximized window to the new screen size at
// once, so that no part of the screen is left without a window.
func (wm *WM) screenChanged(w, h int) {
	if w == wm.sw && h == wm.sh {
		return
	}
	wm.sw, wm.sh = w, h
	// Only the size Prepare grew for ends the growing: the event of an
	// earlier resize, read late, must not shrink the windows back.
	if w == wm.tw && h == wm.th {
		wm.tw, wm.th = 0, 0
	}
	for _, win := range wm.order {
		c := wm.clients[win]
		if c.floating {
			c.rect = place(true, c.rect, true, w, h)
		}
		wm.apply(win, c, false)
	}
	wm.publishScreen()
}

// repaintWait bounds Prepare's wait for Chromium's repaint. Chromium
// repaints a resized window within a frame or two when idle, and took up
// to ~400 ms on a busy machine; a viewer waits this long at most for its
// resize, and gets the black band of old when Chromium is slower still.
const repaintWait = 250 * time.Millisecond

// Prepare grows every maximized and full-screen window to w×h (in each
// dimension the screen grows in) ahead of a resize of the screen to
// w×h, and returns once Chromium has repainted, or after repaintWait.
// X clips a window larger than the screen, so nothing shows yet; but
// once the screen grows, the newly visible part of the window only has
// to be redrawn from what Chromium has rendered at the new size already
// (~20–30 ms) rather than laid out and rendered anew (60–390 ms), which
// the viewer sees as a black band along the new edges meanwhile. The
// screen's resize, seen by the events goroutine, then settles the
// windows to the screen's size; Settle does when the resize failed.
func (wm *WM) Prepare(ctx context.Context, w, h int) error {
	wm.mu.Lock()
	if w <= wm.sw && h <= wm.sh || w > maxWidth || h > maxHeight {
		// Shrinking, the windows follow the screen as always; a size
		// too large is the resize's to refuse.
		wm.mu.Unlock()
		return nil
	}
	wm.tw, wm.th = w, h
	grown := 0
	for _, win := range wm.order {
		if c := wm.clients[win]; c.fullscreen || !c.floating {
			wm.apply(win, c, false)
			grown++
		}
	}
	wm.mu.Unlock()
	if grown == 0 {
		return nil
	}
	// Emptying the damage is a round trip after the ConfigureWindow
	// requests on the same connection: what is drawn from now on is
	// Chromium's answer to its new size (or, on a busy screen, anything
	// else; then the resize just goes ahead a little early). A damage
	// event of before is dropped with the emptied region it reported.
	if err := damage.SubtractChecked(wm.conn, wm.damage, 0, 0).Check(); err != nil {
		return fmt.Errorf("window manager: prepare %dx%d: clear damage: %w", w, h, err)
	}
	select {
	case <-wm.painted:
	default:
	}
	timer := time.NewTimer(repaintWait)
	defer timer.Stop()
	select {
	case <-wm.painted:
	case <-timer.C:
		wm.log.Debug("no repaint before the resize", "size", fmt.Sprintf("%dx%d", w, h), "waited", repaintWait)
	case <-ctx.Done():
		return fmt.Errorf("window manager: prepare %dx%d: %w", w, h, ctx.Err())
	}
	return nil
}

// Settle gives up the size Prepare grew the windows to, and sizes them
// to the screen again: for a resize of the screen that failed.
func (wm *WM) Settle() {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	if wm.tw == 0 && wm.th == 0 {
		return
	}
	wm.tw, wm.th = 0, 0
	for _, win := range wm.order {
		wm.apply(win, wm.clients[win], false)
	}
}

// focus gives a window the keyboard and raises it.
func (wm *WM) focus(win xproto.Window) {
	c, ok := wm.clients[win]
	if !ok {
		return
	}
	if i := slices.Index(wm.order, win); i >= 0 && i != len(wm.order)-1 {
		wm.order = append(slices.Delete(wm.order, i, i+1), win)
		wm.apply(win, c, true)
	}
	xproto.SetInputFocus(wm.conn, xproto.InputFocusPointerRoot, win, xproto.TimeCurrentTime)
	wm.focused = win
	wm.setWindows(wm.root, wm.atoms.netActiveWindow, win)
}

// place is where a window asking for req goes on a sw×sh screen: a
// normal window fills it; a floating one keeps its size (at most the
// screen's) and the position it asked for when it asked for one (the
// bubbles Chromium anchors to its toolbar do), centred otherwise, and
// always on the screen.
func place(floating bool, req rect, positioned bool, sw, sh int) rect {
	if !floating {
		return rect{0, 0, sw, sh}
	}
	r := rect{req.x, req.y, min(max(req.w, 1), sw), min(max(req.h, 1), sh)}
	if !positioned {
		r.x, r.y = (sw-r.w)/2, (sh-r.h)/2
	}
	r.x = min(max(r.x, 0), sw-r.w)
	r.y = min(max(r.y, 0), sh-r.h)
	return r
}
