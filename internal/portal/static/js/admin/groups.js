// The Groups page: the groups that grant workspaces and set a policy for
// their members' sessions, in the order the policy takes them (priority,
// then name); a form that creates a group or edits one; a group's
// members, added by hand and removed after a confirmation; and a user's
// effective policy: per workspace, whether it is granted and by which
// groups, and each setting's value with the rule it came from.
//
// PUT replaces a whole group, and the form does not show per-workspace
// rules (`airlock group set NAME --rule …` sets them): an edit sends the
// rules of the workspaces still granted back as they were. The built-in
// everyone has every user as a member: it is edited, never renamed,
// deleted or given members, and the page offers none of that.

import { el } from '../dom.js';
import { admin } from './api.js';
import { announce, showError, clearError, alertBox, field, checkbox, table, timeCell, button, confirm, refocus, busy } from './ui.js';

export const title = 'Groups';

// POLICY_FIELDS are a group's policy fields as the form edits them, by
// their api names; a field left empty is not set by the group, and the
// next rule decides it.
export const POLICY_FIELDS = [
  { key: 'max_sessions', label: 'Max sessions', kind: 'count' },
  { key: 'idle_timeout', label: 'Idle timeout', kind: 'duration' },
  { key: 'lifetime', label: 'Lifetime', kind: 'duration' },
  { key: 'max_lifetime', label: 'Maximum lifetime', kind: 'duration' },
  { key: 'clipboard', label: 'Clipboard', choices: ['both', 'to-container', 'from-container', 'off'] },
  { key: 'downloads', label: 'Downloads', choices: ['allowed', 'blocked'] },
  { key: 'uploads', label: 'Uploads', choices: ['allowed', 'blocked'] },
];

// The effective policy names its fields as internal/airlock does.
const EFFECTIVE_LABELS = {
  max_sessions: 'Max sessions', idle: 'Idle timeout', lifetime: 'Lifetime', max_lifetime: 'Maximum lifetime',
  clipboard: 'Clipboard', downloads: 'Downloads', uploads: 'Uploads',
};

const SOURCES = { local: 'by hand', sso: 'single sign-on' };

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const allowed = (b) => (b ? 'allowed' : 'blocked');

// policyText says briefly what a policy sets ("idle 1h · clipboard off ·
// 4 sessions"), "" for nothing.
export function policyText(p) {
  if (!p) return '';
  const out = [];
  if (p.idle_timeout) out.push(`idle ${p.idle_timeout}`);
  if (p.lifetime) out.push(`lifetime ${p.lifetime}`);
  if (p.max_lifetime) out.push(`at most ${p.max_lifetime}`);
  if (p.clipboard) out.push(`clipboard ${p.clipboard}`);
  if (p.downloads != null) out.push(`downloads ${allowed(p.downloads)}`);
  if (p.uploads != null) out.push(`uploads ${allowed(p.uploads)}`);
  if (p.max_sessions) out.push(plural(p.max_sessions, 'session', 'sessions'));
  return out.join(' · ');
}

// grantsText says what a group grants: all workspaces and/or the ones
// it names, each with its own rule when it has one.
export function grantsText(g) {
  const parts = [];
  if (g.all_workspaces) parts.push('all workspaces');
  const named = (g.workspaces || []).map((w) => (w.policy ? `${w.workspace} (${policyText(w.policy)})` : w.workspace));
  if (named.length) parts.push(named.join(', '));
  return parts.join('; ') || 'nothing';
}

// wholeNumber reads an integer field: "" is empty, and a text that is no
// whole number throws an Error that names the field.
function wholeNumber(label, text, empty) {
  const s = String(text ?? '').trim();
  if (s === '') return empty;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new Error(`${label}: "${s}" is not a whole number.`);
  return n;
}

