// A workspace's browser options as badges on its catalog card: what a
// user may want to know before launching (a kiosk, whether files cross,
// a fixed language or time zone). Pure, for the cards and the unit tests.

// binarySize is n bytes for people, in the units limits are set in: "256 MiB".
function binarySize(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${+n.toFixed(1)} ${units[i]}`;
}

// browserBadges lists {text, title} for the options of ws that differ
// from a plain browser window: nothing for a workspace the api showed
// without them.
export function browserBadges(ws) {
  const out = [];
  if (!ws) return out;
  if (ws.mode === 'kiosk') out.push({ text: 'kiosk', title: 'One page, no tabs or address bar' });
  const b = ws.browser;
  if (b) {
    for (const [key, verb] of [['downloads', 'Downloads'], ['uploads', 'Uploads']]) {
      const t = b[key];
      if (t && t.allowed) {
        out.push({ text: `${verb.toLowerCase()} ≤ ${binarySize(t.max_bytes)}`, title: `${verb} allowed, up to ${binarySize(t.max_bytes)} a file` });
      }
    }
    if (Array.isArray(b.url_blocklist) && b.url_blocklist.length) {
      out.push({ text: 'URL filter', title: `Some sites are blocked (${b.url_blocklist.length} blocked, ${(b.url_allowlist || []).length} allowed patterns)` });
    }
  }
  if (ws.audio === 'off') out.push({ text: 'no sound', title: 'The session\'s sound does not reach you' });
  if (ws.locale) out.push({ text: ws.locale, title: 'The session\'s language, fixed by the workspace' });
  if (ws.timezone) out.push({ text: ws.timezone, title: 'The session\'s time zone, fixed by the workspace' });
  return out;
}
