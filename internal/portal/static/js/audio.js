// The session's sound: the agent's Opus track (docs/viewer-protocol.md)
// plays in #sound, an <audio> element of its own, and the toolbar's
// #speaker button turns it on and off.
//
// Browsers let a page play sound only after the user has interacted with
// it, so the element starts muted and is unmuted by the user's first
// gesture in the viewer (a click, a tap or a key: usually the first click
// on the remote screen), unless the user has turned the sound off. A
// click on #speaker is a gesture too. The state shows on the button
// (data-state, aria-pressed and its label) and in
// window.airlockViewer.audio:
//
//   none     the session sends no sound (the workspace has it off): the
//            button is hidden
//   waiting  sound is there, muted until the user's first gesture
//   on       playing
//   off      muted by the user

import { $ } from './dom.js';

// state is pure: {track, gesture, off} -> what the element and the button
// show. track: a sound track arrived; gesture: the user has interacted
// with the page; off: the user turned the sound off.
export function state({ track, gesture, off }) {
  if (!track) return { name: 'none', muted: true, hidden: true, pressed: false, label: 'Sound', title: '' };
  if (off) return { name: 'off', muted: true, hidden: false, pressed: false, label: 'Sound off', title: 'Sound is off: click to turn it on' };
  if (!gesture) {
    return { name: 'waiting', muted: true, hidden: false, pressed: false, label: 'Sound',
      title: 'Sound starts when you click in the session or here (the browser asks for a click first)' };
  }
  return { name: 'on', muted: false, hidden: false, pressed: true, label: 'Sound on', title: 'Sound is on: click to mute' };
}

// toggle is what a click on #speaker does: while waiting for a first
// gesture it is that gesture and turns the sound on; after, it flips
// between on and off.
export function toggle(s) {
  if (!s.gesture) return { ...s, gesture: true, off: false };
  return { ...s, off: !s.off };
}

let hook = null;
let cur = { track: false, gesture: false, off: false };

const el = () => $('sound');

// init wires the button and the first-gesture listeners; hook is
// window.airlockViewer.
export function init(h) {
  hook = h;
  $('speaker').addEventListener('click', () => set(toggle(cur)));
  const gesture = () => {
    if (!cur.gesture) set({ ...cur, gesture: true });
  };
  // Capture: the remote screen's input handlers must not hide it.
  for (const type of ['pointerdown', 'keydown', 'touchend']) window.addEventListener(type, gesture, true);
  set(cur);
}

// attach plays the session's sound track (a MediaStream).
export function attach(stream) {
  const a = el();
  if (a.srcObject !== stream) a.srcObject = stream;
  set({ ...cur, track: true });
}

// reset forgets the track (the viewer left the session); the user's
// gesture and choice stay for the next one.
export function reset() {
  el().srcObject = null;
  set({ ...cur, track: false });
}

function set(next) {
  cur = next;
  const s = state(cur);
  const a = el();
  a.muted = s.muted;
  if (cur.track && a.paused) {
    a.play().catch(() => {
      /* refused until a gesture: the next one plays it */
    });
  }
  const b = $('speaker');
  b.hidden = s.hidden;
  b.dataset.state = s.name;
  b.setAttribute('aria-pressed', String(s.pressed));
  b.title = s.title;
  b.querySelector('.tb-label').textContent = s.label;
  if (hook) hook.audio = s.name;
}
