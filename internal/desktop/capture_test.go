package desktop

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"
)

// startTestDisplay starts a real Xvfb for a test on a display number no
// one uses, installing Xvfb first if this machine lacks it.
func startTestDisplay(t *testing.T, w, h int) *Display {
	t.Helper()
	if _, err := exec.LookPath("Xvfb"); err != nil {
		script, _ := filepath.Abs("../../scripts/ensure-xvfb.sh")
		if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
			t.Fatalf("Xvfb is missing and %s failed: %v\n%s", script, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := 200 + os.Getpid()%500; ; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		d, err := StartDisplay(ctx, DisplayConfig{Number: n, Width: w, Height: h})
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("start Xvfb: %v", err)
			}
			t.Logf("display :%d: %v; trying the next", n, err)
			continue
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
}

// fill paints a rectangle of the root window in a solid color, as an app
// drawing would.
func fill(t *testing.T, display string, color uint32, x, y, w, h int) {
	t.Helper()
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	root := xproto.Setup(conn).DefaultScreen(conn).Root
	gc, _ := xproto.NewGcontextId(conn)
	if err := xproto.CreateGCChecked(conn, gc, xproto.Drawable(root), xproto.GcForeground|xproto.GcSubwindowMode,
		[]uint32{color, xproto.SubwindowModeIncludeInferiors}).Check(); err != nil {
		t.Fatal(err)
	}
	if err := xproto.PolyFillRectangleChecked(conn, xproto.Drawable(root), gc,
		[]xproto.Rectangle{{X: int16(x), Y: int16(y), Width: uint16(w), Height: uint16(h)}}).Check(); err != nil {
		t.Fatal(err)
	}
}

func pixel(f Frame, x, y int) uint32 {
	i := y*f.Stride + 4*x
	return uint32(f.Pix[i+2])<<16 | uint32(f.Pix[i+1])<<8 | uint32(f.Pix[i])
}

func waitChanged(t *testing.T, c *Capture) {
	t.Helper()
	select {
	case <-c.Changed():
	case <-time.After(5 * time.Second):
		t.Fatal("no damage signalled within 5s")
	}
}

func TestCaptureSeesChangesAndResizes(t *testing.T) {
	d := startTestDisplay(t, 640, 480)
	c, err := OpenCapture(d.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if w, h := c.Size(); w != 640 || h != 480 {
		t.Fatalf("size %dx%d, want 640x480", w, h)
	}
	if _, err := c.Grab(); err != nil {
		t.Fatal(err)
	}
	// Drain whatever the start produced, then expect silence.
	select {
	case <-c.Changed():
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := c.Grab(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Changed():
		t.Fatal("damage signalled on an unchanged screen")
	case <-time.After(300 * time.Millisecond):
	}

	for _, tc := range []struct {
		color uint32
		x, y  int
	}{{0xff0000, 10, 10}, {0x00ff00, 600, 400}, {0x123456, 300, 200}} {
		fill(t, d.Name, tc.color, tc.x, tc.y, 20, 20)
		waitChanged(t, c)
		f, err := c.Grab()
		if err != nil {
			t.Fatal(err)
		}
		if got := pixel(f, tc.x+5, tc.y+5); got != tc.color {
			t.Errorf("pixel at %d,%d = %06x, want %06x", tc.x+5, tc.y+5, got, tc.color)
		}
	}

	if err := d.Resize(context.Background(), 800, 600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Resized():
	case <-time.After(5 * time.Second):
		t.Fatal("no resize signalled")
	}
	f, err := c.Grab()
	if err != nil {
		t.Fatal(err)
	}
	if f.Width != 800 || f.Height != 600 || len(f.Pix) < f.Stride*f.Height {
		t.Fatalf("after resize: frame %dx%d stride %d len %d", f.Width, f.Height, f.Stride, len(f.Pix))
	}
	if err := d.Resize(context.Background(), 801, 600); err == nil {
		t.Fatal("odd width accepted")
	}
}

func TestCSSCursor(t *testing.T) {
	for name, want := range map[string]string{
		"left_ptr": "default", "xterm": "text", "hand2": "pointer", "pointer": "pointer", "watch": "wait",
		"sb_h_double_arrow": "ew-resize", "not-allowed": "not-allowed", "": "default", "something-new": "default",
	} {
		if got := cssCursor(name); got != want {
			t.Errorf("cssCursor(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestCursorChanges defines a named cursor on the root window, as an app
// does on its windows, and expects its CSS name.
func TestCursorChanges(t *testing.T) {
	d := startTestDisplay(t, 640, 480)
	c, err := OpenCapture(d.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, err := xgb.NewConnDisplay(d.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := xfixes.Init(conn); err != nil {
		t.Fatal(err)
	}
	if _, err := xfixes.QueryVersion(conn, 5, 0).Reply(); err != nil {
		t.Fatal(err)
	}
	root := xproto.Setup(conn).DefaultScreen(conn).Root
	font, _ := xproto.NewFontId(conn)
	if err := xproto.OpenFontChecked(conn, font, uint16(len("cursor")), "cursor").Check(); err != nil {
		t.Fatal(err)
	}
	cur, _ := xproto.NewCursorId(conn)
	// Glyph 152 of the cursor font is XC_xterm.
	if err := xproto.CreateGlyphCursorChecked(conn, cur, font, font, 152, 153, 0, 0, 0, 0xffff, 0xffff, 0xffff).Check(); err != nil {
		t.Fatal(err)
	}
	if err := xfixes.SetCursorNameChecked(conn, cur, uint16(len("xterm")), "xterm").Check(); err != nil {
		t.Fatal(err)
	}
	if err := xproto.ChangeWindowAttributesChecked(conn, root, xproto.CwCursor, []uint32{uint32(cur)}).Check(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for named := false; !named; {
		select {
		case cur := <-c.Cursor():
			named = cur.CSS == "text"
		case <-deadline:
			t.Fatal("no cursor change to text")
		}
	}

	// An unnamed cursor (Chromium's, without a cursor theme) comes as
	// its image.
	hand, _ := xproto.NewCursorId(conn)
	if err := xproto.CreateGlyphCursorChecked(conn, hand, font, font, 60, 61, 0, 0, 0, 0xffff, 0xffff, 0xffff).Check(); err != nil {
		t.Fatal(err)
	}
	if err := xproto.ChangeWindowAttributesChecked(conn, root, xproto.CwCursor, []uint32{uint32(hand)}).Check(); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case cur := <-c.Cursor():
			if cur.PNG == nil {
				continue
			}
			img, err := png.Decode(bytes.NewReader(cur.PNG))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() < 8 || b.Dy() < 8 || cur.HotX >= b.Dx() || cur.HotY >= b.Dy() {
				t.Fatalf("cursor image %v with hotspot %d,%d", b, cur.HotX, cur.HotY)
			}
			return
		case <-time.After(5 * time.Second):
			t.Fatal("no cursor image for an unnamed cursor")
		}
	}
}
