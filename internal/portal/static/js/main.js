// Boots the portal and routes on the URL fragment, which never reaches
// the server:
//
//   #/                 workspaces and my sessions
//   #/session/<id>     the viewer for one session; add ?relay=1 (or
//                      ?relay=tcp, ?relay=udp: one TURN transport) to the
//                      page URL (before the #) to force TURN relay
//   #/admin[/<page>]   administration (admin role only; see
//                      admin/index.js for its pages)
//
// Signing in is not a route: whenever the api says 401 the sign-in form
// is shown in place, and the route the user asked for opens after it.

import { api, setUnauthorizedHandler } from './api.js';
import { showView } from './dom.js';
import * as login from './login.js';
import * as home from './home.js';
import * as viewer from './viewer.js';
import * as adminView from './admin/index.js';

const app = {
  me: null,
  // launched is the session a launch just answered with, which the
  // viewer it opens takes instead of asking for it again.
  launched: null,
  // ahead is what that launch opened ahead of its answer (the signal
  // socket, a peer connection), for the viewer's first connection.
  ahead: null,
  launchedWorkspace: null, // and the workspace it was of
  // go shows the view of hash now, not at the hashchange event (a task
  // that waits behind rendering): a launch's viewer starts connecting
  // sooner. pushState fires no hashchange; Back and Forward do.
  go(hash) {
    if (location.hash !== hash && !(hash === '#/' && location.hash === '')) history.pushState(null, '', hash);
    route();
  },
  signedIn(user) {
    app.me = user;
    route();
  },
  // notice is a message for the next view to show once (home shows it).
  notice: '',
  logout: (show) => home.logout(show),
  signedOut(message = '') {
    app.me = null;
    leaveCurrent();
    showLogin(message);
  },
};

let current = null; // { module, key } of the view shown
let seq = 0;

function parseRoute() {
  const h = location.hash.replace(/^#/, '') || '/';
  const m = /^\/session\/([^/?#]+)\/?$/.exec(h);
  if (m) {
    let id = m[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      /* keep it as typed */
    }
    return { module: viewer, key: 'session:' + id, id };
  }
  const a = /^\/admin(?:\/([a-z-]*))?\/?$/.exec(h);
  if (a) return { module: adminView, key: 'admin:' + (a[1] || ''), id: a[1] || '', admin: true };
  return { module: home, key: 'home' };
}

function leaveCurrent() {
  if (current) current.module.leave();
  current = null;
}

function showLogin(message) {
  showView('view-login');
  document.title = 'Sign in · Airlock';
  login.enter(app, message);
}

async function route() {
  const my = ++seq;
  let r = parseRoute();
  if (!app.me) {
    try {
      app.me = await api.me();
    } catch (err) {
      if (my !== seq) return;
      leaveCurrent();
      showLogin(err.status === 401 ? '' : err.message);
      return;
    }
    if (my !== seq) return;
  }
  if (current && current.key === r.key) return;
  leaveCurrent();
  if (r.admin && app.me.role !== 'admin') {
    // The api refuses a non-admin every admin route anyway; the portal
    // does not show them its pages at all.
    history.replaceState(null, '', location.pathname + location.search + '#/');
    app.notice = 'The administration pages are for administrators only.';
    r = { module: home, key: 'home' };
  }
  current = r;
  r.module.enter(app, r.id);
}

setUnauthorizedHandler(() => {
  if (app.me) app.signedOut('Your sign-in has expired. Sign in again to continue.');
});
login.init(app);
home.init(app);
viewer.init(app);
adminView.init(app);
window.addEventListener('hashchange', route);
route();
// For boot.js: the portal's modules all loaded.
window.airlockStarted = true;
try {
  sessionStorage.removeItem('airlock-boot-retries');
} catch {
  /* no storage: nothing was counted */
}
