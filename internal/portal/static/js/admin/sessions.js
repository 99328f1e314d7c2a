// The Sessions page: everyone's sessions (GET /sessions?all=1, with
// &active=1 for those not over), with user, workspace and node by name,
// state, times and why each ended; End (after a confirmation) ends one
// as an administrator.

import { el } from '../dom.js';
import { isFinal } from '../api.js';
import { admin } from './api.js';
import { ranFor } from './format.js';
import { announce, showError, clearError, alertBox, checkbox, table, timeCell, button, confirm, refocus } from './ui.js';

export const title = 'Sessions';

let page = null;

export function enter(root, ctx) {
  const errBox = alertBox('sessions-error');
  const list = table('Sessions', ['User', 'Workspace', 'Node', 'State', 'Created', 'Ended', 'Ran', 'Ended because', 'Actions'], 'all-sessions');
  const active = checkbox('sessions-active', 'Active sessions only', true);
  const refresh = button('Refresh', { id: 'sessions-reload' });
  page = { signal: ctx.signal, errBox, body: list.body, heading: ctx.heading, active: active.box, names: null };
  active.box.addEventListener('change', () => load());
  refresh.addEventListener('click', () => load().then(() => announce('Sessions refreshed.')));
  root.append(errBox, el('div', { class: 'row row-start' }, active.node, refresh), list.node);
  load();
}

export function leave() {
  page = null;
}

// names maps the ids a session names to users', workspaces' and nodes'
// names, read once a visit (a deleted one shows as its id).
async function names(p) {
  if (p.names) return p.names;
  const [users, workspaces, nodes] = await Promise.all([
    admin.users({ signal: p.signal }), admin.workspaces({ signal: p.signal }), admin.nodes({ signal: p.signal })]);
  const m = (list) => new Map(list.map((x) => [x.id, x.name]));
  p.names = { users: m(users), workspaces: m(workspaces), nodes: m(nodes) };
  return p.names;
}

async function load() {
  const p = page;
  let list, n;
  try {
    [list, n] = await Promise.all([admin.allSessions(p.active.checked, { signal: p.signal }), names(p)]);
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  list.sort((a, b) => new Date(b.created_at) - new Date(a.created_at));
  p.body.replaceChildren(...list.map((s) => row(s, n)));
  if (!list.length) p.body.append(el('tr', {}, el('td', { colspan: '9', class: 'muted' }, 'No sessions.')));
}

function row(s, n) {
  const user = s.user_id ? n.users.get(s.user_id) || s.user_id : 'pool (unclaimed)';
  const ws = n.workspaces.get(s.workspace_id) || s.workspace_id;
  const node = s.node_id ? n.nodes.get(s.node_id) || s.node_id : '—';
  const actions = el('td', { class: 'actions' });
  if (!isFinal(s.state) && s.state !== 'stopping') {
    const end = button('End', { kind: 'danger', label: `End the session ${s.id.slice(0, 12)} of ${user}` });
    end.addEventListener('click', () => endSession(s, user, end));
    actions.append(end);
  }
  return el('tr', { 'data-session': s.id },
    el('td', {}, user),
    el('td', {}, ws),
    el('td', {}, node),
    el('td', {}, el('span', { class: `state state-${s.state}` }, s.state), el('p', { class: 'id' }, s.id.slice(0, 12))),
    timeCell(s.created_at),
    s.stopped_at ? timeCell(s.stopped_at) : el('td', {}, '—'),
    el('td', {}, ranFor(s)),
    el('td', {}, s.end_reason || '', s.reason ? el('p', { class: 'reason' }, s.reason) : null),
    actions);
}

async function endSession(s, user, opener) {
  const p = page;
  const yes = await confirm({ title: 'End this session?', message: `The session of ${user} ends now and its browser is removed; ${user} is told an administrator ended it.`,
    action: 'End session', opener, fallback: p.heading });
  if (!yes || page !== p) return;
  clearError(p.errBox);
  try {
    await admin.endSession(s.id);
  } catch (err) {
    showError(p.errBox, err);
    refocus(opener, p.heading);
    return;
  }
  announce(`Session ${s.id.slice(0, 12)} of ${user} ended.`);
  await load();
  refocus(null, p.heading);
}
