// The portal's calls to the api under /api/v1 on this origin.
//
// Authentication is the HttpOnly session cookie the api sets at sign-in;
// fetch sends it on same-origin requests. The api refuses state changes
// that a browser marks as cross-origin (Go's CrossOriginProtection reads
// Sec-Fetch-Site, falling back to Origin against Host); the browser sets
// both on its own, and same-origin fetches pass, so no extra header or
// CSRF token is needed.

import { newLaunchKey, sendAgain } from './launch.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // HTTP status, 0 when the server was not reached
    this.code = code;
  }
}

let onUnauthorized = () => {};

// setUnauthorizedHandler sets what happens when a signed-in call gets
// 401 (the web session expired or was ended).
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// unreachable is the error for a request that got no whole answer.
const unreachable = () =>
  new ApiError(0, 'network', 'Could not reach the Airlock server. Check your network connection and try again.');

// GET_TRIES is how many times a GET that found no answer at all (status
// 0) is sent before its caller hears of it. A change of this device's
// networks (on the Airlock host, a session's network coming up) makes the
// browser abort what is in flight; a GET changes nothing and can simply
// go again. Other methods are the caller's to repeat (see launch.js).
const GET_TRIES = 3;
const GET_PAUSE_MS = 300;

export async function request(method, path, opts = {}) {
  for (let i = 1; ; i++) {
    try {
      return await requestOnce(method, path, opts);
    } catch (err) {
      if (method !== 'GET' || err.name === 'AbortError' || err.status !== 0 || i >= GET_TRIES) throw err;
      await new Promise((r) => setTimeout(r, GET_PAUSE_MS * i));
      if (opts.signal && opts.signal.aborted) throw err;
    }
  }
}

async function requestOnce(method, path, { body, signal, quiet401 = false } = {}) {
  const init = {
    method,
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
    cache: 'no-store',
    signal,
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch('/api/v1' + path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw unreachable();
  }
  let text = '';
  try {
    if (res.status !== 204) text = await res.text();
  } catch (err) {
    // The body can be cut off too (a network change aborts it): the same
    // failure as no answer at all, which callers may try again.
    if (err.name === 'AbortError') throw err;
    throw unreachable();
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const message = (data && data.message) || `The server answered ${res.status} ${res.statusText}`.trim();
    const err = new ApiError(res.status, (data && data.code) || `http_${res.status}`, message);
    if (res.status === 401 && !quiet401) onUnauthorized(err);
    throw err;
  }
  return data;
}

const seg = encodeURIComponent;

export const api = {
  me: () => request('GET', '/me', { quiet401: true }),
  // Sent again when its answer is lost: a second sign-in only makes a
  // second web session; the first, whose cookie may never have arrived,
  // expires unused.
  login: (user, password) => sendAgain(() => request('POST', '/auth/login', { body: { user, password }, quiet401: true })),
  sso: () => request('GET', '/auth/sso', { quiet401: true }),
  logout: () => request('POST', '/auth/logout', { quiet401: true }),
  workspaces: (opts) => request('GET', '/workspaces', opts),
  sessions: (opts) => request('GET', '/sessions', opts),
  session: (id, opts) => request('GET', `/sessions/${seg(id)}`, opts),
  // waitSession answers when the session leaves pending/starting, or
  // after 30 s as it is (a long poll).
  waitSession: (id, opts) => request('GET', `/sessions/${seg(id)}?wait=30s`, opts),
  // settings: the viewer's locale, timezone and scale (see locale.js).
  // Sent again when its answer is lost, with the same launch key, so that
  // it makes one session (see launch.js).
  createSession: (workspace, settings = {}) => {
    const body = { workspace, ...settings, launch_key: newLaunchKey() };
    return sendAgain(() => request('POST', '/sessions', { body }));
  },
  endSession: (id) => request('DELETE', `/sessions/${seg(id)}`),
  // extendSession counts as input and moves the lifetime's end as far as
  // the workspace allows.
  extendSession: (id) => request('POST', `/sessions/${seg(id)}/extend`),
  // resumeSession starts a suspended session again; it answers starting.
  resumeSession: (id) => request('POST', `/sessions/${seg(id)}/resume`),
  // connect answers {token, signal_url, expires_at, ice_servers}.
  connect: (id) => request('POST', `/sessions/${seg(id)}/connect`),
};

// isFinal reports whether a session state is over for good.
export const isFinal = (state) => state === 'stopped' || state === 'failed';
// isStarting reports whether a session is still being launched.
export const isStarting = (state) => state === 'pending' || state === 'starting';
