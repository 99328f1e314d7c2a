// DOM helpers the admin pages share: labelled fields, tables, the
// confirmation dialog, the live region that announces results and the
// inline place where an api refusal is shown as the api worded it.

import { $, el, setAlert } from '../dom.js';
import { dateTime } from './format.js';

// announce says msg in the admin view's live region (role=status). It
// is emptied first, so the same message twice is announced twice.
export function announce(msg) {
  const live = $('admin-status');
  live.textContent = '';
  requestAnimationFrame(() => {
    live.textContent = msg;
  });
}

// showError puts the api's message in box (a role=alert element) as it
// came, and announces nothing else: the alert role does that.
export function showError(box, err) {
  if (err && err.name === 'AbortError') return;
  setAlert(box, err ? err.message || String(err) : '');
}

export const clearError = (box) => setAlert(box, '');

// alertBox is a hidden role=alert element for a form's or a page's
// errors.
export const alertBox = (id) => el('div', { id, class: 'alert alert-error', role: 'alert', hidden: true });

// field is an input with its label; hint, when given, is tied to the
// input by aria-describedby.
export function field(label, input, hint = '') {
  const hintNode = hint ? el('small', { id: input.id + '-hint', class: 'muted' }, hint) : null;
  if (hintNode) input.setAttribute('aria-describedby', hintNode.id);
  return el('div', { class: 'field' }, el('label', { for: input.id }, label), input, hintNode);
}

// select is a <select> of choices with value selected (the first when
// value is none of them).
export function select(id, choices, value) {
  const s = el('select', { id, name: id });
  for (const c of choices) s.append(el('option', { value: c, selected: c === value }, c));
  return s;
}

// checkbox is a checkbox with its label after it.
export function checkbox(id, label, checked = false) {
  const box = el('input', { id, type: 'checkbox', checked });
  return { box, node: el('div', { class: 'check' }, box, el('label', { for: id }, label)) };
}

// table makes a table with a caption (for screen readers), column heads
// and a tbody to fill.
export function table(caption, heads, id) {
  const body = el('tbody', { id });
  const t = el('table', { class: 'sessions admin-table' },
    el('caption', { class: 'sr-only' }, caption),
    el('thead', {}, el('tr', {}, heads.map((h) => el('th', { scope: 'col' }, h)))),
    body);
  return { node: el('div', { class: 'table-wrap' }, t), body };
}

// timeCell is a <td> with t in the viewer's locale.
export function timeCell(t) {
  const text = dateTime(t);
  return el('td', {}, text ? el('time', { datetime: new Date(t).toISOString() }, text) : '—');
}

// button is a real button (type=button), with an accessible name that
// may say more than its text ("Delete alice" for "Delete").
export function button(text, { kind = 'ghost', label = null, onclick = null, id = null } = {}) {
  return el('button', { type: 'button', id, class: `btn btn-sm btn-${kind}`, 'aria-label': label, onclick }, text);
}

// confirm asks, in the modal dialog #admin-confirm, whether to go on
// with what message says; it answers true for the confirm button and
// false for Cancel or Escape. The focus returns to opener (or, when an
// action removed it, to fallback) as the dialog closes.
export function confirm({ title, message, action, opener, fallback = null }) {
  const dialog = $('admin-confirm');
  $('admin-confirm-title').textContent = title;
  $('admin-confirm-text').textContent = message;
  const ok = $('admin-confirm-ok');
  ok.textContent = action;
  return new Promise((resolve) => {
    // The answer is taken when it is given, not from the close event:
    // that event comes a task later, and a dialog opened again by then
    // (Escape, then Enter on the opener at once) would have its new ask
    // answered by the old close and be left open with nothing listening.
    let settled = false;
    const done = (answer) => {
      if (settled) return;
      settled = true;
      dialog.removeEventListener('close', onClose);
      dialog.removeEventListener('keydown', onKey);
      ok.removeEventListener('click', onOK);
      $('admin-confirm-cancel').removeEventListener('click', onCancel);
      resolve(answer);
    };
    const answer = (yes) => {
      done(yes);
      dialog.close(yes ? 'ok' : 'cancel');
    };
    // A modal dialog closes on Escape itself, but the browser may skip
    // that (Chromium's close watchers ask for a user activation first):
    // the dialog's own handler makes Escape always mean Cancel.
    const onKey = (e) => {
      if (e.key !== 'Escape') return;
      e.preventDefault();
      answer(false);
    };
    // Closed some other way (the browser's own Escape): Cancel. A close
    // event that finds the dialog open again is an earlier ask's.
    const onClose = () => {
      if (!dialog.open) done(dialog.returnValue === 'ok');
    };
    const onOK = () => answer(true);
    const onCancel = () => answer(false);
    dialog.returnValue = '';
    dialog.addEventListener('close', onClose);
    dialog.addEventListener('keydown', onKey);
    ok.addEventListener('click', onOK);
    $('admin-confirm-cancel').addEventListener('click', onCancel);
    dialog.showModal();
    $('admin-confirm-cancel').focus();
  }).then((answer) => {
    refocus(opener, fallback);
    return answer;
  });
}

// refocus moves the focus to node if it is still on the page, else to
// fallback: after an action that re-renders a list, the page's heading
// or its form.
export function refocus(node, fallback) {
  if (node && node.isConnected && !node.disabled) node.focus();
  else if (fallback && fallback.isConnected) fallback.focus();
}

// busy disables a button while fn runs and gives it back after.
export async function busy(btn, text, fn) {
  const was = btn.textContent;
  btn.disabled = true;
  btn.textContent = text;
  try {
    return await fn();
  } finally {
    btn.disabled = false;
    btn.textContent = was;
  }
}
