package desktop

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

func TestPlace(t *testing.T) {
	for _, tc := range []struct {
		name       string
		floating   bool
		req        rect
		positioned bool
		want       rect
	}{
		{"normal/fills the screen", false, rect{10, 20, 300, 200}, true, rect{0, 0, 800, 600}},
		{"normal/larger than the screen", false, rect{0, 0, 4000, 3000}, false, rect{0, 0, 800, 600}},
		{"floating/centred", true, rect{0, 0, 300, 200}, false, rect{250, 200, 300, 200}},
		{"floating/keeps its position", true, rect{40, 50, 300, 200}, true, rect{40, 50, 300, 200}},
		{"floating/pushed onto the screen", true, rect{700, 550, 300, 200}, true, rect{500, 400, 300, 200}},
		{"floating/negative position", true, rect{-30, -40, 300, 200}, true, rect{0, 0, 300, 200}},
		{"floating/larger than the screen", true, rect{0, 0, 1000, 900}, false, rect{0, 0, 800, 600}},
		{"floating/empty", true, rect{0, 0, 0, 0}, false, rect{399, 299, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := place(tc.floating, tc.req, tc.positioned, 800, 600); got != tc.want {
				t.Fatalf("place(%v, %+v, %v) = %+v, want %+v", tc.floating, tc.req, tc.positioned, got, tc.want)
			}
		})
	}
}

// wmClient is a test's X client: an app whose windows the WM manages.
type wmClient struct {
	t     *testing.T
	conn  *xgb.Conn
	root  xproto.Window
	atoms wmAtoms
}

func newWMClient(t *testing.T, display string) *wmClient {
	t.Helper()
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	atoms, err := internAtoms(conn)
	if err != nil {
		t.Fatal(err)
	}
	return &wmClient{t: t, conn: conn, root: xproto.Setup(conn).DefaultScreen(conn).Root, atoms: atoms}
}

// window creates an unmapped top-level window; props sets its
// properties before it is mapped.
func (c *wmClient) window(r rect, props func(xproto.Window)) xproto.Window {
	c.t.Helper()
	win, err := xproto.NewWindowId(c.conn)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := xproto.CreateWindowChecked(c.conn, 0, win, c.root, int16(r.x), int16(r.y), uint16(r.w), uint16(r.h), 0,
		xproto.WindowClassInputOutput, 0, xproto.CwBackPixel|xproto.CwEventMask,
		[]uint32{0x3366cc, xproto.EventMaskStructureNotify}).Check(); err != nil {
		c.t.Fatal(err)
	}
	if props != nil {
		props(win)
	}
	return win
}

