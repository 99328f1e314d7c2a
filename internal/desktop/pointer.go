package desktop

import (
	"fmt"
	"math"

	"github.com/jezek/xgb/xtest"
)

// wheelStep is how many WheelEvent pixels make one wheel click. One click
// of buttons 4 to 7 scrolls Chromium on X11 by 120 pixels at zoom 1
// (measured with Chromium 156); a notch of a mouse wheel is 100 pixels in
// browsers on Windows and 120 on Linux, so each notch gives at least one
// click, and the smaller deltas of touchpads add up to clicks.
const wheelStep = 100.0

// maxWheelClicks bounds the clicks one Wheel call sends, so that a bogus
// delta cannot flood the display.
const maxWheelClicks = 40

// Move moves the pointer to x, y in display pixels. It does not wait for
// the server: an X error it causes is returned by a later Move.
func (in *Input) Move(x, y int) error {
	if err := in.lockOpen(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	in.errMu.Lock()
	err := in.asyncErr
	in.asyncErr = nil
	in.errMu.Unlock()
	xtest.FakeInput(in.conn, fakeMotion, 0, 0, in.root, clamp16(x), clamp16(y), 0)
	if err != nil {
		return fmt.Errorf("move pointer: %w", err)
	}
	return nil
}

func clamp16(v int) int16 {
	return int16(max(math.MinInt16, min(math.MaxInt16, v)))
}

// Button presses (down) or releases button b: 1 left, 2 middle, 3 right.
// A press of a button already down, or a release of one that is up, does
// nothing.
func (in *Input) Button(b int, down bool) error {
	if b < 1 || b > 3 {
		return fmt.Errorf("button %d: only 1 (left), 2 (middle) and 3 (right) exist", b)
	}
	if err := in.lockOpen(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	if in.buttons[b] == down {
		return nil
	}
	in.restorePending()
	if down {
		in.fake(fakeButtonPress, byte(b), 0, 0)
	} else {
		in.fake(fakeButtonRelease, byte(b), 0, 0)
	}
	in.buttons[b] = down
	if err := in.flush(); err != nil {
		return fmt.Errorf("button %d: %w", b, err)
	}
	return nil
}

// Wheel scrolls by dx, dy WheelEvent pixels (positive: right, down). The
// pixels add up until they make a whole click of wheelStep pixels, sent as
// a click of button 4 (up), 5 (down), 6 (left) or 7 (right), so that the
// small deltas of a touchpad scroll too; a change of direction drops what
// was left over.
func (in *Input) Wheel(dx, dy float64) error {
	if math.IsNaN(dx) || math.IsNaN(dy) || math.IsInf(dx, 0) || math.IsInf(dy, 0) {
		return fmt.Errorf("wheel %v,%v: not a number", dx, dy)
	}
	if err := in.lockOpen(); err != nil {
		return err
	}
	defer in.mu.Unlock()
	for _, a := range []struct {
		acc      *float64
		delta    float64
		neg, pos byte
	}{{&in.wheelY, dy, 4, 5}, {&in.wheelX, dx, 6, 7}} {
		if a.delta == 0 {
			continue
		}
		if (*a.acc < 0) != (a.delta < 0) {
			*a.acc = 0
		}
		*a.acc += a.delta
		n := int(*a.acc / wheelStep)
		*a.acc -= float64(n) * wheelStep
		button := a.pos
		if n < 0 {
			n, button = -n, a.neg
		}
		for range min(n, maxWheelClicks) {
			in.fake(fakeButtonPress, button, 0, 0)
			in.fake(fakeButtonRelease, button, 0, 0)
		}
	}
	if err := in.flush(); err != nil {
		return fmt.Errorf("wheel: %w", err)
	}
	return nil
}
