// The Audit log page: events newest first, filtered by actor, action
// (an exact one or a prefix such as session.*), target, outcome and a
// time range; "Older events" pages on with the listing's cursor; an
// export link downloads what the filter selects as JSON lines; "Verify
// chain" has the server walk the whole hash chain and shows its answer.

import { el } from '../dom.js';
import { admin, exportURL } from './api.js';
import { localTimeToRFC3339 } from './format.js';
import { announce, showError, clearError, alertBox, field, select, table, timeCell, button, refocus, busy } from './ui.js';

export const title = 'Audit log';

// PAGE_SIZE is how many events a page shows unless the form says.
const PAGE_SIZE = 50;

let page = null;

export function enter(root, ctx) {
  const errBox = alertBox('audit-error');
  const list = table('Audit events, newest first', ['ID', 'Time', 'Actor', 'Action', 'Target', 'Outcome', 'Client', 'Detail'], 'audit-list');
  const older = button('Older events', { id: 'audit-older' });
  older.hidden = true;
  const exportLink = el('a', { id: 'audit-export', class: 'btn btn-sm btn-ghost', href: exportURL({}), download: 'airlock-audit.jsonl' }, 'Export (JSON lines)');
  const verify = button('Verify chain', { id: 'audit-verify' });
  const verdict = el('div', { id: 'audit-verdict', hidden: true });
  page = { signal: ctx.signal, errBox, body: list.body, heading: ctx.heading, older, exportLink, filter: {}, limit: PAGE_SIZE, next: 0, verdict };
  older.addEventListener('click', () => loadOlder());
  verify.addEventListener('click', () => verifyChain(verify));
  root.append(filterForm(), errBox, el('div', { class: 'row row-start' }, exportLink, verify), verdict, list.node,
    el('div', { class: 'row row-start' }, older));
  load();
}

export function leave() {
  page = null;
}

function filterForm() {
  const actor = el('input', { id: 'audit-actor', autocomplete: 'off', spellcheck: 'false' });
  const action = el('input', { id: 'audit-action', autocomplete: 'off', spellcheck: 'false', placeholder: 'session.*' });
  const target = el('input', { id: 'audit-target', autocomplete: 'off', spellcheck: 'false' });
  const outcome = select('audit-outcome', ['any', 'success', 'failure'], 'any');
  const since = el('input', { id: 'audit-since', type: 'datetime-local', step: '1' });
  const until = el('input', { id: 'audit-until', type: 'datetime-local', step: '1' });
  const limit = el('input', { id: 'audit-limit', type: 'number', min: '1', max: '1000', value: String(PAGE_SIZE) });
  const apply = el('button', { id: 'audit-apply', type: 'submit', class: 'btn btn-primary' }, 'Apply filters');
  const form = el('form', { class: 'admin-form', 'aria-label': 'Filter the audit log', novalidate: true },
    el('div', { class: 'admin-fields' },
      field('Actor', actor), field('Action', action, 'Exact, or a prefix such as session.*'), field('Target', target),
      field('Outcome', outcome), field('Since', since, 'Your local time.'), field('Until', until, 'Your local time; not included.'),
      field('Events per page', limit)),
    el('div', { class: 'row' }, apply));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    page.filter = {
      actor: actor.value, action: action.value, target: target.value,
      outcome: outcome.value === 'any' ? '' : outcome.value,
      since: localTimeToRFC3339(since.value), until: localTimeToRFC3339(until.value),
    };
    page.limit = limit.value.trim() || PAGE_SIZE;
    load().then((n) => n != null && announce(`${n} ${n === 1 ? 'event' : 'events'} shown.`));
  });
  return form;
}

// load shows the first page of the filter; it answers how many events
// it shows, or null when the api refused.
async function load() {
  const p = page;
  clearError(p.errBox);
  p.exportLink.href = exportURL(p.filter);
  let res;
  try {
    res = await admin.audit({ ...p.filter, limit: p.limit }, { signal: p.signal });
  } catch (err) {
    showError(p.errBox, err);
    return null;
  }
  if (page !== p) return null;
  p.body.replaceChildren(...res.events.map(row));
  if (!res.events.length) p.body.append(el('tr', {}, el('td', { colspan: '8', class: 'muted' }, 'No events match.')));
  setNext(p, res);
  return res.events.length;
}

async function loadOlder() {
  const p = page;
  clearError(p.errBox);
  let res;
  try {
    res = await busy(p.older, 'Loading…', () => admin.audit({ ...p.filter, limit: p.limit, before: p.next }, { signal: p.signal }));
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  const first = res.events.length ? row(res.events[0]) : null;
  p.body.append(...(first ? [first] : []), ...res.events.slice(1).map(row));
  setNext(p, res);
  announce(`${res.events.length} older ${res.events.length === 1 ? 'event' : 'events'} added.`);
  // The focus goes to the first row added when the button goes away.
  if (first) first.setAttribute('tabindex', '-1');
  refocus(p.older.hidden ? first : p.older, p.heading);
}

function setNext(p, res) {
  p.next = res.next_before || 0;
  p.older.hidden = !p.next;
}

function row(e) {
  return el('tr', { 'data-event': String(e.id) },
    el('td', { class: 'id' }, String(e.id)),
    timeCell(e.time),
    el('td', {}, e.actor || e.actor_kind),
    el('td', {}, el('code', {}, e.action)),
    el('td', { class: 'id' }, e.target),
    el('td', {}, el('span', { class: e.outcome === 'failure' ? 'state state-failed' : 'state state-ready' }, e.outcome)),
    el('td', { class: 'id' }, e.client),
    el('td', {}, e.detail));
}

async function verifyChain(btn) {
  const p = page;
  clearError(p.errBox);
  let v;
  try {
    v = await busy(btn, 'Verifying…', () => admin.verifyAudit());
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  let text;
  if (v.ok) {
    text = `The chain holds: ${v.records} records checked` + (v.last_id ? `, ${v.first_id} to ${v.last_id}; head ${v.head}.` : '.');
    if (v.unchained) text += ` ${v.unchained} earlier records carry no hashes.`;
  } else {
    const b = v.broken;
    text = `The chain is broken at record ${b.id}: ${b.problem}: expected ${b.expected}, found ${b.found}.`;
  }
  p.verdict.className = v.ok ? 'alert alert-info' : 'alert alert-error';
  p.verdict.textContent = text;
  p.verdict.hidden = false;
  announce(v.ok ? 'Audit chain verified: it holds.' : 'Audit chain verification found a break.');
  refocus(btn, p.heading);
  load();
}
