// One viewer connection to a session, per docs/viewer-protocol.md:
//
//  1. POST /api/v1/sessions/{id}/connect gives a short-lived token, the
//     signal relay's URL and the ICE servers (STUN/TURN).
//  2. A WebSocket to signal_url with subprotocol airlock.signal.v1, whose
//     first message is {"type":"auth","token":…}. A launch opens it while
//     it asks for the session (openAhead), so that the socket's TLS
//     handshake and upgrade are not on the way to the first frame.
//  3. On {"type":"agent-ready"} the viewer sends its offer (made while
//     the socket opened, or then): a new
//     RTCPeerConnection with one recvonly video transceiver, one recvonly
//     audio transceiver (the agent sends Opus when the workspace has
//     sound) and the data channel "airlock", then {"type":"offer","sdp"}; the agent answers
//     {"type":"answer","sdp"}. Candidates trickle both ways as
//     {"type":"candidate","candidate":{candidate,sdpMid,sdpMLineIndex}},
//     null ending them. ?relay=1 in the page URL sets iceTransportPolicy
//     "relay"; ?relay=udp or ?relay=tcp also keeps only the TURN URLs of
//     that transport.
//
// Recovery: a signal socket closed with 4401 (token expired) reopens at
// once with a fresh token; other losses reopen with backoff, taking a new
// token when the old one is about to expire. Media that is flowing is
// left alone while the signal socket comes back: an agent-ready then
// makes no new offer. A peer connection that fails after having worked,
// or a data channel that closes, is replaced by a new offer. 4409 means
// another tab took the session over, and is not retried on its own.

import { api, isFinal, isStarting } from './api.js';
import { sentence } from './dom.js';
import { hasTURN, relayServers } from './ice.js';

export const SUBPROTOCOL = 'airlock.signal.v1';

export const ICE_HINT =
  "Could not reach the session's media. If you are outside the server's network, " +
  'the server needs TURN: see the README (--turn-listen / --turn-public-ip)';

const noTURN = (mode) =>
  `?relay=${mode === 'any' ? '1' : mode} forces relayed media, but the server offers no TURN server` +
  `${mode === 'any' ? '' : ` over ${mode.toUpperCase()}`}. ` +
  'Start it with --turn-listen and --turn-public-ip (see the README).';

const TOKEN_MARGIN_MS = 30_000; // take a new token when less is left
// PREOPEN_MAX_MS is how old a socket openAhead opened may be to be
// used: the relay waits 10 s for its auth message.
const PREOPEN_MAX_MS = 5_000;
const ANSWER_TIMEOUT_MS = 20_000;
const ICE_TIMEOUT_MS = 30_000; // answer to connected
const DISCONNECTED_GRACE_MS = 5_000;
const SESSION_CHECK_MS = 15_000;
const MAX_OFFERS = 4; // offers without reaching "connected" before giving up
const MAX_SIGNAL_FAILURES = 8;

// signalURL is where this portal's relay listens, as the api's connect
// answers name it; a connection whose answer names another closes the
// socket opened here ahead and opens its own.
export function signalURL(loc = globalThis.location) {
  return 'wss://' + loc.host + '/api/v1/signal';
}

// openAhead opens, while a launch is asked for, what its first
// connection will need before it has a token: the signal socket (see
// step 2) and a bare peer connection (constructing one takes the page
// tens of milliseconds, which then overlap the launch; its ICE servers
// are set once known). It returns {url, ws, pc, at} for a Connection's
// ahead option, with ws or pc null where the page cannot make one.
export function openAhead(url = signalURL(), now = Date.now()) {
  const a = { url, ws: null, pc: null, at: now };
  try {
    a.ws = new WebSocket(url, SUBPROTOCOL);
  } catch {
    /* the connection opens its own */
  }
  try {
    a.pc = new RTCPeerConnection();
  } catch {
    /* the connection makes its own, and says why it cannot */
  }
  return a;
}

// dropAhead closes what openAhead made that no connection took.
export function dropAhead(a) {
  if (!a) return;
  if (a.ws) a.ws.close(1000, 'not used');
  if (a.pc) a.pc.close();
  a.ws = a.pc = null;
}

