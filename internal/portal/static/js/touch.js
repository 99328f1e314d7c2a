// Touch input for the viewer on a phone or tablet, sent as the data
// channel messages of input.js (docs/viewer-protocol.md):
//
//   one finger, lifted without moving   a click of the left button
//   one finger, moved                   a drag with the left button held
//   one finger, held still              a click of the right button
//                                       (the context menu)
//   two fingers, moved together         wheel scrolling, the content
//                                       following the fingers
//   two fingers, pinched or spread      Ctrl+wheel, Chromium's zoom
//
// A finger that has not moved yet presses nothing, so a second finger
// can still make the gesture a scroll or a pinch rather than a click.
// The keyboard button focuses the keyboard surface with the on-screen
// keyboard allowed (inputmode text): a tap on the screen focuses it too,
// but with inputmode none, so that the keyboard does not pop up on every
// tap.
//
// Gestures is pure logic (no DOM), tested in node; attachTouch wires it
// to pointer events.

// SLOP is how far (CSS pixels) a finger may wander and still tap.
export const SLOP = 10;
// ZOOM_STEP is the change of the fingers' distance that makes one zoom
// step (one Ctrl+wheel click), as a ratio.
export const ZOOM_STEP = 1.25;
// LONG_PRESS_MS is how long a still finger takes to right-click.
export const LONG_PRESS_MS = 600;
// WHEEL_CLICK is the wheel delta of one click (the agent's step).
const WHEEL_CLICK = 100;

const dist = (a, b) => Math.hypot(a.x - b.x, a.y - b.y);
const mid = (a, b) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });

export class Gestures {
  // send(msg) writes a message; map(x, y, clamp) gives the remote pixel
  // of a client point (null outside the picture unless clamp).
  constructor({ send, map }) {
    this.send = send;
    this.map = map;
    this.fingers = new Map(); // pointerId -> {x, y, x0, y0}
    this.mode = ''; // '', 'pending', 'drag', 'two'
    this.pressed = false;
    this.last = null; // last remote position sent
    this.center = null; // two fingers: last centroid (client)
    this.spread = 0; // two fingers: distance at the last zoom step
    this.wheel = { x: 0, y: 0 }; // remote pixels not sent yet
  }

  moveTo(x, y, clamp) {
    const p = this.map(x, y, clamp);
    if (!p) return null;
    if (!this.last || this.last.x !== p.x || this.last.y !== p.y) {
      this.send({ t: 'move', x: p.x, y: p.y });
      this.last = p;
    }
    return p;
  }

  down(id, x, y) {
    this.fingers.set(id, { x, y, x0: x, y0: y });
    if (this.fingers.size === 1) {
      this.mode = 'pending';
      return;
    }
    // A second finger: a scroll or a pinch, unless a drag has begun.
    if (this.mode === 'drag' || this.fingers.size > 2) return;
    this.mode = 'two';
    const [a, b] = [...this.fingers.values()];
    this.center = mid(a, b);
    this.spread = dist(a, b);
    this.wheel = { x: 0, y: 0 };
  }

  move(id, x, y) {
    const f = this.fingers.get(id);
    if (!f) return;
    f.x = x;
    f.y = y;
    if (this.mode === 'pending' && Math.hypot(x - f.x0, y - f.y0) > SLOP) {
      if (!this.moveTo(f.x0, f.y0, false)) {
        this.mode = ''; // began outside the picture: nothing to drag
        return;
      }
      this.mode = 'drag';
      this.pressed = true;
      this.send({ t: 'button', b: 1, down: true });
    }
    if (this.mode === 'drag') this.moveTo(x, y, true);
    if (this.mode === 'two' && this.fingers.size === 2) this.twoFingers();
  }

  twoFingers() {
    const [a, b] = [...this.fingers.values()];
    const c = mid(a, b);
    // The content follows the fingers: moving them up scrolls down. The
    // deltas are CSS pixels, as a WheelEvent's, so that a remote display
    // in device pixels (HiDPI) scrolls as far as the fingers went.
    this.wheel.x += this.center.x - c.x;
    this.wheel.y += this.center.y - c.y;
    this.center = c;
    const dx = Math.trunc(this.wheel.x);
    const dy = Math.trunc(this.wheel.y);
    if ((dx || dy) && this.moveTo(c.x, c.y, true)) {
      this.wheel.x -= dx;
      this.wheel.y -= dy;
      this.send({ t: 'wheel', dx, dy });
    }
    const d = dist(a, b);
    if (!(this.spread > 0) || !(d > 0)) return;
    let steps = 0;
    while (d / this.spread >= ZOOM_STEP ** (steps + 1)) steps++;
    while (d / this.spread <= ZOOM_STEP ** (steps - 1)) steps--;
    if (!steps) return;
    this.spread *= ZOOM_STEP ** steps;
    this.moveTo(c.x, c.y, true);
    const ctrl = { t: 'key', key: 'Control', code: 'ControlLeft' };
    this.send({ ...ctrl, down: true });
    // Wheel up (negative) zooms in, as on a mouse with Ctrl.
    this.send({ t: 'wheel', dx: 0, dy: -Math.sign(steps) * WHEEL_CLICK * Math.abs(steps) });
    this.send({ ...ctrl, down: false });
  }

