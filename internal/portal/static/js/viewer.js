// The viewer: one session's remote screen in #screen, with its toolbar,
// overlays, clipboard and statistics. It follows a session still being
// launched (long poll) until it is ready, then connects (connection.js)
// and handles the agent's data channel messages:
//
//   hello {w,h,scale}      display size and the remote browser's scale
//                          (the clipboard policy comes from the connect
//                          answer, not from the agent)
//   size {w,h}             the display was resized
//   clip {text}            the session copied text
//   cursor {css}           the cursor to show over the video
//   error {message}        a request the agent refused
//
// It asks for a display the size of the tab in device pixels
// ({"t":"resize"}, even sizes, hidpi.js)
// when the agent says hello and when the window is resized (debounced),
// and for a keyframe when no frame has decoded shortly after the data
// channel opens.
//
// Test hook for automated browser tests (keep it): window.airlockViewer
//   state    "idle" (no viewer open), "starting" (session being launched),
//            "connecting", "waiting" (agent not connected yet),
//            "connected", "reconnecting", "replaced" (opened in another
//            tab: 4409), "failed", "ended" (session stopped), "closed"
//            (disconnected by the user)
//   error    the last failure or notice as shown to the user, "" once
//            connected
//   stats    the last stats.js sample (framesDecoded, fps, bitrateKbps,
//            rttMs, packetsLost, codec, localCandidateType,
//            remoteCandidateType, …), updated every second, or null
//   pc, channel   the current RTCPeerConnection and data channel, or null
//   files    the transfers (files.js)
//   session  the session id; display {w,h}; clipboard the policy;
//            scale the remote browser's device scale factor
//   audio    the sound's state (audio.js): none, waiting, on or off
//   expiry   the session's end while connected (expiry.js): {shown,
//            endsFor, seconds, extendable}, or null

import { api, isStarting } from './api.js';
import { $, showView, sentence, armConfirm } from './dom.js';
import { Connection, dropAhead } from './connection.js';
import { relayMode } from './ice.js';
import { attachInput, toRemote } from './input.js';
import { attachTouch } from './touch.js';
import { displaySize, helloScale, pixelRatio, cursorStyle } from './hidpi.js';
import { sample, render as renderRows } from './stats.js';
import * as clip from './clipboard.js';
import * as files from './files.js';
import * as sound from './audio.js';
import * as expiry from './expiry.js';
import { init as initChrome, setBadge, overlay, hideOverlay, toast, hideToast } from './chrome.js';

export const hook = {
  state: 'idle', error: '', stats: null, pc: null, channel: null, session: '', display: null, clipboard: 'off', scale: 1,
};
window.airlockViewer = hook;

const RESIZE_DEBOUNCE_MS = 400;
// After the data channel opens, the viewer asks for a keyframe if it has
// shown no frame yet, at each of these times: the agent's first keyframe
// can leave as its side of the connection comes up and reach a browser
// whose side is not yet ready for it, and a still screen sends nothing
// else before its 2 s keep-alive. A first frame shown here came 15–60 ms
// after the channel opened; a keyframe asked for needlessly costs the
// agent one encode.
const KEYFRAME_CHECKS_MS = [80, 400, 1500];

let app;
let visit = null; // AbortController of the current visit
let sessionId = '';
let conn = null;
// ahead is what the launch that opened this view opened ahead of its
// answer (connection.js openAhead), for the first connection.
let ahead = null;
let launchedWorkspace = null; // the workspace of that launch
let display = null;
let detachInput = null;
let statsTimer = 0;
let statsBusy = false;
let statsPC = null;
let resizeTimer = 0;
let asked = null; // last size asked for

const video = () => $('screen');

export function init(a) {
  app = a;
  initChrome();
  clip.init({ send, toast, focusScreen });
  files.init({ toast, hook });
  sound.init(hook);
  expiry.init({ hook, toast });
  armConfirm($('overlay-end'), 'Click again to end', endSession);
  armConfirm($('tb-end'), 'Click to confirm', endSession);
  $('tb-stats').addEventListener('click', toggleStats);
  $('tb-fullscreen').addEventListener('click', toggleFullscreen);
  $('tb-disconnect').addEventListener('click', disconnect);
  $('tb-hide').addEventListener('click', () => showToolbar(false));
  $('toolbar-handle').addEventListener('click', () => showToolbar(true));
}