// groupBody is the body of the group form's POST or PUT. values holds the
// form's texts (name, description, priority, idp_groups and each policy
// field's), all (the checkbox) and granted (the workspaces checked). The
// rules original has for a workspace still granted go back unchanged:
// the form does not show them, and PUT would drop what it is not sent.
export function groupBody(values, original = null) {
  const body = { name: String(values.name ?? '').trim(), priority: wholeNumber('Priority', values.priority, 0), all_workspaces: !!values.all };
  const description = String(values.description ?? '').trim();
  if (description) body.description = description;
  const rules = new Map(((original && original.workspaces) || []).map((w) => [w.workspace, w.policy]));
  const workspaces = (values.granted || []).map((name) => (rules.get(name) ? { workspace: name, policy: rules.get(name) } : { workspace: name }));
  if (workspaces.length) body.workspaces = workspaces;
  const policy = {};
  for (const f of POLICY_FIELDS) {
    const s = String(values[f.key] ?? '').trim();
    if (s === '') continue;
    if (f.kind === 'count') policy[f.key] = wholeNumber(f.label, s);
    else if (f.key === 'downloads' || f.key === 'uploads') policy[f.key] = s === 'allowed';
    else policy[f.key] = s;
  }
  if (Object.keys(policy).length) body.policy = policy;
  const idp = String(values.idp_groups ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (idp.length) body.idp_groups = idp;
  return body;
}

// page: { signal, errBox, body, heading, add, formSlot, membersSlot,
// choices (a promise of [workspaces, users], read once a visit),
// members (the group the members panel shows, or null) }.
let page = null;

export function enter(root, ctx) {
  const errBox = alertBox('groups-error');
  const list = table('Groups, in priority order', ['Name', 'Priority', 'Grants', 'Policy', 'Members', 'Actions'], 'groups-list');
  const formSlot = el('div', { id: 'group-form-slot' });
  const membersSlot = el('div', { id: 'group-members-slot' });
  const add = button('New group', { kind: 'primary', id: 'groups-new' });
  const choices = Promise.all([admin.workspaces({ signal: ctx.signal }), admin.users({ signal: ctx.signal })])
    .then(([workspaces, users]) => [workspaces.map((w) => w.name).sort(), users.map((u) => u.name).sort()]);
  page = { signal: ctx.signal, errBox, body: list.body, heading: ctx.heading, add, formSlot, membersSlot, choices, members: null };
  add.addEventListener('click', () => openForm(null, add));
  const policy = policySection(page);
  root.append(errBox,
    el('p', { class: 'muted' }, 'A user may launch the workspaces their groups grant. Where groups set the same setting, ' +
      'a rule for one workspace wins over a group\'s rule for all it grants; among equals, the lowest priority wins.'),
    el('div', { class: 'row row-start' }, add), formSlot, list.node, membersSlot, policy);
  load();
}

export function leave() {
  page = null;
}

async function load() {
  const p = page;
  let groups;
  try {
    groups = await admin.groups({ signal: p.signal });
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  p.body.replaceChildren(...groups.map(row)); // the api's order is the policy's
}

// rowButton is the button labelled label in group name's row: rows are
// made again at each load, so one held from before may be gone.
function rowButton(p, name, label) {
  return p.body.querySelector(`tr[data-group="${CSS.escape(name)}"] button[aria-label="${CSS.escape(label)}"]`);
}

function row(g) {
  const edit = button('Edit', { label: `Edit ${g.name}` });
  edit.addEventListener('click', () => openForm(g, edit));
  const actions = [edit];
  if (!g.built_in) {
    const members = button('Members', { label: `Members of ${g.name}` });
    const del = button('Delete', { kind: 'danger', label: `Delete ${g.name}` });
    members.addEventListener('click', () => openMembers(g.name, members));
    del.addEventListener('click', () => remove(g, del));
    actions.push(members, del);
  }
  const idp = g.idp_groups && g.idp_groups.length ? `Single sign-on groups: ${g.idp_groups.join(', ')}` : '';
  return el('tr', { 'data-group': g.name },
    el('td', {}, el('strong', {}, g.name), g.built_in ? ' ' : null, g.built_in ? el('span', { class: 'badge' }, 'built in') : null,
      g.description ? el('p', { class: 'reason muted' }, g.description) : null,
      idp ? el('p', { class: 'reason muted' }, idp) : null),
    el('td', {}, String(g.priority)),
    el('td', {}, grantsText(g)),
    el('td', {}, policyText(g.policy) || 'sets nothing'),
    el('td', {}, g.built_in ? `${g.members} (every user)` : String(g.members)),
    el('td', { class: 'actions' }, actions));
}

// notSet is a <select> of choices with a first "not set" (value "").
function notSet(id, choices, value) {
  const s = el('select', { id, name: id }, el('option', { value: '' }, 'not set'));
  for (const c of choices) s.append(el('option', { value: c, selected: c === value }, c));
  return s;
}

// openForm shows the form for g (null: a new group) above the list.
async function openForm(g, opener) {
  const p = page;
  let workspaces;
  try {
    [workspaces] = await p.choices;
  } catch (err) {
    showError(p.errBox, err);
    return;
  }
  if (page !== p) return;
  const builtIn = !!(g && g.built_in);
  const errBox = alertBox('group-form-error');
  const name = el('input', { id: 'group-name', value: g ? g.name : '', autocomplete: 'off', spellcheck: 'false', required: true, readonly: builtIn });
  const description = el('input', { id: 'group-description', value: (g && g.description) || '', autocomplete: 'off' });
  const priority = el('input', { id: 'group-priority', type: 'number', step: '1', value: g ? String(g.priority) : '' });
  const idp = builtIn ? null : el('input', { id: 'group-idp', value: ((g && g.idp_groups) || []).join(', '), autocomplete: 'off', spellcheck: 'false' });
  const all = checkbox('group-all', 'All workspaces, present and future', !!(g && g.all_workspaces));

  // A grant of a workspace this visit has not seen (made since) keeps
  // its box, so saving does not drop it.
  const grants = (g && g.workspaces) || [];
  const names = [...new Set([...workspaces, ...grants.map((w) => w.workspace)])].sort();
  const ruled = new Set(grants.filter((w) => w.policy).map((w) => w.workspace));
  const granted = new Set(grants.map((w) => w.workspace));
  const boxes = names.map((n) => ({ name: n,
    ...checkbox(`group-ws-${n}`, ruled.has(n) ? `${n} (with its own rules)` : n, granted.has(n)) }));

  const inputs = {};
  const policyFields = POLICY_FIELDS.map((f) => {
    const id = 'group-' + f.key.replace(/_/g, '-');
    let v = g && g.policy ? g.policy[f.key] : undefined;
    if (typeof v === 'boolean') v = allowed(v);
    const input = f.choices
      ? notSet(id, f.choices, v ?? '')
      : el('input', { id, value: v == null ? '' : String(v), autocomplete: 'off', spellcheck: 'false',
        type: f.kind === 'count' ? 'number' : null, min: f.kind === 'count' ? '1' : null });
    inputs[f.key] = input;
    const hint = f.kind === 'duration' ? 'Such as 30m or 8h; empty: not set.'
      : f.kind === 'count' ? 'All of a member\'s sessions at once; empty: not set.' : '';
    return field(f.label, input, hint);
  });

  const submit = el('button', { id: 'group-save', type: 'submit', class: 'btn btn-primary' }, g ? 'Save changes' : 'Create group');
  const cancel = button('Cancel', { id: 'group-cancel' });
  const heading = el('h2', { id: 'group-form-title', class: 'admin-sub', tabindex: '-1' }, g ? `Edit ${g.name}` : 'New group');
  const form = el('form', { id: 'group-form', class: 'admin-form', 'aria-labelledby': 'group-form-title', novalidate: true },
    heading, errBox,
    el('div', { class: 'admin-fields' },
      field('Name', name, builtIn ? 'The built-in group keeps its name.' : ''),
      field('Description', description),
      field('Priority', priority, 'The lowest wins where groups set the same setting. Empty: 0.'),
      idp ? field('Single sign-on groups', idp, 'Names in the identity provider\'s groups claim, comma-separated: who has one is a member.') : null),
    el('fieldset', { class: 'admin-checks' }, el('legend', {}, 'Workspaces granted'), all.node, boxes.map((b) => b.node)),
    el('h3', { id: 'group-policy-title' }, 'Policy of its members\' sessions'),
    el('div', { class: 'admin-fields', role: 'group', 'aria-labelledby': 'group-policy-title' }, policyFields),
    el('div', { class: 'row' }, cancel, submit));
  const close = () => {
    form.remove();
    refocus(opener, p.heading);
  };
  cancel.addEventListener('click', close);
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(errBox);
    let body;
    try {
      // A number field holding text has the value "", which would save
      // as "not set": refused here instead.
      for (const [label, input] of [['Priority', priority], ['Max sessions', inputs.max_sessions]]) {
        if (input.validity.badInput) throw new Error(`${label}: not a number.`);
      }
      const values = Object.fromEntries(Object.entries(inputs).map(([k, input]) => [k, input.value]));
      body = groupBody({ ...values, name: name.value, description: description.value, priority: priority.value,
        idp_groups: idp ? idp.value : '', all: all.box.checked, granted: boxes.filter((b) => b.box.checked).map((b) => b.name) }, g);
    } catch (err) {
      showError(errBox, err);
      return;
    }
    let saved;
    try {
      saved = await busy(submit, 'Saving…', () => (g ? admin.updateGroup(g.name, body) : admin.createGroup(body)));
    } catch (err) {
      showError(errBox, err);
      errBox.scrollIntoView({ block: 'nearest' });
      return;
    }
    form.remove();
    announce(g ? `Group ${saved.name} saved.` : `Group ${saved.name} created.`);
    // An open members panel of this group follows a rename.
    const shown = g && p.members === g.name;
    await Promise.all([load(), shown ? showMembers(p, saved.name) : null]);
    refocus(g ? rowButton(p, saved.name, `Edit ${saved.name}`) : p.add, p.heading);
  });
  p.formSlot.replaceChildren(form);
  (g ? description : name).focus();
}