// usablePreopened reports whether a socket openAhead opened can carry
// a connection to url: the same relay, still opening or open, and young
// enough that its auth message will be in time.
export function usablePreopened(pre, url, now = Date.now()) {
  return !!(pre && pre.ws && pre.url === url && now - pre.at <= PREOPEN_MAX_MS &&
    (pre.ws.readyState === 0 || pre.ws.readyState === 1));
}

export class Connection {
  // hook is window.airlockViewer: state, error, pc and channel are kept
  // current on it. on: {state({state, title, detail, error, retry, over}),
  // track(stream), audio(stream), channel(dc), message(msg), notice(text)};
  // retry labels
  // the button that calls start again, over means the session is gone.
  // relay is '' (any path), or a relay-only mode of ice.js: 'any', 'udp'
  // or 'tcp'.
  // tok: a connect answer already in hand (a warm launch's), used
  // while it is good. ahead: what openAhead returned, whose socket and
  // peer connection the first connection uses when they still can be.
  constructor(sessionId, { relay = '', hook, on, tok = null, ahead = null }) {
    this.id = sessionId;
    this.relay = relay;
    this.hook = hook;
    this.on = on;
    this.tok = tok;
    this.ahead = ahead;
    this.prepared = null; // a promise of the peer connection made ahead (see openSignal)
    this.ws = null;
    this.pc = null;
    this.channel = null;
    this.gen = 0;
    this.agentPresent = false;
    this.closed = true;
    this.state = '';
    this.offers = 0;
    this.signalFailures = 0;
    this.signalErrors = 0;
    this.everConnected = false;
    this.lastWhy = '';
    this.timers = {};
    this.remoteQueue = [];
    this.localQueue = null;
    // epoch changes on start and stop, so that work begun before is dropped.
    this.epoch = 0;
  }

  start() {
    this.epoch++;
    this.closed = false;
    this.lastWhy = '';
    this.offers = 0;
    this.signalFailures = 0;
    this.signalErrors = 0;
    this.setState('connecting', 'Connecting…', 'Asking the server for access to the session.');
    this.timers.watch = setInterval(() => {
      if (this.state !== 'connected') this.checkSession();
    }, SESSION_CHECK_MS);
    this.openSignal(false);
  }

