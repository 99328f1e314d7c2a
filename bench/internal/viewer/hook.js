// Installed by bench/internal/viewer in the viewer's page before any of the
// portal's scripts (CDP Page.addScriptToEvaluateOnNewDocument), so that it
// sees the viewer's first POST …/connect, its signal WebSocket and its
// RTCPeerConnection. Every time here is this page's performance.now(), in
// milliseconds; performance.timeOrigin turns one into epoch time.
(() => {
  const B = {
    origin: performance.timeOrigin,
    conn: null, // the page's first connect: {post, answered, wsMade, wsOpen, launchAnswered, authSent, agentReady, pcMade, answer, pcConnected, dcOpen, track}
    first: null, // the first frame presented: requestVideoFrameCallback's now and metadata
    lastFrame: null, // the last frame presented, and the one before it
    prevFrame: null,
    received: [], // receiveTime of the frames presented, the last few thousand
    firstPoll: null, // the first animation frame that saw totalVideoFrames > 0
    click: null, // the click being measured (armClick)
  };
  window.__bench = B;
  const now = () => performance.now();

  const origFetch = window.fetch;
  window.fetch = function (input, init) {
    let hit = false;
    let launch = false;
    try {
      const url = input instanceof Request ? input.url : String(input);
      const method = String((init && init.method) || (input instanceof Request ? input.method : 'GET')).toUpperCase();
      hit = method === 'POST' && /\/api\/v1\/sessions\/[^/?#]+\/connect$/.test(url);
      launch = method === 'POST' && /\/api\/v1\/sessions$/.test(url);
    } catch {
      /* not the connect call */
    }
    const t = now();
    const p = origFetch.apply(this, arguments);
    // The launch's answer, when the signal socket was opened ahead of it.
    if (launch && B.conn && B.conn.launchAnswered === undefined) {
      const c = B.conn;
      p.then(() => { c.launchAnswered ??= now(); }, () => {});
    }
    if (hit && !B.conn) {
      const c = (B.conn = { post: t });
      p.then(() => { c.answered = now(); }, () => {});
    }
    return p;
  };

  const OrigWS = window.WebSocket;
  window.WebSocket = class extends OrigWS {
    constructor(...args) {
      super(...args);
      // A warm launch's answer carries the relay's token: its first
      // connect starts here, with no POST …/connect.
      if (!B.conn && /\/api\/v1\/signal(\?|$)/.test(String(args[0]))) B.conn = {};
      const c = B.conn;
      if (!c) return;
      c.wsMade ??= now();
      this.addEventListener('open', () => { c.wsOpen ??= now(); });
      const send = this.send.bind(this);
      this.send = (d) => {
        c.authSent ??= now();
        return send(d);
      };
      this.addEventListener('message', (e) => {
        let m;
        try {
          m = JSON.parse(e.data);
        } catch {
          return;
        }
        if (m.type === 'agent-ready') c.agentReady ??= now();
        else if (m.type === 'answer') c.answer ??= now();
      });
    }
  };

  const OrigPC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends OrigPC {
    constructor(...args) {
      super(...args);
      const c = B.conn;
      if (!c) return;
      c.pcMade ??= now();
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected') c.pcConnected ??= now();
      });
      this.addEventListener('track', () => { c.track ??= now(); });
      const make = this.createDataChannel.bind(this);
      this.createDataChannel = (...a) => {
        const dc = make(...a);
        dc.addEventListener('open', () => { c.dcOpen ??= now(); });
        return dc;
      };
    }
  };

  const frameInfo = (t, md) => ({
    now: t, expected: md.expectedDisplayTime, presentation: md.presentationTime,
    receive: md.receiveTime ?? null, rtp: md.rtpTimestamp ?? null, width: md.width, height: md.height,
    presented: md.presentedFrames,
  });

  const watchFirst = () => {
    const v = document.getElementById('screen');
    if (!v) return;
    // Every frame presented: the first, the last two (by presentedFrames),
    // so that a click's frame can be compared with the one before it, and
    // when each was received.
    const track = (t, md) => {
      const f = frameInfo(t, md);
      if (!B.first) B.first = f;
      if (!B.lastFrame || B.lastFrame.presented !== f.presented) {
        B.prevFrame = B.lastFrame;
        B.lastFrame = f;
        if (f.receive !== null) {
          B.received.push(f.receive);
          if (B.received.length > 4096) B.received.splice(0, 1024);
        }
      }
      v.requestVideoFrameCallback(track);
    };
    v.requestVideoFrameCallback(track);
    const poll = () => {
      if (v.getVideoPlaybackQuality().totalVideoFrames > 0) {
        B.firstPoll = now();
        return;
      }
      requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', watchFirst);
  else watchFirst();

  // The colour of the frame shown now (or of the frame a video frame
  // callback was called for) around (x, y) in video pixels: the mean of
  // an 8×8 block, read back through a small canvas.
  let canvas = null;
  let g = null;
  const colourAt = (v, x, y) => {
    if (!canvas) {
      canvas = document.createElement('canvas');
      canvas.width = canvas.height = 8;
      g = canvas.getContext('2d', { willReadFrequently: true });
    }
    g.drawImage(v, x - 4, y - 4, 8, 8, 0, 0, 8, 8);
    const d = g.getImageData(0, 0, 8, 8).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < d.length; i += 4) {
      sum[0] += d[i];
      sum[1] += d[i + 1];
      sum[2] += d[i + 2];
    }
    return sum.map((s) => Math.round(s / 64));
  };
  const near = (a, b, tol) => a.every((x, i) => Math.abs(x - b[i]) <= tol);

  // armClick prepares one click-to-photon sample at (x, y), video pixels:
  // of the two colours, the target is the one the screen does not show
  // now. A capturing pointerdown listener on #screen stamps the click;
  // then every video frame callback reads the frame's colour until it is
  // the target's. prev is the frame presented before that one.
  B.armClick = (x, y, colours, tol) => {
    const v = document.getElementById('screen');
    const cur = colourAt(v, x, y);
    const from = colours.findIndex((c) => near(cur, c, tol));
    if (from < 0) return { error: 'the screen shows neither colour', rgb: cur };
    const r = { target: colours[1 - from], down: null, frames: 0, done: null, prev: null, last: null, seen: null };
    const before = (md) => (B.lastFrame && B.lastFrame.presented !== md.presentedFrames ? B.lastFrame : B.prevFrame);
    B.click = r;
    v.addEventListener('pointerdown', () => { r.down ??= now(); }, { capture: true, once: true });
    const loop = (t, md) => {
      if (B.click !== r) return;
      if (r.down !== null) {
        r.frames++;
        r.last = colourAt(v, x, y);
        if (near(r.last, r.target, tol)) {
          r.done = frameInfo(t, md);
          r.prev = before(md);
          return;
        }
      }
      v.requestVideoFrameCallback(loop);
    };
    v.requestVideoFrameCallback(loop);
    // The same check in every animation frame: seen is the time of the
    // first one whose rendering step finds the new colour as the video's
    // current frame. It is the same measure on both of Chromium's video
    // paths, where expectedDisplayTime is not (see clickSample.seen).
    const tick = (t) => {
      if (B.click !== r) return;
      if (r.down !== null && t >= r.down && near(colourAt(v, x, y), r.target, tol)) {
        r.seen = t;
        return;
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    return { from, rgb: cur };
  };

  // icePairs lists the viewer's ICE candidate pairs: state, checks sent
  // and answered, and both candidates' type, protocol and address.
  B.icePairs = async () => {
    const pc = window.airlockViewer && window.airlockViewer.pc;
    if (!pc) return [];
    const stats = await pc.getStats();
    const byID = new Map();
    stats.forEach((s) => byID.set(s.id, s));
    const cand = (id) => {
      const c = byID.get(id) || {};
      return `${c.candidateType || '?'}/${c.protocol || '?'} ${c.address || c.ip || '?'}:${c.port || '?'}`;
    };
    const out = [];
    stats.forEach((s) => {
      if (s.type !== 'candidate-pair') return;
      out.push({ state: s.state, nominated: !!s.nominated, sent: s.requestsSent || 0, answered: s.responsesReceived || 0,
        got: s.requestsReceived || 0, local: cand(s.localCandidateId), remote: cand(s.remoteCandidateId) });
    });
    return out;
  };

  // receivedBetween lists the receiveTimes of the frames presented that
  // were received between t0 and t1.
  B.receivedBetween = (t0, t1) => B.received.filter((t) => t >= t0 && t <= t1);

  // videoSample is what the video element and the peer connection's
  // inbound video statistics say now.
  B.videoSample = async () => {
    const v = document.getElementById('screen');
    const q = v.getVideoPlaybackQuality();
    const r = { t: now(), total: q.totalVideoFrames, dropped: q.droppedVideoFrames, w: v.videoWidth, h: v.videoHeight };
    const pc = window.airlockViewer && window.airlockViewer.pc;
    if (pc) {
      const stats = await pc.getStats();
      stats.forEach((s) => {
        if (s.type !== 'inbound-rtp' || s.kind !== 'video') return;
        Object.assign(r, {
          received: s.framesReceived ?? 0, decoded: s.framesDecoded ?? 0, rtcDropped: s.framesDropped ?? 0,
          bytes: s.bytesReceived ?? 0, keyframes: s.keyFramesDecoded ?? 0, decodeTime: s.totalDecodeTime ?? 0,
          lost: s.packetsLost ?? 0, freezes: s.freezeCount ?? 0,
        });
      });
    }
    return r;
  };
})();