export function enter(app, id) {
  showView('view-viewer');
  sessionId = id;
  // A session the launch that opened this view answered with needs no
  // second request: a warm one is ready in that answer.
  const launched = app && app.launched && app.launched.id === id ? app.launched : null;
  dropAhead(ahead);
  ahead = launched ? app.ahead || null : null;
  launchedWorkspace = launched ? app.launchedWorkspace || null : null;
  if (app) app.launched = app.ahead = app.launchedWorkspace = null;
  visit = new AbortController();
  display = null;
  asked = null;
  Object.assign(hook, { state: 'starting', error: '', stats: null, pc: null, channel: null, session: id, display: null, clipboard: 'off', scale: 1 });
  document.title = 'Session · Airlock';
  $('tb-title').textContent = 'Session';
  setBadge('starting', 'Starting');
  clip.reset();
  files.reset();
  hideToast();
  showToolbar(true, false);
  video().style.cursor = '';
  const detachKeys = attachInput(video(), {
    send,
    display: () => display,
    surface: $('kbd-input'),
    onFocus: (on) => $('tb-kbd').classList.toggle('on', on),
    onRelease: () => {
      showToolbar(true, false);
      $('tb-stats').focus();
    },
  });
  const v = video();
  const detachTouch = attachTouch(v, {
    send,
    map: (x, y, clamp) =>
      toRemote(x, y, v.getBoundingClientRect(), v.videoWidth, v.videoHeight, display && display.w, display && display.h, clamp),
    surface: $('kbd-input'),
    button: $('keyboard'),
  });
  detachInput = () => {
    detachTouch();
    detachKeys();
  };
  window.addEventListener('resize', onResize);
  document.addEventListener('fullscreenchange', onFullscreenChange);
  statsTimer = setInterval(updateStats, 1000);
  open(visit, launched);
}

export function leave() {
  dropAhead(ahead);
  ahead = null;
  if (visit) visit.abort();
  visit = null;
  if (conn) conn.stop('closed', 'Disconnected.');
  conn = null;
  if (detachInput) detachInput();
  detachInput = null;
  $('tb-kbd').classList.remove('on');
  clearInterval(statsTimer);
  clearTimeout(resizeTimer);
  window.removeEventListener('resize', onResize);
  document.removeEventListener('fullscreenchange', onFullscreenChange);
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  video().srcObject = null;
  sound.reset();
  clip.setOpen(false);
  files.reset();
  $('stats').hidden = true;
  $('tb-stats').setAttribute('aria-pressed', 'false');
  hideToast();
  statsPC = null;
  expiry.stop();
  Object.assign(hook, { state: 'idle', error: '', stats: null, pc: null, channel: null, session: '', display: null, clipboard: 'off', scale: 1 });
}

// open follows the session until it is ready, then connects.
async function open(my, launched = null) {
  const { signal } = my;
  overlay({ title: 'Opening the session…', spinner: true });
  let s = launched;
  for (let tries = 1; !s; tries++) {
    try {
      s = await api.session(sessionId, { signal });
      break;
    } catch (err) {
      if (err.name === 'AbortError') return;
      // A network change on this device (an interface coming up: on the
      // Airlock host itself, every session's network does) aborts the
      // requests in flight; that is worth a few more tries, not a failure.
      if (err.status !== 0 || tries >= 5) {
        openFailed(my, err);
        return;
      }
      await new Promise((r) => setTimeout(r, 400 * tries));
      if (visit !== my) return;
    }
  }
  nameSession(s, signal, launchedWorkspace);
  while (isStarting(s.state)) {
    if (visit !== my) return;
    hook.state = 'starting';
    setBadge('starting', 'Starting');
    overlay({
      title: 'Starting your session…', spinner: true, end: true,
      detail: 'Airlock is starting a fresh, isolated browser for you. This usually takes a few seconds.',
    });
    try {
      s = await api.waitSession(sessionId, { signal });
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (err.status !== 0) {
        openFailed(my, err);
        return;
      }
      await new Promise((r) => setTimeout(r, 2000)); // the network: try again
    }
  }
  if (visit !== my) return;
  if (s.state === 'failed') {
    terminal('failed', 'The session failed.', sentence(s.reason || 'No reason was given.'));
    return;
  }
  if (s.state === 'suspended') {
    suspended(my, s);
    return;
  }
  if (s.state !== 'ready') {
    terminal('ended', 'This session has ended.', 'Its browser was removed. Launch the workspace again for a new one.');
    return;
  }
  connect(s.connect || null);
}