async function remove(g, opener) {
  const p = page;
  const yes = await confirm({ title: `Delete ${g.name}?`,
    message: `The group ${g.name} is removed: its ${plural(g.members, 'member', 'members')} no longer get what it grants or the policy it sets. This cannot be undone.`,
    action: 'Delete group', opener, fallback: p.heading });
  if (!yes || page !== p) return;
  clearError(p.errBox);
  try {
    await admin.deleteGroup(g.name);
  } catch (err) {
    showError(p.errBox, err);
    refocus(opener, p.heading);
    return;
  }
  if (p.members === g.name) closeMembers(p);
  announce(`Group ${g.name} deleted.`);
  await load();
  refocus(null, p.heading);
}

// openMembers shows group name's members under the list, the focus on
// the field that adds one.
async function openMembers(name, opener) {
  const p = page;
  if (!(await showMembers(p, name))) {
    refocus(opener, p.heading);
    return;
  }
  const title = document.getElementById('group-members-title');
  refocus(document.getElementById('member-user'), title);
}

function closeMembers(p) {
  p.members = null;
  p.membersSlot.replaceChildren();
}

// showMembers renders the members panel of group name, again if it is
// open; it answers false when the group could not be read (the page's
// alert says why).
async function showMembers(p, name) {
  let g, users;
  try {
    [g, [, users]] = await Promise.all([admin.group(name, { signal: p.signal }), p.choices]);
  } catch (err) {
    showError(p.errBox, err);
    return false;
  }
  if (page !== p) return false;
  const members = g.member_list || [];
  const isMember = new Set(members.map((m) => m.user));
  const candidates = users.filter((u) => !isMember.has(u));
  const pick = el('select', { id: 'member-user', name: 'member-user', disabled: !candidates.length },
    candidates.length ? candidates.map((u) => el('option', { value: u }, u)) : el('option', { value: '' }, 'Every user is a member'));
  const addBtn = el('button', { id: 'member-add', type: 'submit', class: 'btn btn-primary', disabled: !candidates.length }, 'Add member');
  const closeBtn = button('Close', { id: 'members-close', label: `Close the members of ${g.name}` });
  const errBox = alertBox('group-members-error');
  const list = table(`Members of ${g.name}`, ['User', 'Source', 'Since', 'Actions'], 'members-list');
  list.body.replaceChildren(...members.map((m) => memberRow(p, g, m)));
  if (!members.length) list.body.append(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'No members yet.')));
  const addForm = el('form', { id: 'member-form', class: 'admin-fields', 'aria-label': `Add a member to ${g.name}`, novalidate: true },
    field('User', pick, 'Added by hand; single sign-on adds those its groups claim names at each sign-in.'),
    el('div', { class: 'row row-start' }, addBtn));
  const section = el('section', { id: 'group-members', class: 'admin-form', 'aria-labelledby': 'group-members-title', 'data-group': g.name },
    el('h2', { id: 'group-members-title', class: 'admin-sub', tabindex: '-1' }, `Members of ${g.name}`),
    errBox, addForm, list.node, el('div', { class: 'row' }, closeBtn));
  const close = () => {
    closeMembers(p);
    refocus(rowButton(p, g.name, `Members of ${g.name}`), p.heading);
  };
  closeBtn.addEventListener('click', close);
  section.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  });
  addForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = pick.value;
    if (!user) return;
    clearError(errBox);
    try {
      await busy(addBtn, 'Adding…', () => admin.addMember(g.name, user));
    } catch (err) {
      showError(errBox, err);
      pick.focus();
      return;
    }
    announce(`${user} added to ${g.name}.`);
    await Promise.all([showMembers(p, g.name), load()]);
    // The next one may be added at once; with no one left, the panel's
    // heading.
    refocus(document.getElementById('member-user'), document.getElementById('group-members-title') || p.heading);
  });
  p.membersSlot.replaceChildren(section);
  p.members = g.name;
  return true;
}

