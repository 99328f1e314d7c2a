// The session's end, as the viewer warns of it. While a viewer is
// connected it asks the server when and why (idle or lifetime) the
// session will end; inside the warning window it shows a banner with a
// countdown and a Keep working button, which counts as input and moves
// the lifetime's end as far as the workspace allows. Input the user
// sends meanwhile also keeps the session: the agent reports it, and the
// next poll hides the banner.
//
// Test hook: hook.expiry = {shown, endsFor, seconds, extendable} or null.

import { api } from './api.js';
import { $ } from './dom.js';

// POLL_MS is how often the end is asked for while it is far; NEAR_MS
// while the banner shows, so that input clears it soon.
const POLL_MS = 15000;
const NEAR_MS = 2000;

let hook = null;
let id = '';
let deadline = 0; // performance.now() at the end
let warnMs = 0;
let endsFor = '';
let extendable = false;
let pollTimer = 0;
let tickTimer = 0;
let epoch = 0;
let toast = () => {};

export function init(opts) {
  hook = opts.hook;
  toast = opts.toast;
  $('expiry-keep').addEventListener('click', keep);
}

// start follows the end of session sid.
export function start(sid) {
  stop();
  id = sid;
  epoch++;
  poll(epoch);
}

export function stop() {
  epoch++;
  clearTimeout(pollTimer);
  clearInterval(tickTimer);
  tickTimer = 0;
  $('expiry').hidden = true;
  if (hook) hook.expiry = null;
}

// update takes a session view's end.
export function update(s) {
  if (typeof s.ends_in_seconds !== 'number' || !s.ends_for) {
    deadline = 0;
    render();
    return;
  }
  deadline = performance.now() + s.ends_in_seconds * 1000;
  warnMs = (s.warn_seconds || 60) * 1000;
  endsFor = s.ends_for;
  extendable = !!s.extendable;
  render();
}

async function poll(my) {
  try {
    const s = await api.session(id);
    if (my !== epoch) return;
    update(s);
  } catch {
    /* the connection's own checks report a session gone or a network down */
  }
  if (my !== epoch) return;
  const left = deadline ? deadline - performance.now() : Infinity;
  pollTimer = setTimeout(() => poll(my), left - warnMs < POLL_MS ? NEAR_MS : POLL_MS);
}

function render() {
  const left = deadline ? deadline - performance.now() : Infinity;
  const shown = left <= warnMs;
  const seconds = Math.max(0, Math.ceil(left / 1000));
  if (hook) hook.expiry = deadline ? { shown, endsFor, seconds, extendable } : null;
  $('expiry').hidden = !shown;
  if (!shown) {
    clearInterval(tickTimer);
    tickTimer = 0;
    return;
  }
  const m = Math.floor(seconds / 60);
  const clock = `${m}:${String(seconds % 60).padStart(2, '0')}`;
  $('expiry-text').textContent = endsFor === 'idle'
    ? `This session ends in ${clock}: it has had no input for a while.`
    : extendable
      ? `This session reaches its time limit in ${clock}.`
      : `This session reaches its time limit in ${clock} and cannot be extended. Save your work.`;
  $('expiry-keep').hidden = endsFor !== 'idle' && !extendable;
  if (!tickTimer) tickTimer = setInterval(render, 1000);
}

async function keep() {
  const my = epoch;
  try {
    const s = await api.extendSession(id);
    if (my === epoch) update(s);
  } catch (err) {
    toast(`Could not keep the session: ${err.message}`);
  }
}