// suspended offers to resume a session its workspace kept at its end.
function suspended(my, s) {
  hook.state = 'suspended';
  hook.error = '';
  setBadge('ended', 'Suspended', true);
  overlay({
    title: 'This session is suspended.', detail: sentence(s.reason || 'It can be resumed for a while.'), retry: 'Resume',
    onRetry: async () => {
      try {
        await api.resumeSession(s.id);
      } catch (err) {
        openFailed(my, err);
        return;
      }
      open(my);
    },
  });
}

function openFailed(my, err) {
  if (visit !== my || err.status === 401) return;
  if (err.status === 404) terminal('failed', 'Session not found.', sentence(err.message));
  else {
    hook.state = 'failed';
    hook.error = `Could not open the session. ${sentence(err.message)}`;
    setBadge('failed', 'Failed');
    overlay({ title: 'Could not open the session.', detail: sentence(err.message), error: true, retry: 'Retry', onRetry: () => open(my) });
  }
}

// terminal shows that the session is over (failed or ended).
function terminal(state, title, detail) {
  hook.state = state;
  hook.error = [title, detail].filter(Boolean).join(' ');
  setBadge(state, state === 'failed' ? 'Failed' : 'Ended', true);
  overlay({ title, detail, error: true });
}

// nameSession titles the viewer with the session's workspace: known is
// the one the launch was of, if this view opened from it (no request then:
// one now would be on the way to the first frame).
async function nameSession(s, signal, known = null) {
  try {
    const ws = known && known.id === s.workspace_id ? known : (await api.workspaces({ signal })).find((w) => w.id === s.workspace_id);
    if (ws && visit && visit.signal === signal) {
      $('tb-title').textContent = ws.name;
      document.title = `${ws.name} · Airlock`;
    }
  } catch {
    /* the title is a nicety */
  }
}

// connect opens the session's stream; tok is a connect answer the
// launch already gave, if any.
function connect(tok = null) {
  const a = ahead;
  ahead = null;
  conn = new Connection(sessionId, {
    relay: relayMode(location.search),
    tok,
    ahead: a,
    hook,
    on: { state: onState, track: onTrack, audio: sound.attach, channel: onChannel, message: onMessage, files: files.attach, notice: (t) => toast(t) },
  });
  conn.start();
}

const BADGES = {
  starting: 'Starting', connecting: 'Connecting', waiting: 'Waiting for agent', connected: 'Connected',
  reconnecting: 'Reconnecting', replaced: 'Opened elsewhere', failed: 'Failed', ended: 'Ended', closed: 'Disconnected',
};

function onState({ state, title, detail, error, retry, over }) {
  setBadge(state, BADGES[state] || state, over);
  if (state === 'connected') expiry.start(sessionId);
  else if (['failed', 'ended', 'replaced', 'closed'].includes(state)) expiry.stop();
  if (state === 'connected') {
    hideOverlay();
    const active = document.activeElement;
    if (!active || active === document.body) focusScreen();
    fitSoon(0);
    return;
  }
  const done = ['failed', 'ended', 'replaced', 'closed'].includes(state);
  overlay({
    title, detail, error, spinner: !done,
    retry: over ? '' : retry, onRetry: () => conn && conn.start(),
    end: !over && state !== 'ended',
  });
}

function onTrack(stream) {
  const v = video();
  if (v.srcObject !== stream) v.srcObject = stream;
  v.play().catch(() => {
    /* autoplay of a muted video is allowed; a refusal shows as no frames */
  });
}

function onChannel() {
  const my = conn;
  for (const ms of KEYFRAME_CHECKS_MS) {
    setTimeout(() => {
      if (conn === my && conn && !framesShown()) conn.send({ t: 'keyframe' });
    }, ms);
  }
}

// framesShown reports whether the video has shown a frame.
function framesShown() {
  const v = video();
  if (typeof v.getVideoPlaybackQuality === 'function') return v.getVideoPlaybackQuality().totalVideoFrames > 0;
  return !!(hook.stats && hook.stats.framesDecoded);
}

