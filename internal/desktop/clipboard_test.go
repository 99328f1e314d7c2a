package desktop

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestClipboardBothWays sets the clipboard as the viewer would and reads
// it back with xclip as an app would; then an app sets it and Changes
// says so, while the agent's own Set is not echoed.
func TestClipboardBothWays(t *testing.T) {
	d := startTestDisplay(t, 640, 480)
	if _, err := exec.LookPath("xclip"); err != nil {
		if out, err := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "xclip").CombinedOutput(); err != nil {
			t.Fatalf("xclip is needed: %v\n%s", err, out)
		}
	}
	c, err := OpenClipboard(d.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, text := range []string{"hello from the viewer", "Grüße, ça va? €"} {
		if err := c.Set(ctx, text); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("xclip", "-display", d.Name, "-selection", "clipboard", "-out").Output()
		if err != nil || string(out) != text {
			t.Fatalf("app reads %q, %v; want %q", out, err, text)
		}
	}
	select {
	case got := <-c.Changes():
		t.Fatalf("own Set echoed as a change: %q", got)
	case <-time.After(300 * time.Millisecond):
	}

	app := exec.Command("xclip", "-display", d.Name, "-selection", "clipboard", "-in")
	app.Stdin = strings.NewReader("copied in the session")
	// No captured output: xclip's child keeps owning the selection and
	// would hold a pipe open.
	if err := app.Run(); err != nil {
		t.Fatalf("app copy: %v", err)
	}
	select {
	case got := <-c.Changes():
		if got != "copied in the session" {
			t.Fatalf("change = %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no clipboard change seen")
	}
}
