// Pure helpers of the admin pages: query strings, durations, units and
// the body of a workspace form. No DOM here, so the unit tests
// (testdata/units.test.mjs) run them in node.

// AUDIT_FILTERS are the audit routes' filter parameters, and
// AUDIT_PAGING the listing's own (internal/api/audit.go).
export const AUDIT_FILTERS = ['actor', 'action', 'target', 'outcome', 'since', 'until'];
const AUDIT_PAGING = ['limit', 'before'];

// auditQuery is the query string ("" or "?…") of filter for the audit
// listing (listing true: with limit and before) or the export (without
// them: the api refuses a parameter a route does not take). Empty and
// blank values are left out; the others are sent as typed, trimmed.
export function auditQuery(filter = {}, listing = true) {
  const names = listing ? AUDIT_FILTERS.concat(AUDIT_PAGING) : AUDIT_FILTERS;
  const q = new URLSearchParams();
  for (const name of names) {
    const v = filter[name];
    if (v == null) continue;
    const s = String(v).trim();
    if (s !== '') q.set(name, s);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// localTimeToRFC3339 turns a datetime-local input's value
// ("2025-06-01T12:00") into the RFC 3339 time the api takes, in UTC; ""
// stays "", and a value that is no time is returned as typed, for the api
// to refuse with its own message.
export function localTimeToRFC3339(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? v : d.toISOString();
}

// formatDuration says a number of seconds briefly: "45 s", "12 min",
// "1 h 5 min", "2 d 3 h". Negative or unknown: "".
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

// ranFor is how long a session ran: from created to stopped, or to now
// while it runs.
export function ranFor(s, now = Date.now()) {
  const from = new Date(s.created_at).getTime();
  const to = s.stopped_at ? new Date(s.stopped_at).getTime() : now;
  return formatDuration((to - from) / 1000);
}

// dateTime is t in the viewer's locale, or "" for an absent or zero time
// (Go writes a zero time.Time as 0001-01-01).
export function dateTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2) return '';
  return d.toLocaleString();
}

// labelsText is a node's labels as "rack=3, zone=eu-1", sorted by name.
export function labelsText(labels) {
  if (!labels) return '';
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(', ');
}

// CPUs and memory: the api takes nano_cpus and bytes, people type CPUs
// and MiB.
const NANO = 1e9;
const MIB = 1024 * 1024;
export const cpusText = (nano) => (nano ? String(+(nano / NANO).toFixed(3)) : '');
export const mibText = (bytes) => (bytes ? String(+(bytes / MIB).toFixed(1)) : '');

// number reads a form's numeric field: "" is 0 (the api's "default"),
// and a value that is not a number is NaN, which the form refuses.
function number(v) {
  const s = String(v ?? '').trim();
  return s === '' ? 0 : Number(s);
}

// WORKSPACE_FIELDS are the fields the workspace form edits, with how a
// form value becomes the api's and back. Durations are Go's ("30m");
// empty is "0", the deployment's default.
export const WORKSPACE_FIELDS = [
  { key: 'name', label: 'Name' },
  { key: 'description', label: 'Description' },
  { key: 'image', label: 'Image' },
  { key: 'isolation', label: 'Isolation', choices: ['standard', 'hardened', 'sandboxed'] },
  { key: 'clipboard', label: 'Clipboard', choices: ['both', 'to-container', 'from-container', 'off'] },
  { key: 'mode', label: 'Mode', choices: ['browser', 'kiosk'] },
  { key: 'audio', label: 'Audio', choices: ['on', 'off'] },
  { key: 'start_url', label: 'Start URL' },
  { key: 'nano_cpus', label: 'CPUs', unit: 'cpus' },
  { key: 'memory', label: 'Memory (MiB)', unit: 'mib' },
  { key: 'pids_limit', label: 'Process limit', unit: 'count' },
  { key: 'idle_timeout', label: 'Idle timeout', unit: 'duration' },
  { key: 'lifetime', label: 'Lifetime', unit: 'duration' },
  { key: 'max_lifetime', label: 'Maximum lifetime', unit: 'duration' },
];

// fieldText is workspace field f of ws as the form shows it.
export function fieldText(f, ws) {
  const v = ws[f.key];
  switch (f.unit) {
    case 'cpus': return cpusText(v);
    case 'mib': return mibText(v);
    case 'count': return v ? String(v) : '';
    case 'duration': return v && v !== '0' && v !== '0s' ? String(v) : '';
    default: return v == null ? '' : String(v);
  }
}

// fieldValue is the api's value of field f from the form's text, or
// throws an Error that names the field.
export function fieldValue(f, text) {
  const s = String(text ?? '').trim();
  switch (f.unit) {
    case 'cpus':
    case 'mib':
    case 'count': {
      const n = number(s);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${f.label}: "${s}" is not a number of at least 0.`);
      if (f.unit === 'cpus') return Math.round(n * NANO);
      if (f.unit === 'mib') return Math.round(n * MIB);
      if (!Number.isInteger(n)) throw new Error(`${f.label}: "${s}" is not a whole number.`);
      return n;
    }
    case 'duration': return s === '' ? '0' : s;
    default: return s;
  }
}

// workspaceBody is the request body of a workspace form: values maps
// each field's key to the form's text. Without original it is a create's
// body, every field given (empty texts left out, for the api's defaults);
// with it, a PATCH's: only the fields whose value changed, so that the
// others (and those the form does not show) stay as they are.
export function workspaceBody(values, original = null) {
  const body = {};
  for (const f of WORKSPACE_FIELDS) {
    if (!(f.key in values)) continue;
    const v = fieldValue(f, values[f.key]);
    if (original) {
      if (f.key === 'name') continue; // a PATCH names the workspace in its path
      if (v === fieldValue(f, fieldText(f, original))) continue;
    } else if (v === '' || v === 0 || v === '0') {
      continue;
    }
    body[f.key] = v;
  }
  return body;
}
