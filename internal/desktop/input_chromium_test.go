package desktop

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// chromiumPage has a focused text area and reports its value and the
// page's scroll in the window title, where xwininfo can read them.
const chromiumPage = `<!doctype html><body style="margin:0">
<textarea id=t autofocus style="width:600px;height:300px"></textarea>
<div style="height:20000px;width:20000px"></div>
<script>
setInterval(() => { document.title = "STATE" + JSON.stringify({v: t.value, x: scrollX, y: scrollY, f: document.hasFocus() && document.activeElement === t}) + "STATE" }, 20);
</script>`

type chromiumState struct {
	V    string
	X, Y float64
	F    bool // the text area has the keyboard
}

// TestInputTypesIntoChromium types through Input into a real Chromium on
// the display, as the agent does, and reads back what the page got. It
// needs chromium and xwininfo (x11-utils) and is skipped without them.
func TestInputTypesIntoChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	if _, err := exec.LookPath("xwininfo"); err != nil {
		t.Skip("xwininfo (x11-utils) is not installed")
	}
	d := startTestDisplay(t, 1280, 720)
	cmd := exec.Command(chromium, "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
		"--user-data-dir="+t.TempDir(), "--window-position=0,0", "--window-size=1280,720",
		"--app=data:text/html,"+url.PathEscape(chromiumPage))
	cmd.Env = append(os.Environ(), "DISPLAY="+d.Name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered after TempDir: runs before it is removed. Chromium's
	// helper processes share its process group.
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})

	re := regexp.MustCompile(`STATE(.*?)STATE`)
	state := func() (chromiumState, bool) {
		out, _ := exec.Command("xwininfo", "-display", d.Name, "-root", "-tree").Output()
		m := re.FindSubmatch(out)
		var s chromiumState
		if m == nil || json.Unmarshal(m[1], &s) != nil {
			return s, false
		}
		return s, true
	}
	waitFor := func(what string, ok func(chromiumState) bool) chromiumState {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s, found := state()
			if found && ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("Chromium: %s: page state %+v", what, s)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("page loaded", func(chromiumState) bool { return true })

	in := openTestInput(t, d.Name)
	if err := in.Move(300, 150); err != nil {
		t.Fatal(err)
	}
	if err := in.Button(1, true); err != nil {
		t.Fatal(err)
	}
	if err := in.Button(1, false); err != nil {
		t.Fatal(err)
	}
	// Typed once, as soon as the text area has the keyboard: a key lost
	// at the start of typing fails here.
	waitFor("text area focused", func(s chromiumState) bool { return s.F })
	for _, down := range []bool{true, false} {
		if err := in.Key(down, "x", "KeyX"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("first letter", func(s chromiumState) bool { return s.V == "x" })

	ctrl := func(ks ...any) []keyStep {
		return joinSteps(pressStep("Control", "ControlLeft"), joinSteps(ks...), releaseStep("Control", "ControlLeft"))
	}
	altGr := func(ks ...any) []keyStep {
		return joinSteps(pressStep("Control", "ControlLeft"), pressStep("AltGraph", "AltRight"), joinSteps(ks...),
			releaseStep("AltGraph", "AltRight"), releaseStep("Control", "ControlLeft"))
	}
	shift := func(ks ...any) []keyStep {
		return joinSteps(pressStep("Shift", "ShiftLeft"), joinSteps(ks...), releaseStep("Shift", "ShiftLeft"))
	}
	for _, tc := range []struct {
		name  string
		steps []keyStep
		want  string
	}{
		{"AZERTY", joinSteps(tapSteps("é", "Digit2"), tapSteps("è", "Digit7"), tapSteps("ç", "Digit9"), tapSteps("à", "Digit0"), tapSteps("ù", "Quote"),
			altGr(tapSteps("@", "Digit0")), shift(tapSteps("1", "Digit1")), tapSteps("²", "Backquote")), "xéèçàù@1²"},
		{"German", joinSteps(tapSteps("ß", "Minus"), tapSteps("ü", "BracketLeft"), tapSteps("ö", "Semicolon"), tapSteps("ä", "Quote"),
			shift(tapSteps("Ä", "Quote")), altGr(tapSteps("€", "KeyE")), shift(tapSteps("§", "Digit3")), altGr(tapSteps("µ", "KeyM")),
			shift(tapSteps("°", "Backquote")), altGr(tapSteps("~", "BracketRight"))), "xéèçàù@1²ßüöäÄ€§µ°~"},
		{"Cyrillic and Backspace", joinSteps(tapSteps("П", "KeyG"), tapSteps("р", "KeyH"), tapSteps("и", "KeyB"), tapSteps("Backspace", "Backspace")),
			"xéèçàù@1²ßüöäÄ€§µ°~Пр"},
		{"Caps Lock", joinSteps(tapSteps("CapsLock", "CapsLock"), tapSteps("A", "KeyA"), tapSteps("É", "Digit2"), shift(tapSteps("b", "KeyB")),
			tapSteps("CapsLock", "CapsLock"), tapSteps("c", "KeyC")), "xéèçàù@1²ßüöäÄ€§µ°~ПрAÉbc"},
		{"keypad", joinSteps(tapSteps("1", "Numpad1"), tapSteps("+", "NumpadAdd"), tapSteps("ArrowLeft", "Numpad4"), tapSteps("2", "Numpad2"),
			tapSteps("End", "End"), tapSteps("Enter", "Enter")), "xéèçàù@1²ßüöäÄ€§µ°~ПрAÉbc12+\n"},
		// Select all, copy, paste twice: Ctrl+A with a Russian layout.
		{"shortcuts", ctrl(tapSteps("ф", "KeyA"), tapSteps("c", "KeyC"), tapSteps("ArrowRight", "ArrowRight"), tapSteps("v", "KeyV"), tapSteps("м", "KeyV")),
			"xéèçàù@1²ßüöäÄ€§µ°~ПрAÉbc12+\n" + "xéèçàù@1²ßüöäÄ€§µ°~ПрAÉbc12+\n" + "xéèçàù@1²ßüöäÄ€§µ°~ПрAÉbc12+\n"},
	} {
		for _, s := range tc.steps {
			if err := in.Key(s.dir == "d", s.key, s.code); err != nil {
				t.Fatalf("%s: %s %q %q: %v", tc.name, s.dir, s.key, s.code, err)
			}
		}
		waitFor(tc.name+": text "+tc.want, func(s chromiumState) bool { return s.V == tc.want })
	}

	// A word with more letters than there are spare keycodes, typed while
	// Chromium reads no events (a busy machine): spares are reused, and a
	// spare remapped before Chromium read its last press would turn that
	// press into the new letter ("абвг…" arrived as "клмн…"). Chromium
	// resumes once the typing is done, or has waited a second for it.
	for _, s := range ctrl(tapSteps("a", "KeyA")) {
		if err := in.Key(s.dir == "d", s.key, s.code); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range tapSteps("Backspace", "Backspace") {
		if err := in.Key(s.dir == "d", s.key, s.code); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("text area emptied", func(s chromiumState) bool { return s.V == "" })
	word := "абвгдежзийклмнопрстуф"
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
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
	var typeErr error
	done := false
	select {
	case typeErr = <-typed:
		done = true
	case <-time.After(time.Second):
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if !done {
		typeErr = <-typed
	}
	if typeErr != nil {
		t.Fatal(typeErr)
	}
	waitFor("a long word typed into a busy Chromium: "+word, func(s chromiumState) bool { return s.V == word })

	// Committed text of an input method: Chinese, Japanese, Korean and an
	// emoji, none of them in the keymap.
	cjk := "你好，世界 こんにちは 안녕하세요 😀"
	if err := in.Type(cjk); err != nil {
		t.Fatal(err)
	}
	waitFor("text typed: "+cjk, func(s chromiumState) bool { return s.V == word+cjk })

	if err := in.Move(900, 500); err != nil {
		t.Fatal(err)
	}
	if err := in.Wheel(0, 100); err != nil {
		t.Fatal(err)
	}
	waitFor("scrolled down", func(s chromiumState) bool { return s.Y > 0 })
	if err := in.Wheel(100, 0); err != nil {
		t.Fatal(err)
	}
	waitFor("scrolled right", func(s chromiumState) bool { return s.X > 0 })
}
