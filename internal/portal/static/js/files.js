// Files between the remote browser and this machine, over the data
// channel "files" (docs/viewer-protocol.md, "Files"):
//
//   downloads  the page downloads a file: it is listed in the downloads
//              panel (#files-panel) with its size and progress; nothing
//              reaches this machine until the user clicks its Save
//              button, which asks the agent for it ({t:"get"}); the
//              chunks are checked against the sha256 the agent ends
//              with, then saved through a Blob and <a download>.
//   uploads    the user drops a file on the screen or picks one with the
//              toolbar's #upload button (hidden when the workspace
//              allows no uploads); it goes to the session, which gives
//              it to the page's next file chooser. When the page opens a
//              chooser first, the viewer asks the user for a file.
//
// Test hook: window.airlockViewer.files = { downloads: [{id, name, size,
// received, state: progress|offered|saving|saved|refused, message}],
// uploads: [{id, name, size, state: sending|uploaded|filled|refused,
// message}], downloadMax, uploadMax, hello (the agent's limits have
// arrived), save(id) }.

import { $ } from './dom.js';

export const CHUNK = 16 << 10; // bytes of data in one binary message
export const HIGH_WATER = 1 << 20;
export const LOW_WATER = 256 << 10;

// frame puts a transfer id before a chunk's bytes.
export function frame(id, bytes) {
  const out = new Uint8Array(4 + bytes.byteLength);
  new DataView(out.buffer).setUint32(0, id);
  out.set(new Uint8Array(bytes.buffer || bytes, bytes.byteOffset || 0, bytes.byteLength), 4);
  return out;
}

// unframe splits a binary message into its id and bytes, or null.
export function unframe(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < 4) return null;
  return { id: new DataView(buf).getUint32(0), bytes: new Uint8Array(buf, 4) };
}

export function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

