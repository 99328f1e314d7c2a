// Keyboard, pointer and wheel capture for the viewer's video element,
// sent as the data channel messages of docs/viewer-protocol.md:
//
//   {"t":"move","x","y"}              pointer position, remote pixels
//   {"t":"button","b":1|2|3,"down"}   left, middle, right
//   {"t":"wheel","dx","dy"}           WheelEvent pixels (deltaMode 0)
//   {"t":"key","down","key","code"}   KeyboardEvent.key and .code as given
//   {"t":"text","text"}               committed text of an input method
//
// Keys are captured while the keyboard surface has focus: a hidden text
// area over the video (an input method composes only in an editable
// element), which takes the focus on click and whenever the video gets
// it. Their default actions are prevented so the browser does not act on
// them, Tab included; the keys of a composition are left to the input
// method, and what it commits (compositionend, or beforeinput insertText
// from a phone's keyboard) is sent as text. Ctrl+Alt+Shift hands the keyboard
// back to the page (onRelease), so keyboard users are never trapped.
// Everything held is released when focus goes, so no key or button stays
// stuck in the session.
//
// This module touches no DOM at load, so toRemote can be tested in node.

// BUTTONS maps PointerEvent.button to the protocol's button numbers.
export const BUTTONS = { 0: 1, 1: 2, 2: 3 };
// BUTTON_BITS are the PointerEvent.buttons bits of those buttons.
const BUTTON_BITS = { 0: 1, 1: 4, 2: 2 };

// toRemote maps a point in client coordinates to remote display pixels.
// rect is the video element's box, (vw, vh) the decoded video size and
// (dw, dh) the remote display size (the video size when unknown). With
// object-fit: contain the picture is letterboxed in the box: scaled by
// the smaller ratio and centred. A point outside the picture gives null,
// or the nearest edge pixel when clamp is set (a drag leaving the video).
export function toRemote(clientX, clientY, rect, vw, vh, dw = vw, dh = vh, clamp = false) {
  if (!(vw > 0 && vh > 0 && rect.width > 0 && rect.height > 0)) return null;
  const scale = Math.min(rect.width / vw, rect.height / vh);
  const left = rect.left + (rect.width - vw * scale) / 2;
  const top = rect.top + (rect.height - vh * scale) / 2;
  const fx = (clientX - left) / (vw * scale); // 0..1 across the picture
  const fy = (clientY - top) / (vh * scale);
  if (!clamp && (fx < 0 || fy < 0 || fx >= 1 || fy >= 1)) return null;
  dw = dw > 0 ? dw : vw;
  dh = dh > 0 ? dh : vh;
  return {
    x: Math.min(Math.max(Math.floor(fx * dw), 0), dw - 1),
    y: Math.min(Math.max(Math.floor(fy * dh), 0), dh - 1),
  };
}

// isCompositionKey says whether a key event belongs to an input method's
// composition (or to a phone keyboard that names no key): the input
// method needs it, and what it types comes as text.
export function isCompositionKey(e) {
  return !!e.isComposing || e.keyCode === 229 || e.key === 'Process';
}

// inputMessages is what a beforeinput event of the keyboard surface
// sends: text typed outside a composition (a phone's keyboard, an input
// method committing without composition events), or the editing keys a
// phone's keyboard gives as input types only. Composition updates send
// nothing: compositionend sends the committed text.
export function inputMessages(inputType, data) {
  const tap = (key, code) => [
    { t: 'key', down: true, key, code },
    { t: 'key', down: false, key, code },
  ];
  switch (inputType) {
    case 'insertText':
    case 'insertReplacementText':
      return data ? [{ t: 'text', text: data }] : [];
    case 'insertLineBreak':
    case 'insertParagraph':
      return tap('Enter', 'Enter');
    case 'deleteContentBackward':
      return tap('Backspace', 'Backspace');
    case 'deleteContentForward':
      return tap('Delete', 'Delete');
    default:
      return [];
  }
}

// wheelPixels converts a wheel delta to pixels (deltaMode 0).
export function wheelPixels(delta, mode, pageSize) {
  if (mode === 1) return delta * 40; // lines
  if (mode === 2) return delta * pageSize; // pages
  return delta;
}