func (c *wmClient) show(win xproto.Window) {
	c.t.Helper()
	if err := xproto.MapWindowChecked(c.conn, win).Check(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wmClient) set32(win xproto.Window, prop, typ xproto.Atom, vals ...uint32) {
	c.t.Helper()
	buf := make([]byte, 4*len(vals))
	for i, v := range vals {
		xgb.Put32(buf[4*i:], v)
	}
	if err := xproto.ChangePropertyChecked(c.conn, xproto.PropModeReplace, win, prop, typ, 32, uint32(len(vals)), buf).Check(); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wmClient) get32(win xproto.Window, prop xproto.Atom) []uint32 {
	c.t.Helper()
	r, err := xproto.GetProperty(c.conn, false, win, prop, xproto.GetPropertyTypeAny, 0, 64).Reply()
	if err != nil {
		c.t.Fatal(err)
	}
	var out []uint32
	for i := 0; i+4 <= len(r.Value); i += 4 {
		out = append(out, xgb.Get32(r.Value[i:]))
	}
	return out
}

// geometry is a window's geometry and whether it is mapped.
func (c *wmClient) geometry(win xproto.Window) (rect, bool) {
	c.t.Helper()
	geo, err := xproto.GetGeometry(c.conn, xproto.Drawable(win)).Reply()
	if err != nil {
		c.t.Fatal(err)
	}
	attrs, err := xproto.GetWindowAttributes(c.conn, win).Reply()
	if err != nil {
		c.t.Fatal(err)
	}
	return rect{int(geo.X), int(geo.Y), int(geo.Width), int(geo.Height)}, attrs.MapState == xproto.MapStateViewable
}

// waitFor polls until ok holds; the WM answers within milliseconds, the
// deadline (long enough for Chromium to start on a busy machine) only
// ends a test that would hang.
func (c *wmClient) waitFor(what string, ok func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			c.t.Fatalf("window manager: no %s after 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *wmClient) waitGeometry(win xproto.Window, want rect) {
	c.t.Helper()
	var got rect
	var mapped bool
	c.waitFor("geometry", func() bool {
		got, mapped = c.geometry(win)
		return mapped && got == want
	})
}

func (c *wmClient) focus() xproto.Window {
	c.t.Helper()
	r, err := xproto.GetInputFocus(c.conn).Reply()
	if err != nil {
		c.t.Fatal(err)
	}
	return r.Focus
}

func (c *wmClient) sendState(win xproto.Window, action uint32, state xproto.Atom) {
	c.t.Helper()
	ev := xproto.ClientMessageEvent{Format: 32, Window: win, Type: c.atoms.netWMState,
		Data: xproto.ClientMessageDataUnionData32New([]uint32{action, uint32(state), 0, 1, 0})}
	if err := xproto.SendEventChecked(c.conn, false, c.root, xproto.EventMaskSubstructureRedirect|xproto.EventMaskSubstructureNotify,
		string(ev.Bytes())).Check(); err != nil {
		c.t.Fatal(err)
	}
}

func startTestWM(t *testing.T, d *Display) *WM {
	t.Helper()
	wm, err := StartWM(d.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wm.Close() })
	return wm
}

// TestWMMaximizesAndFollowsResize: a normal window is maximized when it
// maps and stays so through its own requests and through every resize
// of the screen; it gets the focus and is told it is maximized.
func TestWMMaximizesAndFollowsResize(t *testing.T) {
	d := startTestDisplay(t, 640, 480)
	startTestWM(t, d)
	c := newWMClient(t, d.Name)
	a := c.atoms

	sup := c.get32(c.root, a.netSupported)
	for _, want := range []xproto.Atom{a.netWMState, a.netWMStateMaximizedVert, a.netWMStateMaximizedHorz, a.netWMStateFullscreen, a.netActiveWindow, a.netSupportingWMCheck} {
		if !slices.Contains(sup, uint32(want)) {
			t.Errorf("_NET_SUPPORTED %v lacks atom %d", sup, want)
		}
	}
	check := c.get32(c.root, a.netSupportingWMCheck)
	if len(check) != 1 || !slices.Equal(c.get32(xproto.Window(check[0]), a.netSupportingWMCheck), check) {
		t.Errorf("_NET_SUPPORTING_WM_CHECK: root says %v, the check window does not say the same", check)
	}

	win := c.window(rect{10, 20, 300, 200}, nil)
	c.show(win)
	c.waitGeometry(win, rect{0, 0, 640, 480})
	// The manager sizes a window before it maps and focuses it, so the
	// geometry can be seen before the focus moves: wait for the last of
	// its steps, the active window property written after the focus.
	c.waitFor("_NET_ACTIVE_WINDOW on the new window", func() bool {
		return slices.Equal(c.get32(c.root, a.netActiveWindow), []uint32{uint32(win)})
	})
	if f := c.focus(); f != win {
		t.Errorf("focus on %d, want the new window %d", f, win)
	}
	state := c.get32(win, a.netWMState)
	if !slices.Contains(state, uint32(a.netWMStateMaximizedVert)) || !slices.Contains(state, uint32(a.netWMStateMaximizedHorz)) {
		t.Errorf("_NET_WM_STATE %v: not maximized", state)
	}
	if ws := c.get32(win, a.wmState); len(ws) == 0 || ws[0] != wmStateNormal {
		t.Errorf("WM_STATE %v, want NormalState", ws)
	}

	// A request to move and shrink is refused, and the window is told its
	// real geometry with a ConfigureNotify.
	if err := xproto.ConfigureWindowChecked(c.conn, win, xproto.ConfigWindowX|xproto.ConfigWindowY|xproto.ConfigWindowWidth|xproto.ConfigWindowHeight,
		[]uint32{5, 5, 100, 100}).Check(); err != nil {
		t.Fatal(err)
	}
	c.waitFor("ConfigureNotify after a refused request", func() bool {
		ev, err := c.conn.PollForEvent()
		if err != nil {
			t.Fatal(err)
		}
		n, ok := ev.(xproto.ConfigureNotifyEvent)
		return ok && n.Window == win && n.X == 0 && n.Y == 0 && n.Width == 640 && n.Height == 480
	})
	if got, _ := c.geometry(win); got != (rect{0, 0, 640, 480}) {
		t.Errorf("after a request to shrink: %+v", got)
	}

	for _, size := range [][2]int{{1280, 720}, {800, 600}, {1920, 1080}} {
		if err := d.Resize(context.Background(), size[0], size[1]); err != nil {
			t.Fatal(err)
		}
		c.waitGeometry(win, rect{0, 0, size[0], size[1]})
		if wa := c.get32(c.root, a.netWorkarea); !slices.Equal(wa, []uint32{0, 0, uint32(size[0]), uint32(size[1])}) {
			t.Errorf("_NET_WORKAREA %v after a resize to %v", wa, size)
		}
	}

	// Full screen (F11) comes and goes; maximized stays.
	c.sendState(win, netWMStateAdd, a.netWMStateFullscreen)
	c.waitFor("full screen state", func() bool { return slices.Contains(c.get32(win, a.netWMState), uint32(a.netWMStateFullscreen)) })
	c.sendState(win, netWMStateToggle, a.netWMStateFullscreen)
	c.waitFor("full screen state removed", func() bool { return !slices.Contains(c.get32(win, a.netWMState), uint32(a.netWMStateFullscreen)) })
	c.sendState(win, netWMStateRemove, a.netWMStateMaximizedHorz)
	c.sendState(win, netWMStateAdd, a.netWMStateFullscreen)
	c.waitFor("full screen state again", func() bool { return slices.Contains(c.get32(win, a.netWMState), uint32(a.netWMStateFullscreen)) })
	if state := c.get32(win, a.netWMState); !slices.Contains(state, uint32(a.netWMStateMaximizedHorz)) {
		t.Errorf("_NET_WM_STATE %v: maximized was taken away", state)
	}
	c.waitGeometry(win, rect{0, 0, 1920, 1080})

	// A second window takes the focus; when it goes, the first has it again.
	second := c.window(rect{0, 0, 50, 50}, nil)
	c.show(second)
	c.waitGeometry(second, rect{0, 0, 1920, 1080})
	c.waitFor("focus on the second window", func() bool { return c.focus() == second })
	if err := xproto.DestroyWindowChecked(c.conn, second).Check(); err != nil {
		t.Fatal(err)
	}
	c.waitFor("focus back on the first window", func() bool { return c.focus() == win })
	if list := c.get32(c.root, a.netClientList); !slices.Equal(list, []uint32{uint32(win)}) {
		t.Errorf("_NET_CLIENT_LIST %v, want [%d]", list, win)
	}
}

// TestWMFloatingWindows: transient windows and dialogs keep their size,
// centred unless they asked for a position, and may move and resize.
func TestWMFloatingWindows(t *testing.T) {
	d := startTestDisplay(t, 800, 600)
	startTestWM(t, d)
	c := newWMClient(t, d.Name)
	a := c.atoms
	owner := c.window(rect{0, 0, 100, 100}, nil)
	c.show(owner)
	c.waitGeometry(owner, rect{0, 0, 800, 600})

	transient := func(win xproto.Window) { c.set32(win, xproto.AtomWmTransientFor, xproto.AtomWindow, uint32(owner)) }
	dialog := func(win xproto.Window) {
		c.set32(win, a.netWMWindowType, xproto.AtomAtom, uint32(a.netWMWindowTypeDialog))
	}
	positioned := func(win xproto.Window) {
		// WM_SIZE_HINTS: flags PPosition, then 17 more fields.
		c.set32(win, xproto.AtomWmNormalHints, xproto.AtomWmSizeHints, append([]uint32{sizeHintPPosition}, make([]uint32, 17)...)...)
	}
	both := func(fs ...func(xproto.Window)) func(xproto.Window) {
		return func(win xproto.Window) {
			for _, f := range fs {
				f(win)
			}
		}
	}
	normalType := func(win xproto.Window) {
		c.set32(win, a.netWMWindowType, xproto.AtomAtom, uint32(a.netWMWindowTypeNormal))
	}
	for _, tc := range []struct {
		name  string
		req   rect
		props func(xproto.Window)
		want  rect
	}{
		{"transient/centred", rect{0, 0, 300, 200}, transient, rect{250, 200, 300, 200}},
		{"dialog/centred", rect{0, 0, 400, 100}, dialog, rect{200, 250, 400, 100}},
		{"transient/positioned", rect{500, 40, 200, 300}, both(transient, positioned), rect{500, 40, 200, 300}},
		{"dialog/larger than the screen", rect{0, 0, 1000, 700}, dialog, rect{0, 0, 800, 600}},
		{"normal type/maximized", rect{30, 30, 100, 100}, normalType, rect{0, 0, 800, 600}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			win := c.window(tc.req, tc.props)
			c.show(win)
			c.waitGeometry(win, tc.want)
			c.waitFor("focus", func() bool { return c.focus() == win })
		})
	}

	win := c.window(rect{0, 0, 300, 200}, dialog)
	c.show(win)
	c.waitGeometry(win, rect{250, 200, 300, 200})
	if err := xproto.ConfigureWindowChecked(c.conn, win, xproto.ConfigWindowX|xproto.ConfigWindowY|xproto.ConfigWindowWidth|xproto.ConfigWindowHeight,
		[]uint32{10, 20, 320, 240}).Check(); err != nil {
		t.Fatal(err)
	}
	c.waitGeometry(win, rect{10, 20, 320, 240})
	// A smaller screen keeps it on the screen; the owner follows the screen.
	if err := d.Resize(context.Background(), 300, 200); err != nil {
		t.Fatal(err)
	}
	c.waitGeometry(owner, rect{0, 0, 300, 200})
	c.waitGeometry(win, rect{0, 0, 300, 200})
}