function onMessage(m) {
  switch (m.t) {
    case 'hello':
      setDisplay(m.w, m.h);
      hook.scale = helloScale(m.scale);
      // The policy is the server's (the connect answer), never the
      // agent's: a compromised session must not widen its own clipboard.
      hook.clipboard = clip.setPolicy(conn && conn.tok ? conn.tok.clipboard : 'off');
      fitSoon(0);
      break;
    case 'size':
      setDisplay(m.w, m.h);
      break;
    case 'clip':
      clip.receive(m.text);
      break;
    case 'cursor':
      // A CSS cursor keyword, or a PNG the agent made from the remote
      // cursor's pixels. Nothing else reaches the style: the keyword is
      // checked, the image must be base64 and is only ever a data: PNG.
      if (typeof m.css === 'string' && /^[a-z-]{1,32}$/.test(m.css)) {
        video().style.cursor = m.css;
      } else if (typeof m.png === 'string' && m.png.length <= 96 * 1024 && /^[A-Za-z0-9+/]+=*$/.test(m.png)) {
        const x = Number.isInteger(m.x) && m.x >= 0 && m.x < 128 ? m.x : 0;
        const y = Number.isInteger(m.y) && m.y >= 0 && m.y < 128 ? m.y : 0;
        video().style.cursor = cursorStyle(m.png, x, y, pixelRatio(window.devicePixelRatio, hook.scale));
      }
      break;
    case 'error':
      hook.error = `The session refused a request: ${sentence(m.message || 'no reason given')}`;
      toast(hook.error);
      break;
    default:
      break;
  }
}

function setDisplay(w, h) {
  if (!(w > 0 && h > 0)) return;
  display = { w, h };
  hook.display = display;
}

function send(msg) {
  return conn ? conn.send(msg) : false;
}

function focusScreen() {
  video().focus({ preventScroll: true });
}

// Resize: ask for a display the size of the tab, in device pixels. A
// change of devicePixelRatio (the tab moved to another screen, a zoom)
// fires resize too.

function onResize() {
  fitSoon(RESIZE_DEBOUNCE_MS);
}

function fitSoon(delay) {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(fit, delay);
}

function fit() {
  if (!display || hook.state !== 'connected') return;
  const { w, h } = displaySize(window.innerWidth, window.innerHeight, window.devicePixelRatio, hook.scale);
  if (w === display.w && h === display.h) return;
  if (asked && asked.w === w && asked.h === h) return;
  if (send({ t: 'resize', w, h })) asked = { w, h };
}

// Toolbar.

function showToolbar(on, focus = true) {
  $('toolbar').hidden = !on;
  $('toolbar-handle').hidden = on;
  if (!focus) return;
  if (on) $('tb-hide').focus({ preventScroll: true });
  else focusScreen();
}

// Actions.

function disconnect() {
  if (!conn) return;
  conn.stop('closed', 'Disconnected.', 'The session keeps running. Reconnect to it, or end it to remove its browser.', { retry: 'Reconnect' });
}

async function endSession() {
  const id = sessionId;
  const my = visit;
  if (conn) conn.stop('ended', 'Ending the session…');
  overlay({ title: 'Ending the session…', spinner: true });
  try {
    await api.endSession(id);
  } catch (err) {
    if (visit !== my || err.status === 401) return;
    overlay({ title: 'Could not end the session.', detail: sentence(err.message), error: true, retry: 'Try again', onRetry: endSession });
    return;
  }
  if (visit === my) app.go('#/');
}

async function toggleFullscreen() {
  if (document.fullscreenElement) {
    await document.exitFullscreen().catch(() => {});
    return;
  }
  try {
    await $('view-viewer').requestFullscreen({ navigationUI: 'hide' });
  } catch (err) {
    toast(`Full screen is not available: ${err.message}`);
    return;
  }
  // In full screen, Chromium can hand keys like Ctrl+W and Escape to the
  // page too (hold Escape to leave full screen).
  if (navigator.keyboard && navigator.keyboard.lock) navigator.keyboard.lock().catch(() => {});
  focusScreen();
}

function onFullscreenChange() {
  const on = !!document.fullscreenElement;
  $('tb-fullscreen').setAttribute('aria-pressed', String(on));
  $('tb-fullscreen').querySelector('.tb-label').textContent = on ? 'Exit full screen' : 'Full screen';
  if (!on && navigator.keyboard && navigator.keyboard.unlock) navigator.keyboard.unlock();
}

// Statistics.

function toggleStats() {
  const panel = $('stats');
  panel.hidden = !panel.hidden;
  $('tb-stats').setAttribute('aria-pressed', String(!panel.hidden));
  if (!panel.hidden) renderStats();
}

async function updateStats() {
  const pc = conn && conn.pc;
  if (!pc || statsBusy) return;
  statsBusy = true;
  try {
    const prev = statsPC === pc ? hook.stats : null;
    const s = await sample(pc, prev);
    if (conn && conn.pc === pc) {
      statsPC = pc;
      hook.stats = s;
      if (!$('stats').hidden) renderStats();
    }
  } catch {
    /* the connection closed while sampling */
  } finally {
    statsBusy = false;
  }
}

function renderStats() {
  renderRows($('stats-list'), hook.stats, display);
}