  // hold is called LONG_PRESS_MS after finger id came down: still
  // there, alone and unmoved, it right-clicks, and its lifting does
  // nothing more.
  hold(id) {
    const f = this.fingers.get(id);
    if (!f || this.mode !== 'pending' || this.fingers.size !== 1) return;
    this.mode = 'done';
    if (this.moveTo(f.x0, f.y0, false)) {
      this.send({ t: 'button', b: 3, down: true });
      this.send({ t: 'button', b: 3, down: false });
    }
  }

  up(id, x, y) {
    const f = this.fingers.get(id);
    if (!f) return;
    this.fingers.delete(id);
    if (this.mode === 'pending') {
      // A tap: a click where the finger came down.
      if (this.moveTo(f.x0, f.y0, false)) {
        this.send({ t: 'button', b: 1, down: true });
        this.send({ t: 'button', b: 1, down: false });
      }
    } else if (this.mode === 'drag') {
      this.moveTo(x, y, true);
      this.release();
    }
    if (this.fingers.size === 0) this.mode = '';
    else if (this.mode !== 'two') this.mode = 'done';
  }

  // cancel ends every gesture: the browser took the touch over, or the
  // viewer lost focus. A drag's button is released.
  cancel() {
    this.release();
    this.fingers.clear();
    this.mode = '';
  }

  release() {
    if (!this.pressed) return;
    this.pressed = false;
    this.send({ t: 'button', b: 1, down: false });
  }
}

// attachTouch wires touch pointers on video to Gestures. map(x, y, clamp)
// maps client points to remote pixels; surface is the keyboard surface
// and button the toolbar's keyboard button. It returns a function that
// detaches everything.
export function attachTouch(video, { send, map, surface, button }) {
  const g = new Gestures({ send, map });
  const holds = new Map(); // pointerId -> long-press timer
  const unhold = (id) => {
    clearTimeout(holds.get(id));
    holds.delete(id);
  };
  const touch = (fn) => (e) => {
    if (e.pointerType !== 'touch') return;
    e.preventDefault();
    fn(e);
  };
  const onDown = touch((e) => {
    try {
      video.setPointerCapture(e.pointerId);
    } catch {
      /* the pointer is already gone */
    }
    // The keys of an attached keyboard go to the session, but a tap does
    // not pop up the on-screen one.
    if (document.activeElement !== surface) {
      surface.setAttribute('inputmode', 'none');
      surface.focus({ preventScroll: true });
    }
    g.down(e.pointerId, e.clientX, e.clientY);
    holds.set(e.pointerId, setTimeout(() => g.hold(e.pointerId), LONG_PRESS_MS));
  });
  const onMove = touch((e) => g.move(e.pointerId, e.clientX, e.clientY));
  const onUp = touch((e) => {
    unhold(e.pointerId);
    g.up(e.pointerId, e.clientX, e.clientY);
  });
  const cancel = () => {
    for (const id of [...holds.keys()]) unhold(id);
    g.cancel();
  };
  const onCancel = touch(cancel);
  const onBlur = cancel;
  const onKeyboard = (e) => {
    e.preventDefault();
    surface.setAttribute('inputmode', 'text');
    // Focus from the click itself: phones show their keyboard only then.
    surface.blur();
    surface.focus({ preventScroll: true });
  };
  const listeners = [
    [video, 'pointerdown', onDown],
    [video, 'pointermove', onMove],
    [video, 'pointerup', onUp],
    [video, 'pointercancel', onCancel],
    [surface, 'blur', onBlur],
    [button, 'click', onKeyboard],
  ];
  for (const [t, type, fn] of listeners) t.addEventListener(type, fn);
  return () => {
    cancel();
    for (const [t, type, fn] of listeners) t.removeEventListener(type, fn);
  };
}
