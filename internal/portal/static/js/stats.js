// Connection statistics from RTCPeerConnection.getStats(), sampled once
// a second by the viewer. sample() returns a plain object (also exposed
// as window.airlockViewer.stats):
//
//   framesDecoded, framesDropped, fps, bitrateKbps, packetsLost,
//   packetsReceived, jitterMs, jitterBufferMs, rttMs, codec, width,
//   height, localCandidateType, remoteCandidateType (host, srflx, prflx,
//   relay), protocol, relayProtocol, timestamp.
//
// Rates are computed from the previous sample; values a browser does not
// report are null.

export async function sample(pc, prev) {
  const report = await pc.getStats();
  const byId = new Map();
  let inbound = null;
  let transport = null;
  report.forEach((r) => {
    byId.set(r.id, r);
    if (r.type === 'inbound-rtp' && (r.kind || r.mediaType) === 'video') inbound = r;
    if (r.type === 'transport' && !transport) transport = r;
  });
  let pair = transport && transport.selectedCandidatePairId ? byId.get(transport.selectedCandidatePairId) : null;
  if (!pair) {
    report.forEach((r) => {
      if (r.type === 'candidate-pair' && (r.selected || (r.nominated && r.state === 'succeeded'))) pair = r;
    });
  }
  const local = pair ? byId.get(pair.localCandidateId) : null;
  const remote = pair ? byId.get(pair.remoteCandidateId) : null;
  const codec = inbound && inbound.codecId ? byId.get(inbound.codecId) : null;

  const now = inbound ? inbound.timestamp : performance.now();
  const dt = prev && prev.timestamp && now > prev.timestamp ? (now - prev.timestamp) / 1000 : 0;
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const framesDecoded = num(inbound && inbound.framesDecoded) ?? 0;
  const bytesReceived = num(inbound && inbound.bytesReceived) ?? 0;

  let fps = num(inbound && inbound.framesPerSecond);
  if (fps == null && dt) fps = Math.max(0, (framesDecoded - prev.framesDecoded) / dt);
  let bitrateKbps = null;
  if (dt) bitrateKbps = Math.max(0, ((bytesReceived - prev.bytesReceived) * 8) / dt / 1000);

  // Average time a frame spent in the jitter buffer over the last second.
  let jitterBufferMs = null;
  const jbDelay = num(inbound && inbound.jitterBufferDelay);
  const jbCount = num(inbound && inbound.jitterBufferEmittedCount);
  if (jbDelay != null && jbCount) {
    const dd = jbDelay - (prev ? prev.jbDelay || 0 : 0);
    const dc = jbCount - (prev ? prev.jbCount || 0 : 0);
    jitterBufferMs = dc > 0 ? (dd / dc) * 1000 : (jbDelay / jbCount) * 1000;
  }

  const rtt = num(pair && pair.currentRoundTripTime);
  return {
    timestamp: now,
    framesDecoded,
    framesDropped: num(inbound && inbound.framesDropped),
    framesReceived: num(inbound && inbound.framesReceived),
    fps: fps == null ? null : round(fps, 1),
    bitrateKbps: bitrateKbps == null ? null : Math.round(bitrateKbps),
    bytesReceived,
    packetsReceived: num(inbound && inbound.packetsReceived),
    packetsLost: num(inbound && inbound.packetsLost),
    jitterMs: inbound && num(inbound.jitter) != null ? round(inbound.jitter * 1000, 1) : null,
    jitterBufferMs: jitterBufferMs == null ? null : round(jitterBufferMs, 1),
    jbDelay: jbDelay ?? 0,
    jbCount: jbCount ?? 0,
    rttMs: rtt == null ? null : round(rtt * 1000, 1),
    codec: codec && codec.mimeType ? codec.mimeType.replace(/^video\//i, '') : null,
    width: num(inbound && inbound.frameWidth),
    height: num(inbound && inbound.frameHeight),
    localCandidateType: local ? local.candidateType || null : null,
    remoteCandidateType: remote ? remote.candidateType || null : null,
    protocol: local ? local.protocol || null : null,
    relayProtocol: local ? local.relayProtocol || null : null,
  };
}

function round(v, digits) {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

// rows turns a sample into label/value pairs for the stats overlay.
export function rows(s, display) {
  const dash = '–';
  const v = (x, unit = '') => (x == null ? dash : `${x}${unit}`);
  const route = (type) => {
    if (!type) return dash;
    return type === 'relay' ? 'relay (TURN)' : type;
  };
  return [
    ['Frame rate', v(s.fps, ' fps')],
    ['Bitrate', s.bitrateKbps == null ? dash : s.bitrateKbps >= 1000 ? `${(s.bitrateKbps / 1000).toFixed(2)} Mbps` : `${s.bitrateKbps} kbps`],
    ['Round trip', v(s.rttMs, ' ms')],
    ['Jitter buffer', v(s.jitterBufferMs, ' ms')],
    ['Packets lost', v(s.packetsLost)],
    ['Frames decoded', v(s.framesDecoded)],
    ['Frames dropped', v(s.framesDropped)],
    ['Codec', v(s.codec)],
    ['Video', s.width && s.height ? `${s.width}×${s.height}` : dash],
    ['Display', display && display.w ? `${display.w}×${display.h}` : dash],
    ['Local candidate', route(s.localCandidateType)],
    ['Remote candidate', route(s.remoteCandidateType)],
    ['Transport', s.protocol ? s.protocol + (s.relayProtocol ? ` (relay over ${s.relayProtocol})` : '') : dash],
  ];
}

// render fills the overlay's <dl> with a sample (or says there is none).
export function render(list, s, display) {
  if (!s) {
    list.replaceChildren(document.createTextNode('No statistics yet.'));
    return;
  }
  const nodes = [];
  for (const [k, v] of rows(s, display)) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    nodes.push(dt, dd);
  }
  list.replaceChildren(...nodes);
}
