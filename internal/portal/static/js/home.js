// The home view: the workspace catalog with Launch buttons, and the
// user's sessions with their state, Open and End. The list refreshes
// every few seconds while shown, and a session still being launched is
// followed with the api's long poll, so its row changes as soon as the
// session is ready or failed.

import { api, isFinal, isStarting } from './api.js';
import { $, el, setAlert, sentence, armConfirm, relativeTime, showView } from './dom.js';
import { egressSummary, ruleText } from './egress.js';
import { launchSettings } from './locale.js';
import { browserBadges } from './options.js';
import { openAhead, dropAhead } from './connection.js';

const REFRESH_MS = 10000;
const ENDED_SHOWN = 10;

let app;
let visit = null; // AbortController of the current visit
let timer = 0;
let workspaces = new Map(); // id -> workspace
let shownCatalog = ''; // the catalog the cards show, as JSON
const following = new Set(); // session ids being long-polled

export function init(a) {
  app = a;
  $('logout').addEventListener('click', () => logout());
  $('sessions-refresh').addEventListener('click', () => loadSessions());
}

export function enter() {
  showView('view-home');
  document.title = 'Workspaces · Airlock';
  visit = new AbortController();
  setAlert($('home-alert'), app.notice, 'info');
  app.notice = '';
  renderMe(app.me);
  loadWorkspaces().then(() => loadSessions());
  timer = setInterval(() => {
    if (!document.hidden) loadSessions();
  }, REFRESH_MS);
}

export function leave() {
  if (visit) visit.abort();
  visit = null;
  clearInterval(timer);
  following.clear();
}

function renderMe(me) {
  $('me-name').textContent = me.name;
  $('me-avatar').textContent = (me.name || '?').slice(0, 1);
  $('me-role').textContent = me.role;
  $('me-role').hidden = !me.role || me.role === 'user';
  $('nav-admin').hidden = me.role !== 'admin';
}

// logout signs out; show says why it could not (the admin view passes
// its own place).
export async function logout(show = (msg) => setAlert($('home-alert'), msg)) {
  try {
    const res = await api.logout();
    // Signed in at the identity provider: sign out there too, which
    // comes back to this page.
    if (res && res.logout_url) {
      location.assign(res.logout_url);
      return;
    }
  } catch (err) {
    // Already signed out is as good as signed out.
    if (err.status !== 401) {
      show(`Could not sign out: ${sentence(err.message)}`);
      return;
    }
  }
  history.replaceState(null, '', location.pathname + location.search);
  app.signedOut('You are signed out.');
}

function alertError(what, err) {
  if (err.name === 'AbortError' || err.status === 401) return;
  setAlert($('home-alert'), `${what}: ${sentence(err.message)}`);
}

// Workspaces.

async function loadWorkspaces() {
  const grid = $('workspaces');
  const signal = visit && visit.signal;
  let list;
  try {
    list = await api.workspaces({ signal });
  } catch (err) {
    alertError('Could not load the workspaces', err);
    return;
  }
  // An administrator is shown every workspace; the home page offers
  // those their groups grant, as for anyone.
  list = list.filter((w) => w.granted !== false);
  workspaces = new Map(list.map((w) => [w.id, w]));
  list.sort((a, b) => a.name.localeCompare(b.name));
  // Coming back to the page shows the cards of the last visit at once;
  // they are drawn again only if the catalog changed, so that a Launch
  // pressed meanwhile is not on a button being replaced.
  const shown = JSON.stringify(list);
  if (shown !== shownCatalog || grid.childElementCount !== list.length) {
    grid.replaceChildren(...list.map(card));
    shownCatalog = shown;
  }
  grid.setAttribute('aria-busy', 'false');
  $('workspaces-empty').hidden = list.length > 0;
}

function card(ws) {
  const launch = el('button', { type: 'button', class: 'btn btn-primary launch', 'aria-label': `Launch ${ws.name}` }, 'Launch');
  launch.addEventListener('click', () => start(ws, launch));
  const meta = [];
  if (ws.isolation) meta.push(el('span', { class: 'badge', title: 'Isolation' }, ws.isolation));
  if (ws.nano_cpus) meta.push(el('span', { class: 'badge', title: 'CPUs' }, `${+(ws.nano_cpus / 1e9).toFixed(2)} CPU`));
  if (ws.memory) meta.push(el('span', { class: 'badge', title: 'Memory' }, bytes(ws.memory)));
  for (const b of browserBadges(ws)) meta.push(el('span', { class: 'badge', title: b.title }, b.text));
  return el('article', { class: 'ws-card', 'data-workspace': ws.name },
    el('div', { class: 'ws-top' },
      el('div', { class: 'ws-icon', 'aria-hidden': 'true' }, ws.name.slice(0, 2)),
      el('h3', {}, ws.name)),
    el('p', { class: 'muted' }, ws.description || 'No description.'),
    meta.length ? el('div', { class: 'ws-meta' }, meta) : null,
    egressDetails(ws.egress),
    launch);
}

