// The viewer's clipboard panel. The server's connect answer names the
// workspace's policy (the agent's word is not taken for it): "to-container" shows the box that sends text to the session
// ({"t":"clip","text"}), "from-container" shows what the session copied
// (with a Copy button), "both" shows both, "off" (or anything unknown)
// hides the clipboard entirely.
//
// Text from the session is never written to this device's clipboard on
// its own: a page in the isolated browser could otherwise plant text to
// be pasted here. The user copies it with a click.

import { $ } from './dom.js';

// MAX_CLIP_BYTES bounds one clip message: a data channel message larger
// than 64 KiB is not guaranteed to reach the agent.
const MAX_CLIP_BYTES = 65536;
const PREVIEW_CHARS = 2000;

let send = () => false;
let toast = () => {};
let focusScreen = () => {};
let policy = 'off';
let received = '';

export const canSend = () => policy === 'to-container' || policy === 'both';
export const canReceive = () => policy === 'from-container' || policy === 'both';

// init wires the panel once: send(msg) writes to the data channel,
// toast(text, action, fn) shows a notice, focusScreen() gives the video
// the keyboard back.
export function init(o) {
  ({ send, toast, focusScreen } = o);
  $('tb-clipboard').addEventListener('click', () => setOpen($('clip-panel').hidden));
  $('clip-send').addEventListener('click', () => sendText($('clip-text').value));
  $('clip-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      sendText($('clip-text').value);
    }
    if (e.key === 'Escape') setOpen(false);
  });
  $('clip-read').addEventListener('click', readLocal);
  $('clip-copy').addEventListener('click', copyReceived);
}

// reset forgets the previous session's clipboard.
export function reset() {
  received = '';
  $('clip-text').value = '';
  $('clip-received').textContent = 'Nothing copied yet.';
  $('clip-copy').disabled = true;
  status('');
  setPolicy('off');
}

export function setPolicy(p) {
  policy = ['to-container', 'from-container', 'both'].includes(p) ? p : 'off';
  $('tb-clipboard').hidden = policy === 'off';
  $('clip-to').hidden = !canSend();
  $('clip-from').hidden = !canReceive();
  $('clip-read').hidden = !(navigator.clipboard && navigator.clipboard.readText);
  if (policy === 'off') setOpen(false);
  return policy;
}

export function setOpen(open) {
  $('clip-panel').hidden = !open;
  $('tb-clipboard').setAttribute('aria-expanded', String(open));
  if (open) {
    $('tb-clipboard-dot').hidden = true;
    if (canSend()) $('clip-text').focus();
    else $('clip-copy').focus();
  }
}

function status(text) {
  $('clip-status').textContent = text;
}

function sendText(text) {
  if (!canSend()) return;
  if (!text) {
    status('Nothing to send: paste or type some text first.');
    return;
  }
  const size = new TextEncoder().encode(JSON.stringify({ t: 'clip', text })).length;
  if (size > MAX_CLIP_BYTES) {
    status(`That is too long to send (${Math.ceil(size / 1024)} KiB; the limit is 64 KiB).`);
    return;
  }
  if (!send({ t: 'clip', text })) {
    status('Not connected to the session; the text was not sent.');
    return;
  }
  status(`Sent ${text.length} characters. Paste them in the session with Ctrl+V.`);
  focusScreen();
}

async function readLocal() {
  try {
    const text = await navigator.clipboard.readText();
    $('clip-text').value = text;
    sendText(text);
  } catch {
    status('This browser did not allow reading your clipboard. Paste into the box (Ctrl+V), then Send.');
    $('clip-text').focus();
  }
}

// receive shows text the session copied.
export function receive(text) {
  if (!canReceive()) return;
  received = typeof text === 'string' ? text : '';
  const shown = received.length > PREVIEW_CHARS ? received.slice(0, PREVIEW_CHARS) + '…' : received;
  $('clip-received').textContent = shown || '(empty)';
  $('clip-copy').disabled = !received;
  if ($('clip-panel').hidden) {
    $('tb-clipboard-dot').hidden = false;
    if (received) toast(`The session copied ${received.length} characters.`, 'Copy', copyReceived);
  }
}

async function copyReceived() {
  if (!received) return;
  try {
    await navigator.clipboard.writeText(received);
    status(`Copied ${received.length} characters to your clipboard.`);
    toast(`Copied ${received.length} characters to your clipboard.`);
  } catch {
    setOpen(true);
    const range = document.createRange();
    range.selectNodeContents($('clip-received'));
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    status('This browser did not allow copying; the text is selected: press Ctrl+C.');
  }
}
