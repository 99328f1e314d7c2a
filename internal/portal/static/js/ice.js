// ICE servers for a relay-only viewer: ?relay=1 keeps every TURN server,
// ?relay=udp or ?relay=tcp only the TURN URLs of that transport, so that
// TURN over TCP (for networks that block UDP) can be checked on its own.

// relayMode reads the page's ?relay= value: '' (ICE picks any path), 'any',
// 'udp' or 'tcp'.
export function relayMode(search) {
  const v = new URLSearchParams(search).get('relay');
  if (v === '1') return 'any';
  if (v === 'udp' || v === 'tcp') return v;
  return '';
}

// turnTransport is the transport of a TURN URL (RFC 7065): its
// ?transport= parameter, else UDP for turn: and TCP (TLS) for turns:.
function turnTransport(url) {
  const m = /[?&]transport=(udp|tcp)\b/i.exec(url);
  if (m) return m[1].toLowerCase();
  return /^turns:/i.test(url) ? 'tcp' : 'udp';
}

// relayServers keeps, of servers (RTCIceServer[]), the TURN URLs a
// relay-only connection in mode may use; servers left without a URL go.
export function relayServers(servers, mode) {
  const out = [];
  for (const s of servers || []) {
    const urls = [].concat(s.urls || []).filter(
      (u) => /^turns?:/i.test(u) && (mode === 'any' || turnTransport(u) === mode),
    );
    if (urls.length) out.push({ ...s, urls });
  }
  return out;
}

// hasTURN says whether servers name any TURN server.
export function hasTURN(servers) {
  return (servers || []).some((s) => [].concat(s.urls || []).some((u) => /^turns?:/i.test(u)));
}
