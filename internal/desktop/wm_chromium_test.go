package desktop

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/jezek/xgb/xproto"
)

// pageColor is the test page's background: the last rows of the screen
// show it when Chromium's window fills the screen, black when it does not.
const pageColor = 0x3366cc

// TestWMChromiumFollowsResize runs a real Chromium, as a browser with tabs
// and an address bar, under the WM: its window fills the screen at once
// and again after every resize, with the page down to the last row.
func TestWMChromiumFollowsResize(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	d := startTestDisplay(t, 1280, 720)
	startTestWM(t, d)
	capture, err := OpenCapture(d.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	// Chromium asks for a smaller window than the screen, as the agent's
	// --window-size may be by the time the viewer resized the display.
	// --test-type: no infobar about --no-sandbox over the page.
	cmd := exec.Command(chromium, "--no-sandbox", "--test-type", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--password-store=basic", "--user-data-dir="+t.TempDir(), "--ozone-platform=x11",
		"--window-position=0,0", "--window-size=800,500", "--start-maximized",
		"data:text/html,"+url.PathEscape(`<!doctype html><body style="margin:0;background:#3366cc">`))
	cmd.Env = append(os.Environ(), "DISPLAY="+d.Name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	c := newWMClient(t, d.Name)

	var win xproto.Window
	c.waitFor("Chromium window", func() bool {
		if list := c.get32(c.root, c.atoms.netClientList); len(list) > 0 {
			win = xproto.Window(list[0])
			return true
		}
		return false
	})
	for i, size := range [][2]int{{1280, 720}, {1600, 900}, {1024, 640}, {1920, 1080}} {
		if i > 0 {
			if err := d.Resize(context.Background(), size[0], size[1]); err != nil {
				t.Fatal(err)
			}
		}
		c.waitGeometry(win, rect{0, 0, size[0], size[1]})
		// Chromium paints its new size a little after it gets it.
		var f Frame
		c.waitFor("the page's colour in the last rows", func() bool {
			if f, err = capture.Grab(); err != nil {
				t.Fatal(err)
			}
			return f.Width == size[0] && f.Height == size[1] && pixel(f, 10, f.Height-1) == pageColor &&
				pixel(f, f.Width-10, f.Height-1) == pageColor && pixel(f, f.Width-1, f.Height/2) == pageColor
		})
		// Chromium says it is maximized: it draws no resize border.
		if got := pixel(f, f.Width-1, f.Height-1); got != pageColor {
			t.Errorf("%v: bottom right pixel %06x, want the page's %06x", size, got, pageColor)
		}
		if i == 0 {
			saveFrame(t, f, "chromium-under-wm.png")
		}
	}

	// F11: Chromium asks the WM for full screen and, told it has it,
	// shows the page alone, from the first row (but for the "press F11
	// to exit" bubble at the top's middle); F11 again brings its tab
	// strip back.
	in := openTestInput(t, d.Name)
	fullscreen := func() bool {
		return slices.Contains(c.get32(win, c.atoms.netWMState), uint32(c.atoms.netWMStateFullscreen))
	}
	for _, want := range []bool{true, false} {
		for _, down := range []bool{true, false} {
			if err := in.Key(down, "F11", "F11"); err != nil {
				t.Fatal(err)
			}
		}
		c.waitFor(fmt.Sprintf("full screen %v", want), func() bool {
			if fullscreen() != want {
				return false
			}
			f, err := capture.Grab()
			if err != nil {
				t.Fatal(err)
			}
			return (pixel(f, 10, 0) == pageColor) == want
		})
		c.waitGeometry(win, rect{0, 0, 1920, 1080})
	}
}

// saveFrame writes a frame as a PNG into the test's artifact directory.
func saveFrame(t *testing.T, f Frame, name string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	for y := range f.Height {
		for x := range f.Width {
			p := pixel(f, x, y)
			img.Set(x, y, color.RGBA{uint8(p >> 16), uint8(p >> 8), uint8(p), 255})
		}
	}
	out, err := os.Create(filepath.Join(t.ArtifactDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := png.Encode(out, img); err != nil {
		t.Fatal(err)
	}
}