// attachInput captures input on video, keys on surface (the hidden text
// area; video itself when there is none). send(msg) writes to the data
// channel (false when it is not open); display() is the remote display
// size {w, h} or null; onFocus(bool) is told when capture starts and
// stops; onRelease() is called on Ctrl+Alt+Shift and should move focus
// out of the video. Touch pointers are left to touch.js. It returns a
// function that detaches everything.
export function attachInput(video, { send, display, surface = video, onFocus = () => {}, onRelease = () => surface.blur() }) {
  const keys = new Map(); // code -> key, held down
  const buttons = new Set(); // protocol buttons held down
  const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
  let last = null; // last position sent
  let pending = null; // position waiting for the next frame
  let raf = 0;
  let wheelX = 0;
  let wheelY = 0;

  const map = (e, clamp) => {
    const d = display();
    return toRemote(e.clientX, e.clientY, video.getBoundingClientRect(), video.videoWidth, video.videoHeight,
      d && d.w, d && d.h, clamp);
  };
  const flushMove = () => {
    cancelAnimationFrame(raf);
    raf = 0;
    if (!pending) return;
    const p = pending;
    pending = null;
    if (last && last.x === p.x && last.y === p.y) return;
    if (send({ t: 'move', x: p.x, y: p.y })) last = p;
  };
  const moveTo = (p, now) => {
    pending = p;
    if (now) flushMove();
    else if (!raf) raf = requestAnimationFrame(flushMove);
  };

  const releaseAll = () => {
    for (const [code, key] of keys) send({ t: 'key', down: false, key, code });
    keys.clear();
    for (const b of buttons) send({ t: 'button', b, down: false });
    buttons.clear();
  };

  const onKey = (e) => {
    const down = e.type === 'keydown';
    // An input method's keys are its own, but a key sent down is always
    // sent up.
    if (isCompositionKey(e) && !(!down && keys.has(e.code))) return;
    e.preventDefault();
    e.stopPropagation();
    if (down) keys.set(e.code, e.key);
    else keys.delete(e.code);
    send({ t: 'key', down, key: e.key, code: e.code });
    if (down && e.ctrlKey && e.altKey && e.shiftKey && ['Control', 'Alt', 'Shift'].includes(e.key)) {
      releaseAll();
      onRelease();
      return;
    }
    // macOS sends no keyup for keys released while Command is held.
    if (!down && isMac && e.key === 'Meta') releaseAll();
  };
  const sendAll = (msgs) => {
    for (const m of msgs) send(m);
  };
  const clearSurface = () => {
    if (surface !== video) surface.value = '';
  };
  const onCompositionEnd = (e) => {
    if (e.data) send({ t: 'text', text: e.data });
    clearSurface();
  };
  const onBeforeInput = (e) => {
    if (e.isComposing || e.inputType === 'insertCompositionText') return;
    e.preventDefault();
    sendAll(inputMessages(e.inputType, e.data));
  };
  const onInput = (e) => {
    if (!e.isComposing) clearSurface();
  };
  const focusSurface = () => {
    if (document.activeElement !== surface) surface.focus({ preventScroll: true });
  };
  const onPointerDown = (e) => {
    if (e.pointerType === 'touch') return;
    focusSurface();
    e.preventDefault();
    const p = map(e, false);
    const b = BUTTONS[e.button];
    if (!p || !b) return;
    try {
      video.setPointerCapture(e.pointerId);
    } catch {
      /* the pointer is already gone */
    }
    moveTo(p, true);
    buttons.add(b);
    send({ t: 'button', b, down: true });
  };
  const onPointerUp = (e) => {
    if (e.pointerType === 'touch') return;
    e.preventDefault();
    const b = BUTTONS[e.button];
    const p = map(e, true);
    if (p) moveTo(p, true);
    if (b && buttons.delete(b)) send({ t: 'button', b, down: false });
  };
  const onPointerMove = (e) => {
    if (e.pointerType === 'touch') return;
    const p = map(e, buttons.size > 0);
    if (p) moveTo(p, false);
    // A button pressed or released while another is held (a chord) comes
    // as a move with .button set, not as pointerdown/pointerup.
    const b = BUTTONS[e.button];
    if (b && e.button >= 0) {
      const down = (e.buttons & BUTTON_BITS[e.button]) !== 0;
      if (down !== buttons.has(b)) {
        if (p) moveTo(p, true);
        if (down) buttons.add(b);
        else buttons.delete(b);
        send({ t: 'button', b, down });
      }
    }
  };
  const onPointerCancel = (e) => {
    if (e.pointerType === 'touch') return;
    for (const b of buttons) send({ t: 'button', b, down: false });
    buttons.clear();
  };
  const onWheel = (e) => {
    e.preventDefault();
    const p = map(e, false);
    if (p) moveTo(p, true);
    const page = video.getBoundingClientRect().height;
    wheelX += wheelPixels(e.deltaX, e.deltaMode, page);
    wheelY += wheelPixels(e.deltaY, e.deltaMode, page);
    // Trackpads give fractions: keep the remainder for the next event.
    const dx = Math.trunc(wheelX);
    const dy = Math.trunc(wheelY);
    if (!dx && !dy) return;
    wheelX -= dx;
    wheelY -= dy;
    send({ t: 'wheel', dx, dy });
  };
  const prevent = (e) => e.preventDefault();
  const onFocusIn = () => onFocus(true);
  const onBlur = () => {
    releaseAll();
    onFocus(false);
  };
  const onHidden = () => {
    if (document.hidden) releaseAll();
  };

  const listeners = [
    [surface, 'keydown', onKey],
    [surface, 'keyup', onKey],
    [video, 'pointerdown', onPointerDown],
    [video, 'pointerup', onPointerUp],
    [video, 'pointermove', onPointerMove],
    [video, 'pointercancel', onPointerCancel],
    [video, 'lostpointercapture', onPointerCancel],
    [video, 'wheel', onWheel, { passive: false }],
    [video, 'contextmenu', prevent],
    [video, 'dragstart', prevent],
    [surface, 'focus', onFocusIn],
    [surface, 'blur', onBlur],
    [window, 'blur', onBlur],
    [document, 'visibilitychange', onHidden],
  ];
  if (surface !== video) {
    listeners.push(
      [surface, 'compositionend', onCompositionEnd],
      [surface, 'beforeinput', onBeforeInput],
      [surface, 'input', onInput],
      // Whatever focuses the video (a click, Tab, the viewer) gives the
      // keyboard to the surface.
      [video, 'focus', focusSurface],
    );
  }
  for (const [t, type, fn, opts] of listeners) t.addEventListener(type, fn, opts);
  return () => {
    releaseAll();
    cancelAnimationFrame(raf);
    for (const [t, type, fn, opts] of listeners) t.removeEventListener(type, fn, opts);
  };
}
