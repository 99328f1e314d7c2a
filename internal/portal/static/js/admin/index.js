// The administration view, for users with the admin role: a navigation
// of its pages and the page the route names (#/admin/<page>). Each page
// module exports title, enter(root, ctx) and leave(); ctx.signal ends
// with the visit, ctx.heading is the page's <h1>, where the focus goes
// when an action removed what had it.

import { $, el, showView, setAlert } from '../dom.js';
import * as users from './users.js';
import * as groups from './groups.js';
import * as workspaces from './workspaces.js';
import * as nodes from './nodes.js';
import * as sessions from './sessions.js';
import * as pools from './pools.js';
import * as audit from './audit.js';

// PAGES is the navigation, in its order: a new page is imported above
// as `import * as name from './name.js'` and listed here as
// { path: 'name', module: name }, its path the route's #/admin/<path>.
// Groups follows Users, whose members they are.
export const PAGES = [
  { path: 'users', module: users },
  { path: 'groups', module: groups },
  { path: 'workspaces', module: workspaces },
  { path: 'nodes', module: nodes },
  { path: 'sessions', module: sessions },
  { path: 'pools', module: pools },
  { path: 'audit', module: audit },
];

// pageOf is the page a route's path names; the first for none.
export const pageOf = (path) => PAGES.find((p) => p.path === path) || (path ? null : PAGES[0]);

let app;
let visit = null;
let current = null;

export function init(a) {
  app = a;
  $('admin-logout').addEventListener('click', () => app.logout((msg) => setAlert($('admin-alert'), msg)));
  const nav = $('admin-nav');
  nav.replaceChildren(...PAGES.map((p) =>
    el('a', { href: `#/admin/${p.path}`, 'data-page': p.path, class: 'admin-nav-link' }, p.module.title)));
}

export function enter(_app, path) {
  showView('view-admin');
  $('admin-me').textContent = app.me.name;
  const p = pageOf(path);
  for (const a of $('admin-nav').querySelectorAll('a')) {
    if (p && a.dataset.page === p.path) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const heading = $('admin-title');
  const root = $('admin-page');
  root.replaceChildren();
  $('admin-status').textContent = '';
  setAlert($('admin-alert'), '');
  visit = new AbortController();
  if (!p) {
    heading.textContent = 'No such page';
    document.title = 'Administration · Airlock';
    root.append(el('p', {}, 'There is no administration page here. Pick one above.'));
    return;
  }
  current = p.module;
  heading.textContent = p.module.title;
  document.title = `${p.module.title} · Administration · Airlock`;
  p.module.enter(root, { signal: visit.signal, heading });
  // A new page is announced by moving the focus to its heading, unless
  // the focus is already in the navigation (a keyboard user stepping
  // through the pages keeps their place there).
  if (!$('admin-nav').contains(document.activeElement)) heading.focus();
}

export function leave() {
  if (visit) visit.abort();
  visit = null;
  if (current) current.leave();
  current = null;
  const d = $('admin-confirm');
  if (d.open) d.close('cancel');
}