function memberRow(p, g, m) {
  const del = button('Remove', { kind: 'danger', label: `Remove ${m.user} from ${g.name}` });
  del.addEventListener('click', async () => {
    const sso = m.source === 'sso' ? ' Single sign-on makes them a member again at their next sign-in if their identity provider still names the group.' : '';
    const yes = await confirm({ title: `Remove ${m.user} from ${g.name}?`,
      message: `${m.user} no longer gets what ${g.name} grants or the policy it sets.${sso}`,
      action: 'Remove member', opener: del, fallback: p.heading });
    if (!yes || page !== p) return;
    const box = document.getElementById('group-members-error');
    clearError(box);
    try {
      await admin.removeMember(g.name, m.user);
    } catch (err) {
      showError(box, err);
      refocus(del, p.heading);
      return;
    }
    announce(`${m.user} removed from ${g.name}.`);
    await Promise.all([showMembers(p, g.name), load()]);
    refocus(null, document.getElementById('group-members-title') || p.heading);
  });
  return el('tr', { 'data-member': m.user },
    el('td', {}, m.user),
    el('td', {}, SOURCES[m.source] || m.source),
    timeCell(m.since),
    el('td', { class: 'actions' }, del));
}

// policySection is the effective policy of a user: pick one, Show.
function policySection(p) {
  const pick = el('select', { id: 'policy-user', name: 'policy-user' });
  const show = el('button', { id: 'policy-show', type: 'submit', class: 'btn btn-primary' }, 'Show policy');
  const errBox = alertBox('policy-error');
  const result = el('div', { id: 'policy-result', class: 'admin-stack' });
  const form = el('form', { id: 'policy-form', class: 'admin-fields', 'aria-label': 'Effective policy of a user', novalidate: true },
    field('User', pick), el('div', { class: 'row row-start' }, show));
  p.choices.then(([, users]) => {
    if (page === p) pick.replaceChildren(...users.map((u) => el('option', { value: u }, u)));
  }, (err) => showError(p.errBox, err));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = pick.value;
    if (!user) return;
    clearError(errBox);
    let pol;
    try {
      pol = await busy(show, 'Reading…', () => admin.userPolicy(user, { signal: p.signal }));
    } catch (err) {
      showError(errBox, err);
      return;
    }
    if (page !== p) return;
    result.replaceChildren(...policyView(pol));
    const n = pol.workspaces.filter((w) => w.granted).length;
    announce(`Effective policy of ${pol.user}: ${n} of ${plural(pol.workspaces.length, 'workspace', 'workspaces')} granted.`);
  });
  return el('section', { id: 'policy', class: 'admin-form', 'aria-labelledby': 'policy-title' },
    el('h2', { id: 'policy-title', class: 'admin-sub' }, 'Effective policy'),
    el('p', { class: 'muted' }, 'What a user\'s sessions of each workspace run under, and the rule each setting comes from.'),
    errBox, form, result);
}

