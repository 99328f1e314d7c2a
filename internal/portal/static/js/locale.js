// The viewer's browser settings a launch carries to the server: its
// language, time zone and device pixel ratio, so the remote browser
// speaks the user's language, shows their local time and renders sharp
// text on a HiDPI screen. A workspace may fix the language and time zone
// instead; the server caps the scale at the workspace's limit.

// The server's bounds of a scale; a zoomed-out page reports a ratio
// below 1, some phones one above 4.
const MIN_SCALE = 1;
const MAX_SCALE = 4;

// launchSettings returns {locale, timezone, scale} from what the browser
// reports, leaving out what it does not know. Arguments make it testable:
// in the page, call launchSettings(navigator, Intl, window.devicePixelRatio).
export function launchSettings(nav, intl, dpr) {
  const out = {};
  const locale = nav && typeof nav.language === 'string' ? nav.language : '';
  if (/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(locale) && locale.length <= 35) {
    out.locale = locale;
  }
  try {
    const tz = intl.DateTimeFormat().resolvedOptions().timeZone;
    if (typeof tz === 'string' && tz !== '' && tz.length <= 64) {
      out.timezone = tz;
    }
  } catch {
    // No Intl time zone support: the server's default (UTC) applies.
  }
  if (typeof dpr === 'number' && Number.isFinite(dpr) && dpr > 0) {
    out.scale = Math.round(Math.min(MAX_SCALE, Math.max(MIN_SCALE, dpr)) * 100) / 100;
  }
  return out;
}