  // stop ends the connection for good (until start) in state, saying why.
  stop(state, title, detail = '', opts = {}) {
    this.epoch++;
    this.closed = true;
    for (const k of Object.keys(this.timers)) {
      clearTimeout(this.timers[k]);
      clearInterval(this.timers[k]);
    }
    this.timers = {};
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'viewer closed');
    dropAhead(this.ahead);
    this.ahead = null;
    this.teardownPeer();
    this.setState(state, title, detail, opts);
  }

  // send writes a message on the data channel; false when it is not open.
  // send returns whether msg went out. Input that finds no open channel
  // (a peer being replaced) is lost; hook.unsent counts it, by type, so
  // that lost input can be told from input the agent dropped.
  send(msg) {
    const ch = this.channel;
    let sent = false;
    if (ch && ch.readyState === 'open') {
      try {
        ch.send(JSON.stringify(msg));
        sent = true;
      } catch {
        /* closing under us */
      }
    }
    if (!sent) {
      const u = (this.hook.unsent = this.hook.unsent || {});
      u[msg.t] = (u[msg.t] || 0) + 1;
    }
    return sent;
  }

  healthy() {
    return !!(this.pc && this.pc.connectionState === 'connected' && this.channel && this.channel.readyState === 'open');
  }

  setState(state, title, detail = '', opts = {}) {
    this.state = state;
    this.hook.state = state;
    if (state === 'connected') this.hook.error = '';
    else if (opts.error) this.hook.error = [title, detail].filter(Boolean).join(' ');
    this.on.state({ state, title, detail, error: !!opts.error, retry: opts.retry || '', over: !!opts.over });
  }

  fail(title, detail = '') {
    this.stop('failed', title, detail, { error: true, retry: 'Retry' });
  }

  notice(text) {
    this.hook.error = text;
    this.on.notice(text);
  }

  timer(name, fn, ms) {
    clearTimeout(this.timers[name]);
    this.timers[name] = setTimeout(() => {
      delete this.timers[name];
      if (!this.closed) fn();
    }, ms);
  }

  // Tokens.

  async token(force) {
    const t = this.tok;
    if (!force && t && t.expires_at * 1000 - Date.now() > TOKEN_MARGIN_MS) return t;
    this.tok = await api.connect(this.id);
    return this.tok;
  }

  // Signal socket.

  async openSignal(forceToken) {
    if (this.closed) return;
    const epoch = this.epoch;
    let tok;
    try {
      tok = await this.token(forceToken);
    } catch (err) {
      if (epoch === this.epoch) this.connectRefused(err);
      return;
    }
    if (epoch !== this.epoch) return;
    const pre = this.ahead;
    let ws;
    if (usablePreopened(pre, tok.signal_url)) {
      ws = pre.ws;
      pre.ws = null;
    } else {
      if (pre && pre.ws) pre.ws.close(1000, 'not used');
      if (pre) pre.ws = null;
      try {
        ws = new WebSocket(tok.signal_url, SUBPROTOCOL);
      } catch (err) {
        this.fail('Could not open the signal connection.', err.message);
        return;
      }
    }
    this.ws = ws;
    // The offer is made while the socket opens, and sent once the agent
    // is there: the browser's offer and its first candidates are no
    // longer on the way from the agent's arrival to the first frame.
    if (!this.pc && !this.healthy()) this.prepared = this.makeOffer();
    let opened = false;
    let heard = false;
    const onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      // The token goes as the first message, never in the URL (which
      // logs keep); a refusal then comes back as a close code with a
      // reason, which a refused handshake would hide from the page.
      ws.send(JSON.stringify({ type: 'auth', token: tok.token }));
      if (!this.healthy()) {
        this.setState('waiting', "Waiting for the session's agent…",
          "The session's agent has not connected yet; this usually takes a few seconds after the session starts.");
      }
    };
    ws.onopen = onopen;
    if (ws.readyState === 1) onopen();
    ws.onmessage = (e) => {
      if (this.ws !== ws || this.closed) return;
      if (!heard) this.signalFailures = 0; // the relay let this socket in
      heard = true;
      this.onSignal(e.data);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.closed) this.onSignalClose(e.code, e.reason, opened, heard);
    };
  }

  reopenSignal(delay, forceToken) {
    this.timer('signal', () => this.openSignal(forceToken), delay);
  }

  // onSignalClose: opened is whether the socket opened, heard whether
  // the relay sent anything on it (it let the socket in).
  onSignalClose(code, reason, opened, heard = opened) {
    const what = `The signal connection closed (${code}${reason ? ': ' + reason : ''}).`;
    if (code === 4401) {
      // The token expired, or was refused: take a fresh one, at once the
      // first time; a relay that keeps refusing fresh ones is given up on.
      if (!heard && ++this.signalFailures >= MAX_SIGNAL_FAILURES) {
        this.fail('Could not open the signal connection.', `The relay refused the connection token several times${reason ? ': ' + reason : ''}.`);
        return;
      }
      if (!this.healthy()) this.setState('reconnecting', 'Reconnecting…', 'The connection token expired; getting a new one.');
      this.reopenSignal(heard || this.signalFailures <= 1 ? 0 : Math.min(1000 * 2 ** this.signalFailures, 15000), true);
      return;
    }
    if (code === 4403) {
      // Revoked: the session ended, or this sign-in is over. The media
      // goes too, at once; reconnecting would be refused.
      this.stop('ended', 'Access to this session was revoked.',
        (reason ? sentence(reason) + ' ' : '') + 'The session ended, or you were signed out.', { error: true });
      this.explainEnd();
      return;
    }
    if (code === 4409) {
      this.stop('replaced', 'This session was opened elsewhere.',
        'Another tab or window is now showing this session. Use it here to take it back.', { error: true, retry: 'Use here' });
      return;
    }
    if (code === 4400 || code === 1009) {
      // The relay refused a message of ours; retrying is unlikely to help
      // more than a few times.
      if (++this.signalErrors > 2) {
        this.fail(what, 'The relay refused a message from this page.');
        return;
      }
    }
    if (!opened) {
      // A refused handshake hides its HTTP status from the page: the token
      // may have expired or the session ended. Check before trying again.
      this.signalFailures++;
      if (this.signalFailures >= MAX_SIGNAL_FAILURES) {
        this.fail('Could not open the signal connection.', 'The server refused the WebSocket connection several times.');
        return;
      }
      this.checkSession();
    }
    const delay = code === 4429 ? 5000 : Math.min(1000 * 2 ** this.signalFailures, 15000);
    if (!this.healthy()) this.setState('reconnecting', 'Reconnecting…', what + ' Trying again…', { error: true });
    this.reopenSignal(delay, !opened);
  }

  onSignal(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    switch (m.type) {
      case 'agent-ready':
        this.agentPresent = true;
        if (!this.healthy()) this.offer();
        break;
      case 'peer-left':
        if (m.role === 'agent') this.agentLeft();
        break;
      case 'answer':
        this.onAnswer(m.sdp);
        break;
      case 'candidate':
        this.onRemoteCandidate(m.candidate);
        break;
      case 'error':
        this.notice(`Signal relay: ${sentence(m.message || 'error')}`);
        break;
      default:
        // viewer-joined is for agents; pong and control need nothing.
        break;
    }
  }

  agentLeft() {
    this.agentPresent = false;
    // Media may outlive the agent's signal socket (it reconnects too).
    if (this.healthy()) return;
    this.teardownPeer();
    this.setState('waiting', "Waiting for the session's agent…", "The session's agent disconnected; waiting for it to come back.");
    this.timer('check', () => this.checkSession(), 1500);
  }

  // connectRefused handles an error from POST …/connect.
  async connectRefused(err) {
    if (err.status === 401) {
      this.stop('failed', 'You are signed out.', 'Sign in again to view this session.', { error: true });
      return;
    }
    if (err.status === 404) {
      this.fail('Session not found.', sentence(err.message));
      return;
    }
    if (err.status === 409) {
      const s = await this.checkSession();
      if (this.closed) return;
      if (s && isStarting(s.state)) {
        this.setState('connecting', 'The session is starting…', 'Waiting for it to be ready.');
        this.reopenSignal(2000, true);
        return;
      }
      this.fail('The session cannot be viewed.', sentence(err.message));
      return;
    }
    // The server is unreachable or failing: try again with backoff.
    this.signalFailures++;
    if (this.signalFailures >= MAX_SIGNAL_FAILURES) {
      this.fail('Could not get access to the session.', sentence(err.message));
      return;
    }
    if (!this.healthy()) this.setState('reconnecting', 'Reconnecting…', sentence(err.message), { error: true });
    this.reopenSignal(Math.min(1000 * 2 ** this.signalFailures, 15000), true);
  }

  // checkSession stops with the reason when the session has ended.
  async checkSession() {
    const epoch = this.epoch;
    let s;
    try {
      s = await api.session(this.id);
    } catch (err) {
      if (err.status === 404 && epoch === this.epoch) this.fail('Session not found.', sentence(err.message));
      return null;
    }
    if (epoch !== this.epoch || (!isFinal(s.state) && s.state !== 'stopping')) return s;
    const [state, title, detail] = endedState(s);
    this.stop(state, title, detail, { error: true, over: true });
    return s;
  }

  // explainEnd, after access was revoked, says why when the session is
  // over (an idle timeout, its lifetime, an administrator).
  async explainEnd() {
    const epoch = this.epoch;
    let s;
    try {
      s = await api.session(this.id);
    } catch {
      return;
    }
    if (epoch !== this.epoch || (!isFinal(s.state) && s.state !== 'stopping')) return;
    const [state, title, detail] = endedState(s);
    this.setState(state, title, detail, { error: true, over: true });
  }

  // Peer connection.

  teardownPeer() {
    this.gen++;
    for (const k of ['answer', 'ice', 'disconnected']) clearTimeout(this.timers[k]);
    const { pc, channel } = this;
    this.pc = null;
    this.channel = null;
    this.hook.pc = null;
    this.hook.channel = null;
    this.remoteQueue = [];
    this.localQueue = null;
    if (channel) channel.close();
    if (pc) pc.close();
  }

  // offer sends the viewer's offer: the one made while the signal socket
  // opened when it is still this connection's, else a new one.
  async offer() {
    const prepared = this.prepared;
    this.prepared = null;
    let pc = prepared ? await prepared : null;
    if (pc && (pc !== this.pc || pc.signalingState !== 'have-local-offer' || this.localQueue === null)) pc = null;
    if (pc) this.setState('connecting', 'Connecting…', 'Setting up the media connection with the session.');
    else pc = await this.makeOffer();
    if (!pc || pc !== this.pc || this.closed) return;
    this.sendSignal({ type: 'offer', sdp: pc.localDescription.sdp });
    // Candidates found while the offer was made follow it, in order.
    const queued = this.localQueue || [];
    this.localQueue = null;
    for (const m of queued) this.sendSignal(m);
    this.timer('answer', () => {
      if (this.pc === pc && !pc.remoteDescription) this.renegotiate("The session's agent did not answer.");
    }, ANSWER_TIMEOUT_MS);
  }

  // aheadPeer is the peer connection openAhead made, given config, if it
  // is still untouched; else null (and it is closed).
  aheadPeer(config) {
    const pre = this.ahead;
    const pc = pre && pre.pc;
    this.ahead = null;
    if (pre) dropAhead(pre);
    if (!pc) return null;
    if (pc.signalingState === 'stable' && !pc.localDescription && pc.connectionState === 'new') {
      try {
        pc.setConfiguration(config);
        return pc;
      } catch {
        /* a configuration it cannot take: a new one gets it */
      }
    }
    pc.close();
    return null;
  }

  // makeOffer replaces the peer connection with a new one that holds its
  // offer as local description, its candidates queued in localQueue; it
  // returns it, or null when it failed or was replaced meanwhile.
  async makeOffer() {
    if (this.closed) return null;
    if (++this.offers > MAX_OFFERS) {
      this.fail('Could not connect to the session.', this.lastWhy || ICE_HINT);
      return null;
    }
    this.teardownPeer();
    const gen = this.gen;
    const config = { iceServers: (this.tok && this.tok.ice_servers) || [] };
    if (this.relay) {
      config.iceServers = relayServers(config.iceServers, this.relay);
      // Without a TURN server a relay-only browser has no candidate at all
      // and would wait forever rather than fail.
      if (!hasTURN(config.iceServers)) {
        this.fail('Could not reach the session through a relay.', noTURN(this.relay));
        return null;
      }
      config.iceTransportPolicy = 'relay';
    }
    let pc = this.aheadPeer(config);
    try {
      pc ||= new RTCPeerConnection(config);
    } catch (err) {
      this.fail('This browser could not start WebRTC.', err.message);
      return null;
    }
    this.pc = pc;
    this.hook.pc = pc;
    this.setState('connecting', 'Connecting…', 'Setting up the media connection with the session.');
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const ch = pc.createDataChannel('airlock', { ordered: true });
    this.channel = ch;
    this.hook.channel = ch;
    // Files have their own channel (files.js), so a large transfer never
    // queues input behind it.
    const files = pc.createDataChannel('files', { ordered: true });
    files.onopen = () => {
      if (gen === this.gen && !this.closed && this.on.files) this.on.files(files);
    };
    this.localQueue = [];

    pc.ontrack = (e) => {
      if (gen !== this.gen) return;
      lowLatency(e.receiver);
      const stream = e.streams[0] || new MediaStream([e.track]);
      if (e.track.kind === 'audio') this.on.audio(stream);
      else this.on.track(stream);
    };
    pc.onicecandidate = (e) => {
      if (gen !== this.gen) return;
      const c = e.candidate;
      if (c && !c.candidate) return; // a per-section end marker; null ends all
      const msg = { type: 'candidate', candidate: c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null };
      if (this.localQueue) this.localQueue.push(msg);
      else this.sendSignal(msg);
    };
    pc.onconnectionstatechange = () => {
      if (gen === this.gen && !this.closed) this.onPeerState(pc);
    };
    ch.onopen = () => {
      if (gen !== this.gen || this.closed) return;
      this.on.channel(ch);
      this.maybeConnected();
    };
    ch.onclose = () => {
      if (gen !== this.gen || this.closed) return;
      this.renegotiate('The data channel to the session closed.');
    };
    ch.onmessage = (e) => {
      if (gen !== this.gen || typeof e.data !== 'string') return;
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      if (m && typeof m.t === 'string') this.on.message(m);
    };

    try {
      await pc.setLocalDescription(await pc.createOffer());
    } catch (err) {
      if (gen === this.gen) this.fail('Could not create the WebRTC offer.', err.message);
      return null;
    }
    if (gen !== this.gen || this.closed) return null;
    return pc;
  }

  sendSignal(msg) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  async onAnswer(sdp) {
    const pc = this.pc;
    // An answer to an offer this page has since replaced is dropped.
    if (!pc || pc.signalingState !== 'have-local-offer' || typeof sdp !== 'string') return;
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp });
    } catch (err) {
      if (pc === this.pc) this.fail("The session's answer was refused by this browser.", err.message);
      return;
    }
    clearTimeout(this.timers.answer);
    for (const c of this.remoteQueue.splice(0)) addCandidate(pc, c);
    // Browsers take long to call ICE failed, and may never when no
    // candidate pair can even be formed.
    this.timer('ice', () => {
      if (this.pc === pc && pc.connectionState !== 'connected') this.iceFailed();
    }, ICE_TIMEOUT_MS);
  }

  onRemoteCandidate(c) {
    const pc = this.pc;
    if (!pc) return;
    if (!pc.remoteDescription) this.remoteQueue.push(c);
    else addCandidate(pc, c);
  }

  onPeerState(pc) {
    switch (pc.connectionState) {
      case 'connected':
        clearTimeout(this.timers.disconnected);
        this.maybeConnected();
        break;
      case 'disconnected':
        this.setState('reconnecting', 'Reconnecting…', 'The connection to the session was interrupted; trying to recover.');
        this.timer('disconnected', () => {
          if (this.pc === pc && pc.connectionState === 'disconnected') this.renegotiate('The connection to the session was lost.');
        }, DISCONNECTED_GRACE_MS);
        break;
      case 'failed':
        this.iceFailed();
        break;
      default:
        break;
    }
  }

  // iceFailed: no media path. After a working connection it is likely a
  // network change, worth a new offer; before, the path is blocked.
  iceFailed() {
    if (this.everConnected) this.renegotiate('The media connection failed.');
    else this.fail('Could not connect to the session.', ICE_HINT);
  }

  maybeConnected() {
    if (!this.healthy()) return;
    this.everConnected = true;
    this.offers = 0;
    this.signalFailures = 0;
    this.signalErrors = 0;
    this.setState('connected', 'Connected');
  }

  // renegotiate replaces the peer connection with a new offer when the
  // agent is there, or waits for it.
  renegotiate(why) {
    if (this.closed) return;
    this.lastWhy = why;
    if (this.agentPresent && this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.setState('reconnecting', 'Reconnecting…', why, { error: true });
      this.offer();
      return;
    }
    this.teardownPeer();
    this.setState('waiting', "Waiting for the session's agent…", why, { error: true });
    this.timer('check', () => this.checkSession(), 1500);
  }
}

// lowLatency asks the receiver to play frames as soon as they decode.
function lowLatency(receiver) {
  try {
    if ('playoutDelayHint' in receiver) receiver.playoutDelayHint = 0;
  } catch {
    /* not supported */
  }
  try {
    if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
  } catch {
    /* not supported */
  }
}

// addCandidate adds a trickled candidate: an object, a bare candidate
// line, or null for the end of candidates. A bad one is logged, not fatal.
function addCandidate(pc, c) {
  let p;
  if (c == null) p = pc.addIceCandidate();
  else if (typeof c === 'string') p = pc.addIceCandidate({ candidate: c, sdpMLineIndex: 0 });
  else p = pc.addIceCandidate(c);
  p.catch((err) => console.warn('airlock: remote ICE candidate refused:', err.message));
}

// endedState is what the viewer shows of a session that is over:
// [state, title, detail], with the server's reason when it gave one.
export function endedState(s) {
  if (s.state === 'failed') return ['failed', 'The session failed.', sentence(s.reason || 'No reason was given.')];
  const why = s.reason ? sentence(s.reason) + ' ' : '';
  return ['ended', 'This session has ended.', `${why}Its browser was removed. Launch the workspace again for a new one.`];
}