// egressDetails shows an admin the workspace's egress rules, read-only
// (they are changed with `airlock workspace update`); nothing for others.
function egressDetails(egress) {
  const summary = egressSummary(egress);
  if (!summary) return null;
  const rules = egress.rules.map((r) => el('li', {}, el('code', {}, ruleText(r))));
  return el('details', { class: 'ws-egress' },
    el('summary', {}, summary),
    rules.length
      ? el('ol', {}, rules)
      : el('p', { class: 'muted' }, 'No rules: the public internet is reachable, private and special ranges are not.'));
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${+n.toFixed(1)} ${units[i]}`;
}

// start launches a session of ws and opens the viewer, which follows the
// launch until the session is ready (or says why it failed).
async function start(ws, button) {
  button.disabled = true;
  button.textContent = 'Launching…';
  setAlert($('home-alert'), '');
  // The signal socket and the peer connection are made while the launch
  // is asked for: then they are off the way to the first frame.
  const ahead = openAhead();
  try {
    const s = await api.createSession(ws.name, launchSettings(navigator, Intl, window.devicePixelRatio));
    app.launched = s;
    app.ahead = ahead;
    app.launchedWorkspace = ws;
    app.go('#/session/' + encodeURIComponent(s.id));
  } catch (err) {
    dropAhead(ahead);
    alertError(`Could not launch ${ws.name}`, err);
    loadSessions();
  } finally {
    button.disabled = false;
    button.textContent = 'Launch';
  }
}

// Sessions.

async function loadSessions() {
  if (!visit) return;
  let list;
  try {
    list = await api.sessions({ signal: visit.signal });
  } catch (err) {
    alertError('Could not load your sessions', err);
    return;
  }
  if (!visit) return;
  list.sort((a, b) => new Date(b.created_at) - new Date(a.created_at));
  const active = list.filter((s) => !isFinal(s.state));
  const ended = list.filter((s) => isFinal(s.state)).slice(0, ENDED_SHOWN);
  const shown = active.concat(ended);
  $('sessions').replaceChildren(...shown.map(row));
  $('sessions-empty').hidden = shown.length > 0;
  for (const s of active) if (isStarting(s.state)) follow(s.id);
}

function row(s) {
  const ws = workspaces.get(s.workspace_id);
  const actions = el('td', { class: 'actions' });
  if (s.state === 'suspended') {
    const resume = el('button', { type: 'button', class: 'btn btn-sm btn-primary' }, 'Resume');
    resume.addEventListener('click', () => resumeSession(s, resume));
    actions.append(resume);
  } else if (!isFinal(s.state) && s.state !== 'stopping') {
    actions.append(el('a', { class: 'btn btn-sm btn-primary', href: '#/session/' + encodeURIComponent(s.id) }, 'Open'));
  }
  if (!isFinal(s.state) && s.state !== 'stopping') {
    const end = el('button', { type: 'button', class: 'btn btn-sm btn-danger' }, 'End');
    armConfirm(end, 'Confirm end', () => endSession(s, end));
    actions.append(end);
  }
  const created = new Date(s.created_at);
  return el('tr', { 'data-session': s.id },
    el('td', {}, ws ? ws.name : s.workspace_id),
    el('td', {},
      el('span', { class: `state state-${s.state}` }, s.state),
      s.reason ? el('p', { class: 'reason' }, sentence(s.reason)) : null),
    el('td', {}, el('time', { datetime: created.toISOString(), title: created.toLocaleString() }, relativeTime(created))),
    el('td', { class: 'id' }, s.id.slice(0, 12)),
    actions);
}

// resumeSession starts a suspended session again and follows it until it
// is ready, when Open appears.
async function resumeSession(s, button) {
  button.disabled = true;
  button.textContent = 'Resuming…';
  try {
    await api.resumeSession(s.id);
  } catch (err) {
    alertError('Could not resume the session', err);
  }
  loadSessions();
}

async function endSession(s, button) {
  button.disabled = true;
  button.textContent = 'Ending…';
  try {
    await api.endSession(s.id);
  } catch (err) {
    alertError('Could not end the session', err);
  }
  loadSessions();
}

// follow long-polls a session being launched until it settles.
async function follow(id) {
  if (following.has(id) || !visit) return;
  following.add(id);
  const my = visit;
  try {
    while (!my.signal.aborted) {
      const s = await api.waitSession(id, { signal: my.signal });
      if (!isStarting(s.state)) break;
    }
  } catch (err) {
    if (err.name === 'AbortError') return;
    // Not fatal: the periodic refresh picks the session up again.
    await new Promise((r) => setTimeout(r, 2000));
  } finally {
    following.delete(id);
  }
  if (visit === my) loadSessions();
}
