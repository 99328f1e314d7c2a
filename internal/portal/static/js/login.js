// The sign-in form (POST /api/v1/auth/login). The api sets an HttpOnly
// session cookie; the form never sees it.

import { api } from './api.js';
import { $, setAlert, sentence } from './dom.js';

let app;

// The button is disabled in the page until this runs: before the
// handler is on, the browser would submit the form itself, and a
// password must never leave in a plain form post (or, as a GET, in the
// URL).
export function init(a) {
  app = a;
  $('login-form').addEventListener('submit', submit);
  $('login-submit').disabled = false;
  offerSSO();
}

// offerSSO shows "Sign in with …" when the server has single sign-on.
// The link is a plain navigation: the api sends the browser to the
// provider, and back to where it was once signed in.
async function offerSSO() {
  let info;
  try {
    info = await api.sso();
  } catch {
    return; // the password form still works
  }
  if (!info.enabled) return;
  const link = $('login-sso-link');
  link.textContent = `Sign in with ${info.name}`;
  const back = location.pathname + location.hash;
  link.href = `${info.login}?return_to=${encodeURIComponent(back)}`;
  $('login-sso').hidden = false;
}

export function enter(_app, message) {
  setAlert($('login-error'), message);
  const user = $('login-user');
  (user.value ? $('login-password') : user).focus();
}

async function submit(e) {
  e.preventDefault();
  const user = $('login-user').value.trim();
  const password = $('login-password').value;
  const errBox = $('login-error');
  if (!user || !password) {
    setAlert(errBox, 'Enter your user name and password.');
    (user ? $('login-password') : $('login-user')).focus();
    return;
  }
  const button = $('login-submit');
  button.disabled = true;
  button.textContent = 'Signing in…';
  setAlert(errBox, '');
  try {
    const res = await api.login(user, password);
    $('login-password').value = '';
    app.signedIn(res.user);
  } catch (err) {
    setAlert(errBox, sentence(err.message));
    $('login-password').select();
    $('login-password').focus();
  } finally {
    button.disabled = false;
    button.textContent = 'Sign in';
  }
}
