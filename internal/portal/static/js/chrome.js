// The viewer's chrome: the state badge in the toolbar, the overlay that
// says what is happening when there is no picture (with Retry and End
// buttons), and the toast for passing notices.

import { $ } from './dom.js';

let retryAction = null;
let toastTimer = 0;
let toastAction = null;

export function init() {
  $('overlay-retry').addEventListener('click', () => retryAction && retryAction());
  $('toast-close').addEventListener('click', hideToast);
  $('toast-action').addEventListener('click', () => {
    const fn = toastAction;
    hideToast();
    if (fn) fn();
  });
}

// setBadge shows the state in the toolbar, with the buttons that make
// sense in it: Disconnect while a connection is up or being made, End
// session while the session may still run (over: it does not).
export function setBadge(state, text, over = false) {
  const b = $('tb-state');
  b.dataset.state = state;
  b.textContent = text;
  $('tb-disconnect').hidden = !['connecting', 'waiting', 'connected', 'reconnecting'].includes(state);
  $('tb-end').hidden = over || state === 'ended';
}

// overlay covers the screen with a message. retry labels a button that
// calls onRetry; end shows the End session button.
export function overlay({ title, detail = '', spinner = false, error = false, retry = '', onRetry = null, end = false }) {
  const o = $('overlay');
  o.hidden = false;
  o.classList.toggle('error', error);
  o.setAttribute('role', error ? 'alert' : 'status');
  $('overlay-title').textContent = title;
  $('overlay-detail').textContent = detail;
  $('overlay-detail').hidden = !detail;
  $('overlay-spinner').hidden = !spinner;
  $('overlay-retry').hidden = !retry;
  $('overlay-retry').textContent = retry || 'Retry';
  $('overlay-end').hidden = !end;
  retryAction = onRetry;
}

export function hideOverlay() {
  $('overlay').hidden = true;
  retryAction = null;
}

// toast shows a notice for a few seconds, with an optional action button.
export function toast(text, actionLabel = '', action = null) {
  $('toast-text').textContent = text;
  $('toast-action').hidden = !actionLabel;
  $('toast-action').textContent = actionLabel;
  toastAction = action;
  $('toast').hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(hideToast, actionLabel ? 10000 : 6000);
}

export function hideToast() {
  clearTimeout(toastTimer);
  $('toast').hidden = true;
  toastAction = null;
}