// sizeText is a byte count for people.
export function sizeText(n) {
  if (!(n > 0)) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

let ch = null;
let deps = { toast: () => {}, hook: {} };
let nextUpload = 1;
const downloads = new Map(); // id -> {id, name, size, received, state, message, parts}
const uploads = new Map();

const state = { downloads: [], uploads: [], downloadMax: 0, uploadMax: 0, hello: false, save };

function publish() {
  state.downloads = [...downloads.values()].map(({ parts, ...d }) => d);
  state.uploads = [...uploads.values()].map(({ file, ...u }) => u);
  deps.hook.files = state;
  render();
}

export function init(d) {
  deps = d;
  $('upload').addEventListener('click', () => $('upload-input').click());
  $('upload-input').addEventListener('change', (e) => {
    for (const f of e.target.files) send(f);
    e.target.value = '';
  });
  $('tb-files').addEventListener('click', () => togglePanel());
  const screen = $('screen');
  screen.addEventListener('dragover', (e) => {
    if (state.uploadMax > 0 && e.dataTransfer && [...e.dataTransfer.types].includes('Files')) e.preventDefault();
  });
  screen.addEventListener('drop', (e) => {
    e.preventDefault();
    if (state.uploadMax <= 0) return deps.toast('Uploads are off in this workspace.');
    for (const f of e.dataTransfer.files) send(f);
  });
  reset();
}

export function reset() {
  ch = null;
  downloads.clear();
  uploads.clear();
  state.downloadMax = state.uploadMax = 0;
  state.hello = false;
  $('upload').hidden = true;
  $('tb-files').hidden = true;
  $('files-panel').hidden = true;
  publish();
}

function togglePanel(open) {
  const p = $('files-panel');
  p.hidden = open === undefined ? !p.hidden : !open;
  $('tb-files').setAttribute('aria-expanded', String(!p.hidden));
}

// attach takes a (new) files channel; what the agent knows is sent again.
export function attach(channel) {
  ch = channel;
  // What was in flight on the last channel is lost with it: a download
  // being saved is offered again (the agent says so), an upload is over.
  for (const d of downloads.values()) if (d.state === 'saving') Object.assign(d, { state: 'offered', received: d.size, parts: [] });
  for (const u of uploads.values()) if (u.state === 'sending') Object.assign(u, { state: 'refused', message: 'the connection to the session was lost; send it again' });
  publish();
  ch.binaryType = 'arraybuffer';
  ch.bufferedAmountLowThreshold = LOW_WATER;
  ch.onmessage = (e) => {
    if (ch !== channel) return;
    if (typeof e.data === 'string') {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      if (m && typeof m.t === 'string') onMessage(m);
      return;
    }
    const c = unframe(e.data);
    const d = c && downloads.get(c.id);
    if (!d || d.state !== 'saving') return;
    d.parts.push(c.bytes);
    d.received += c.bytes.byteLength;
    publish();
  };
}

function onMessage(m) {
  switch (m.t) {
    case 'hello':
      state.downloadMax = m.download_max || 0;
      state.uploadMax = m.upload_max || 0;
      state.hello = true;
      $('upload').hidden = !(state.uploadMax > 0);
      break;
    case 'progress':
    case 'offer': {
      const d = downloads.get(m.id) || { id: m.id, name: m.name, size: 0, received: 0, state: 'progress', message: '', parts: [] };
      if (d.state === 'saving' || d.state === 'saved') break;
      Object.assign(d, { name: m.name, size: m.size || 0, received: m.t === 'offer' ? m.size || 0 : m.received || 0, state: m.t === 'offer' ? 'offered' : 'progress' });
      const isNew = !downloads.has(m.id);
      downloads.set(m.id, d);
      $('tb-files').hidden = false;
      if (isNew) togglePanel(true);
      break;
    }
    case 'refused': {
      const list = m.dir === 'upload' ? uploads : downloads;
      const t = list.get(m.id) || { id: m.id, name: m.name, size: 0, received: 0 };
      list.set(m.id, Object.assign(t, { state: 'refused', message: m.message, parts: [] }));
      if (m.dir !== 'upload') $('tb-files').hidden = false;
      deps.toast(`${m.name || 'File'}: ${m.message}`);
      break;
    }
    case 'end':
      finish(m);
      break;
    case 'uploaded': {
      const u = uploads.get(m.id);
      if (u) u.state = 'uploaded';
      deps.toast(`${m.name} is in the session: the page's next file chooser gets it.`);
      break;
    }
    case 'filled':
      for (const u of uploads.values()) if (u.name === m.name && u.state === 'uploaded') { u.state = 'filled'; break; }
      deps.toast(`${m.name} was given to the page.`);
      break;
    case 'choose':
      deps.toast('The page asks for a file.', 'Choose a file…', () => $('upload-input').click());
      break;
    case 'error':
      deps.toast(m.message);
      break;
  }
  publish();
}

// save asks the agent for a download; the click is the user's consent.
function save(id) {
  const d = downloads.get(id);
  if (!d || d.state !== 'offered' || !ch || ch.readyState !== 'open') return;
  Object.assign(d, { state: 'saving', received: 0, parts: [] });
  ch.send(JSON.stringify({ t: 'get', id }));
  publish();
}

async function finish(m) {
  const d = downloads.get(m.id);
  if (!d || d.state !== 'saving') return;
  const blob = new Blob(d.parts, { type: 'application/octet-stream' });
  d.parts = [];
  const sum = hex(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
  if (blob.size !== m.size || sum !== m.sha256) {
    Object.assign(d, { state: 'refused', message: 'the file arrived damaged; try again' });
    deps.toast(`${d.name} arrived damaged; it was not saved.`);
    publish();
    return;
  }
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = d.name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  d.state = 'saved';
  publish();
}

// send uploads one file to the session.
async function send(file) {
  if (!ch || ch.readyState !== 'open') return deps.toast('Not connected to the session.');
  if (state.uploadMax <= 0) return deps.toast('Uploads are off in this workspace.');
  if (file.size > state.uploadMax) return deps.toast(`${file.name} is over this workspace's upload limit of ${sizeText(state.uploadMax)}.`);
  const id = nextUpload++;
  const channel = ch;
  const u = { id, name: file.name, size: file.size, state: 'sending', message: '' };
  uploads.set(id, u);
  publish();
  try {
    channel.send(JSON.stringify({ t: 'upload', id, name: file.name, size: file.size }));
    const data = await file.arrayBuffer();
    for (let off = 0; off < data.byteLength; off += CHUNK) {
      if (u.state !== 'sending' || channel !== ch) return;
      if (channel.bufferedAmount > HIGH_WATER) {
        await new Promise((resolve) => channel.addEventListener('bufferedamountlow', resolve, { once: true }));
      }
      channel.send(frame(id, new Uint8Array(data, off, Math.min(CHUNK, data.byteLength - off))));
    }
    const sum = hex(await crypto.subtle.digest('SHA-256', data));
    if (u.state === 'sending' && channel === ch) channel.send(JSON.stringify({ t: 'end', id, sha256: sum }));
  } catch (err) {
    // The channel closed under the upload, or the file could not be read.
    Object.assign(u, { state: 'refused', message: err.message });
    deps.toast(`${file.name} was not sent: ${err.message}`);
    publish();
  }
}

const LABELS = { progress: 'Downloading in the session', offered: 'Ready', saving: 'Saving', saved: 'Saved', refused: 'Refused' };

function render() {
  const list = $('files-list');
  if (!list) return;
  list.replaceChildren();
  for (const d of downloads.values()) {
    const li = document.createElement('li');
    li.className = 'file-row';
    li.dataset.id = d.id;
    const name = document.createElement('span');
    name.className = 'file-name';
    name.textContent = d.name;
    const info = document.createElement('span');
    info.className = 'file-info muted';
    const size = d.size ? sizeText(d.size) : '';
    info.textContent = d.state === 'refused' ? d.message
      : d.state === 'progress' || d.state === 'saving' ? `${LABELS[d.state]} · ${sizeText(d.received)}${size ? ' of ' + size : ''}`
        : `${LABELS[d.state]} · ${size}`;
    li.append(name, info);
    if (d.state === 'offered') {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'btn btn-primary btn-sm file-save';
      b.textContent = 'Save';
      b.addEventListener('click', () => save(d.id));
      li.append(b);
    }
    list.append(li);
  }
  if (!downloads.size) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'Files the session downloads appear here.';
    list.append(li);
  }
}