// policyView is a user's effective policy: their groups, then per
// workspace whether it is granted and, when it is, each setting with
// its value and source.
function policyView(pol) {
  const bound = pol.max_sessions ? `at most ${plural(pol.max_sessions, 'session', 'sessions')} at once` : 'no bound on sessions';
  const out = [el('p', { id: 'policy-summary', class: 'muted' }, `${pol.user} is a member of ${pol.groups.join(', ')}; ${bound}.`)];
  for (const w of pol.workspaces) {
    const head = el('h3', {}, w.workspace);
    if (!w.granted) {
      out.push(el('div', { 'data-workspace': w.workspace, 'data-granted': 'false' }, head,
        el('p', { class: 'muted' }, `Not granted: none of ${pol.user}'s groups grants it.`)));
      continue;
    }
    const t = table(`Effective policy of ${pol.user} for ${w.workspace}`, ['Setting', 'Value', 'From'], null);
    t.body.replaceChildren(...w.fields.map((f) => el('tr', { 'data-field': f.name },
      el('td', {}, EFFECTIVE_LABELS[f.name] || f.name),
      el('td', {}, f.value),
      el('td', {}, f.source.text))));
    out.push(el('div', { 'data-workspace': w.workspace, 'data-granted': 'true' }, head,
      el('p', {}, `Granted by ${w.granted_by.join(', ')}.`), t.node));
  }
  return out;
}
