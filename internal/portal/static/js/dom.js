// Small DOM helpers. The portal never builds HTML from strings (its CSP
// enforces Trusted Types): elements are made here and text is set with
// textContent.

export const $ = (id) => document.getElementById(id);

// el makes an element. attrs: "class", "text", "on<event>" listeners,
// anything else is an attribute (skipped when null or false).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// showView shows the view with this id and hides the others.
export function showView(id) {
  $('boot').hidden = true;
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== id;
}

// setAlert shows message in node (or hides it when message is empty).
export function setAlert(node, message, kind = 'error') {
  node.textContent = message || '';
  node.className = `alert alert-${kind}`;
  node.hidden = !message;
}

// sentence makes an api message read as a sentence.
export function sentence(s) {
  if (!s) return '';
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?…]$/.test(s) ? s : s + '.';
}

// armConfirm runs action on a second click within a few seconds; the
// first click relabels the button so a destructive action is never one
// stray click away.
export function armConfirm(button, confirmLabel, action) {
  let timer = 0;
  let label = '';
  const labelNode = button.querySelector('.tb-label') || button;
  button.addEventListener('click', () => {
    if (timer) {
      clearTimeout(timer);
      timer = 0;
      button.classList.remove('armed');
      labelNode.textContent = label;
      action();
      return;
    }
    label = labelNode.textContent;
    labelNode.textContent = confirmLabel;
    button.classList.add('armed');
    timer = setTimeout(() => {
      timer = 0;
      button.classList.remove('armed');
      labelNode.textContent = label;
    }, 4000);
  });
}

// relativeTime says how long ago t was, briefly.
export function relativeTime(t, now = Date.now()) {
  const s = Math.round((now - new Date(t).getTime()) / 1000);
  if (!Number.isFinite(s)) return '';
  if (s < 45) return 'just now';
  if (s < 90) return '1 min ago';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return h === 1 ? '1 hour ago' : `${h} hours ago`;
  const d = Math.round(h / 24);
  return d === 1 ? 'yesterday' : `${d} days ago`;
}