// TestWMRefusesSecond: one window manager per display.
func TestWMRefusesSecond(t *testing.T) {
	d := startTestDisplay(t, 640, 480)
	startTestWM(t, d)
	if wm, err := StartWM(d.Name, nil); err == nil {
		wm.Close()
		t.Fatal("a second window manager started on the same display")
	}
}

// TestWMPrepareAndSettle: Prepare grows a maximized window beyond the
// screen, in the dimensions the screen is to grow in, and leaves a
// floating one be; the resize then settles it to the screen, and so does
// Settle when the resize did not come; shrinking prepares nothing.
func TestWMPrepareAndSettle(t *testing.T) {
	d := startTestDisplay(t, 640, 480)
	wm := startTestWM(t, d)
	c := newWMClient(t, d.Name)
	win := c.window(rect{0, 0, 300, 200}, nil)
	c.show(win)
	c.waitGeometry(win, rect{0, 0, 640, 480})
	dialog := c.window(rect{10, 10, 200, 100}, func(w xproto.Window) {
		c.set32(w, c.atoms.netWMWindowType, xproto.AtomAtom, uint32(c.atoms.netWMWindowTypeDialog))
	})
	c.show(dialog)
	dialogAt := rect{220, 190, 200, 100}
	c.waitGeometry(dialog, dialogAt)
	ctx := context.Background()

	for _, tc := range []struct {
		name   string
		w, h   int
		resize bool
		grown  rect
		after  rect
	}{
		{"grows, then the screen", 800, 600, true, rect{0, 0, 800, 600}, rect{0, 0, 800, 600}},
		{"grows in width alone", 1024, 400, true, rect{0, 0, 1024, 600}, rect{0, 0, 1024, 400}},
		{"shrinks", 800, 400, true, rect{0, 0, 1024, 400}, rect{0, 0, 800, 400}},
		{"grows, the resize fails", 1280, 720, false, rect{0, 0, 1280, 720}, rect{0, 0, 800, 400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := wm.Prepare(ctx, tc.w, tc.h); err != nil {
				t.Fatal(err)
			}
			c.waitGeometry(win, tc.grown)
			if tc.resize {
				if err := d.Resize(ctx, tc.w, tc.h); err != nil {
					t.Fatal(err)
				}
			} else {
				wm.Settle()
			}
			c.waitGeometry(win, tc.after)
			if got, _ := c.geometry(dialog); got.w != dialogAt.w || got.h != dialogAt.h {
				t.Errorf("dialog %+v, want its own size %dx%d", got, dialogAt.w, dialogAt.h)
			}
		})
	}
}
