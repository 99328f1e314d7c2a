// Unit tests of the viewer's pure functions, run by js_test.go with the
// portal's modules copied beside this file.
import assert from 'node:assert/strict';
import { toRemote, wheelPixels, BUTTONS, isCompositionKey, inputMessages } from './input.js';
import { Gestures, SLOP, ZOOM_STEP } from './touch.js';
import { sample, rows } from './stats.js';
import { relayMode, relayServers, hasTURN } from './ice.js';
import { ruleText, egressSummary } from './egress.js';
import { pixelRatio, displaySize, helloScale, cursorStyle } from './hidpi.js';
import { launchSettings } from './locale.js';
import { browserBadges } from './options.js';
import { frame, unframe, hex, sizeText, CHUNK } from './files.js';
import { state as soundState, toggle as soundToggle } from './audio.js';
import { newLaunchKey, sendAgain } from './launch.js';
import { signalURL, usablePreopened } from './connection.js';
import { request } from './api.js';
import { auditQuery, localTimeToRFC3339, formatDuration, ranFor, dateTime, labelsText, fieldValue, workspaceBody, WORKSPACE_FIELDS } from './admin/format.js';
import { pageOf, PAGES } from './admin/index.js';
import { policyText, grantsText, groupBody } from './admin/groups.js';

let failed = 0;
async function test(name, fn) {
  try {
    await fn();
    console.log('ok  ', name);
  } catch (err) {
    failed++;
    console.log('FAIL', name, '\n', err.message);
  }
}

const box = (left, top, width, height) => ({ left, top, width, height });

await test('toRemote: exact fit', () => {
  const r = box(0, 0, 1280, 720);
  assert.deepEqual(toRemote(0, 0, r, 1280, 720), { x: 0, y: 0 });
  assert.deepEqual(toRemote(640, 360, r, 1280, 720), { x: 640, y: 360 });
  assert.deepEqual(toRemote(1279.9, 719.9, r, 1280, 720), { x: 1279, y: 719 });
});

await test('toRemote: pillarbox (box wider than the picture)', () => {
  // 1000x500 box, 4:3 video 800x600 -> scale 5/6, picture 666.67 wide, bars 166.67
  const r = box(10, 20, 1000, 500);
  const bar = (1000 - 800 * (500 / 600)) / 2;
  assert.equal(toRemote(10 + bar - 1, 200, r, 800, 600), null, 'left bar is outside');
  assert.deepEqual(toRemote(10 + bar, 20, r, 800, 600), { x: 0, y: 0 });
  assert.deepEqual(toRemote(10 + 500, 20 + 250, r, 800, 600), { x: 400, y: 300 });
  assert.deepEqual(toRemote(10 + bar - 50, 20 + 250, r, 800, 600, 800, 600, true), { x: 0, y: 300 }, 'clamped');
});

await test('toRemote: letterbox (box taller than the picture)', () => {
  const r = box(0, 0, 640, 640);
  // 16:9 video 1280x720 -> scale .5, picture 640x360, bars 140 tall
  assert.equal(toRemote(320, 139, r, 1280, 720), null);
  assert.deepEqual(toRemote(320, 140, r, 1280, 720), { x: 640, y: 0 });
  assert.deepEqual(toRemote(320, 320, r, 1280, 720), { x: 640, y: 360 });
  assert.deepEqual(toRemote(700, 700, r, 1280, 720, 1280, 720, true), { x: 1279, y: 719 });
});

await test('toRemote: display larger than the decoded video', () => {
  // The encoder sent 960x540 of a 1920x1080 display.
  const r = box(0, 0, 960, 540);
  assert.deepEqual(toRemote(480, 270, r, 960, 540, 1920, 1080), { x: 960, y: 540 });
});

await test('toRemote: no video yet', () => {
  assert.equal(toRemote(1, 1, box(0, 0, 100, 100), 0, 0), null);
  assert.equal(toRemote(1, 1, box(0, 0, 0, 0), 640, 480), null);
});

await test('wheelPixels and buttons', () => {
  assert.equal(wheelPixels(120, 0, 800), 120);
  assert.equal(wheelPixels(3, 1, 800), 120);
  assert.equal(wheelPixels(1, 2, 800), 800);
  assert.deepEqual(BUTTONS, { 0: 1, 1: 2, 2: 3 });
});

function fakePC(reports) {
  return { getStats: async () => new Map(reports.map((r) => [r.id, r])) };
}

await test('stats: rates, candidate types and codec', async () => {
  const base = (ts, frames, bytes) => [
    { id: 'T', type: 'transport', selectedCandidatePairId: 'CP' },
    { id: 'CP', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R', currentRoundTripTime: 0.0234 },
    { id: 'L', type: 'local-candidate', candidateType: 'relay', protocol: 'udp', relayProtocol: 'tcp' },
    { id: 'R', type: 'remote-candidate', candidateType: 'host' },
    { id: 'C', type: 'codec', mimeType: 'video/H264' },
    { id: 'I', type: 'inbound-rtp', kind: 'video', codecId: 'C', timestamp: ts, framesDecoded: frames,
      bytesReceived: bytes, packetsLost: 3, packetsReceived: 1000, frameWidth: 1280, frameHeight: 720,
      jitterBufferDelay: frames * 0.02, jitterBufferEmittedCount: frames },
  ];
  const a = await sample(fakePC(base(1000, 10, 0)), null);
  assert.equal(a.fps, null, 'no rate without a previous sample');
  const b = await sample(fakePC(base(2000, 40, 250000)), a);
  assert.equal(b.fps, 30);
  assert.equal(b.bitrateKbps, 2000);
  assert.equal(b.rttMs, 23.4);
  assert.equal(b.localCandidateType, 'relay');
  assert.equal(b.remoteCandidateType, 'host');
  assert.equal(b.relayProtocol, 'tcp');
  assert.equal(b.codec, 'H264');
  assert.equal(b.framesDecoded, 40);
  assert.equal(b.packetsLost, 3);
  assert.equal(b.jitterBufferMs, 20);
  const table = Object.fromEntries(rows(b, { w: 1280, h: 720 }));
  assert.equal(table['Bitrate'], '2.00 Mbps');
  assert.equal(table['Local candidate'], 'relay (TURN)');
  assert.equal(table['Display'], '1280×720');
});

await test('stats: selected pair without a transport report', async () => {
  const s = await sample(fakePC([
    { id: 'CP', type: 'candidate-pair', nominated: true, state: 'succeeded', localCandidateId: 'L', remoteCandidateId: 'R' },
    { id: 'L', type: 'local-candidate', candidateType: 'srflx' },
    { id: 'R', type: 'remote-candidate', candidateType: 'prflx' },
  ]), null);
  assert.equal(s.localCandidateType, 'srflx');
  assert.equal(s.remoteCandidateType, 'prflx');
  assert.equal(s.framesDecoded, 0);
  assert.equal(s.rttMs, null);
});

await test('relayMode: the page URL\'s ?relay=', () => {
  const cases = [['', ''], ['?relay=1', 'any'], ['?relay=tcp', 'tcp'], ['?relay=udp', 'udp'],
    ['?relay=0', ''], ['?relay=TCP', ''], ['?x=1&relay=tcp', 'tcp']];
  for (const [search, want] of cases) assert.equal(relayMode(search), want, search);
});

await test('relayServers: TURN URLs of the chosen transport only', () => {
  const servers = [
    { urls: ['stun:h:3478'] },
    { urls: ['turn:h:3478?transport=udp', 'turn:h:3478?transport=tcp'], username: 'u', credential: 'c' },
    { urls: 'turn:other:3478', username: 'v', credential: 'd' },
    { urls: ['turns:tls:5349'], username: 'w', credential: 'e' },
  ];
  assert.deepEqual(relayServers(servers, 'tcp'), [
    { urls: ['turn:h:3478?transport=tcp'], username: 'u', credential: 'c' },
    { urls: ['turns:tls:5349'], username: 'w', credential: 'e' },
  ]);
  assert.deepEqual(relayServers(servers, 'udp'), [
    { urls: ['turn:h:3478?transport=udp'], username: 'u', credential: 'c' },
    { urls: ['turn:other:3478'], username: 'v', credential: 'd' },
  ]);
  assert.equal(relayServers(servers, 'any').length, 3);
  assert.equal(hasTURN(relayServers([{ urls: ['stun:h:3478'] }], 'any')), false);
  assert.equal(hasTURN(relayServers([{ urls: ['turn:h:3478?transport=udp'] }], 'tcp')), false);
  assert.equal(hasTURN(servers), true);
});

await test('ruleText: the short form of the CLI, in order', () => {
  assert.equal(ruleText({ action: 'allow', domain: '*.example.com', ports: [443, 8443] }), 'allow *.example.com:443,8443');
  assert.equal(ruleText({ action: 'deny', cidr: '10.0.0.0/8' }), 'deny 10.0.0.0/8');
  assert.equal(ruleText({ action: 'allow', cidr: '10.1.0.0/16', ports: [22] }), 'allow 10.1.0.0/16:22');
  assert.equal(ruleText({ action: 'allow', cidr: '2001:db8::/32', ports: [443] }), 'allow [2001:db8::/32]:443');
  assert.equal(ruleText({ action: 'deny', cidr: '2001:db8::/32' }), 'deny 2001:db8::/32');
  assert.equal(ruleText({ action: 'deny', domain: '*' }), 'deny *');
});

await test('egressSummary: admins see a count, others nothing', () => {
  assert.equal(egressSummary(undefined), null);
  assert.equal(egressSummary(null), null);
  assert.equal(egressSummary({ rules: [] }), 'Egress: defaults (public internet only)');
  assert.equal(egressSummary({ rules: [{ action: 'deny', domain: '*' }] }), 'Egress: 1 rule');
  assert.equal(egressSummary({ rules: [{}, {}] }), 'Egress: 2 rules');
});

await test('pixelRatio: the smaller of the screen and the session, at least 1', () => {
  assert.equal(pixelRatio(2, 2), 2);
  assert.equal(pixelRatio(2, 1), 1, 'a session at scale 1 stays in CSS pixels');
  assert.equal(pixelRatio(1, 2), 1, 'a 1x screen asks for no more than it shows');
  assert.equal(pixelRatio(3, 2), 2, 'the session limits');
  assert.equal(pixelRatio(1.5, 4), 1.5);
  assert.equal(pixelRatio(0.8, 2), 1, 'zoomed out: never below CSS pixels');
  assert.equal(pixelRatio(undefined, 2), 1);
  assert.equal(pixelRatio(NaN, NaN), 1);
  assert.equal(pixelRatio(2, undefined), 1, 'an agent that says no scale draws at 1');
});

await test('displaySize: CSS size times the ratio, even, within the agent\'s limits', () => {
  assert.deepEqual(displaySize(1280, 800, 1, 1), { w: 1280, h: 800 });
  assert.deepEqual(displaySize(1280, 800, 2, 2), { w: 2560, h: 1600 });
  assert.deepEqual(displaySize(1280, 800, 2, 1), { w: 1280, h: 800 });
  assert.deepEqual(displaySize(1001, 677, 1.5, 2), { w: 1502, h: 1016 }, '1501.5 and 1015.5 round up, and are even');
});

await test('displaySize: odd products, tiny and huge tabs', () => {
  assert.deepEqual(displaySize(1001, 677, 1, 1), { w: 1000, h: 676 });
  assert.deepEqual(displaySize(100, 100, 2, 2), { w: 320, h: 240 });
  assert.deepEqual(displaySize(2560, 1440, 2, 2), { w: 3840, h: 2160 });
  assert.deepEqual(displaySize(2000, 1000, 2, 2), { w: 3840, h: 1920 }, 'a smaller ratio keeps the shape');
  assert.deepEqual(displaySize(5000, 3000, 1, 1), { w: 3840, h: 2160 }, 'at 1, clamped');
  assert.deepEqual(displaySize(1366.4, 768.6, 1.25, 2), { w: 1708, h: 960 });
});

await test('toRemote: a HiDPI video shown at CSS size maps to device pixels', () => {
  const r = box(0, 0, 1280, 800);
  assert.deepEqual(toRemote(640, 400, r, 2560, 1600), { x: 1280, y: 800 });
  assert.deepEqual(toRemote(0.4, 0.4, r, 2560, 1600), { x: 0, y: 0 });
  assert.deepEqual(toRemote(1279.9, 799.9, r, 2560, 1600), { x: 2559, y: 1599 });
});

await test('cursorStyle: a remote cursor at the picture\'s scale', () => {
  assert.equal(cursorStyle('AAAA', 4, 1, 1), 'url("data:image/png;base64,AAAA") 4 1, default', 'at 1, the plain image');
  assert.equal(cursorStyle('AAAA', 4, 1, undefined), 'url("data:image/png;base64,AAAA") 4 1, default');
  assert.equal(cursorStyle('AAAA', 8, 2, 2), 'image-set(url("data:image/png;base64,AAAA") 2x) 4 1, default');
  assert.equal(cursorStyle('AAAA', 5, 0, 1.5), 'image-set(url("data:image/png;base64,AAAA") 1.5x) 3.33 0, default');
});

await test('helloScale: a number from 1 to 4, else 1', () => {
  assert.equal(helloScale(2), 2);
  assert.equal(helloScale(1.5), 1.5);
  assert.equal(helloScale(undefined), 1);
  assert.equal(helloScale('2'), 1);
  assert.equal(helloScale(0.5), 1);
  assert.equal(helloScale(8), 1);
  assert.equal(helloScale(NaN), 1);
});

await test('launchSettings: the browser\'s language, time zone and clamped scale', () => {
  const intl = (tz) => ({ DateTimeFormat: () => ({ resolvedOptions: () => ({ timeZone: tz }) }) });
  assert.deepEqual(launchSettings({ language: 'ja-JP' }, intl('Asia/Tokyo'), 2),
    { locale: 'ja-JP', timezone: 'Asia/Tokyo', scale: 2 });
  assert.deepEqual(launchSettings({ language: 'en-US' }, intl('UTC'), 1.100000023841858).scale, 1.1);
  assert.equal(launchSettings({}, intl('UTC'), 0.8).scale, 1, 'zoomed out: at least 1');
  assert.equal(launchSettings({}, intl('UTC'), 5).scale, 4, 'at most 4');
  assert.deepEqual(launchSettings({ language: 'not a tag' }, intl(undefined), NaN), {});
  assert.deepEqual(launchSettings(undefined, { DateTimeFormat: () => { throw new Error('no Intl'); } }, undefined), {});
});

await test('isCompositionKey: the keys of an input method are left to it', () => {
  assert.equal(isCompositionKey({ key: 'a', keyCode: 65, isComposing: false }), false);
  assert.equal(isCompositionKey({ key: 'a', keyCode: 65, isComposing: true }), true);
  assert.equal(isCompositionKey({ key: 'Process', keyCode: 229 }), true);
  assert.equal(isCompositionKey({ key: 'Unidentified', keyCode: 229 }), true, "a phone keyboard's key");
});

await test('inputMessages: text, editing keys, nothing for compositions', () => {
  assert.deepEqual(inputMessages('insertText', '你好'), [{ t: 'text', text: '你好' }]);
  assert.deepEqual(inputMessages('insertText', ''), []);
  assert.deepEqual(inputMessages('insertCompositionText', 'にほ'), []);
  const tap = (key) => [{ t: 'key', down: true, key, code: key }, { t: 'key', down: false, key, code: key }];
  assert.deepEqual(inputMessages('insertLineBreak', null), tap('Enter'));
  assert.deepEqual(inputMessages('insertParagraph', null), tap('Enter'));
  assert.deepEqual(inputMessages('deleteContentBackward', null), tap('Backspace'));
  assert.deepEqual(inputMessages('deleteContentForward', null), tap('Delete'));
  assert.deepEqual(inputMessages('formatBold', null), []);
});

// gestures runs Gestures on a 1:1 picture of 1000x1000 client pixels.
function gestures() {
  const sent = [];
  const map = (x, y, clamp) => {
    if (!clamp && (x < 0 || y < 0 || x >= 1000 || y >= 1000)) return null;
    return { x: Math.min(Math.max(Math.floor(x), 0), 999), y: Math.min(Math.max(Math.floor(y), 0), 999) };
  };
  return { g: new Gestures({ send: (m) => sent.push(m), map }), sent };
}
const types = (sent) => sent.map((m) => (m.t === 'button' || m.t === 'key' ? `${m.t}${m.down ? '+' : '-'}` : m.t));

await test('touch: a tap is a click where the finger came down', () => {
  const { g, sent } = gestures();
  g.down(1, 100, 200);
  g.move(1, 103, 202); // within the slop
  g.up(1, 103, 202);
  assert.deepEqual(sent, [
    { t: 'move', x: 100, y: 200 },
    { t: 'button', b: 1, down: true },
    { t: 'button', b: 1, down: false },
  ]);
});

await test('touch: a finger held still right-clicks, and its lifting does nothing more', () => {
  const { g, sent } = gestures();
  g.down(1, 100, 200);
  g.hold(1);
  g.up(1, 100, 200);
  assert.deepEqual(sent, [
    { t: 'move', x: 100, y: 200 },
    { t: 'button', b: 3, down: true },
    { t: 'button', b: 3, down: false },
  ]);
});

await test('touch: no right click for a finger that moved, lifted or has company', () => {
  for (const before of [
    (g) => g.move(1, 100 + SLOP + 1, 200),
    (g) => g.up(1, 100, 200),
    (g) => g.down(2, 300, 300),
  ]) {
    const { g, sent } = gestures();
    g.down(1, 100, 200);
    before(g);
    g.hold(1);
    assert.equal(sent.filter((m) => m.t === 'button' && m.b === 3).length, 0, before.toString());
  }
});

await test('touch: a tap outside the picture does nothing', () => {
  const { g, sent } = gestures();
  g.down(1, -5, 200);
  g.up(1, -5, 200);
  assert.deepEqual(sent, []);
});

await test('touch: one finger moved is a left-button drag', () => {
  const { g, sent } = gestures();
  g.down(1, 100, 100);
  g.move(1, 100 + SLOP + 5, 100);
  g.move(1, 300, 120);
  g.up(1, 310, 130);
  assert.deepEqual(types(sent), ['move', 'button+', 'move', 'move', 'move', 'button-']);
  assert.deepEqual(sent[0], { t: 'move', x: 100, y: 100 }, 'pressed where the finger came down');
  assert.deepEqual(sent.at(-2), { t: 'move', x: 310, y: 130 });
});

await test('touch: a cancelled drag lets the button go', () => {
  const { g, sent } = gestures();
  g.down(1, 100, 100);
  g.move(1, 200, 100);
  g.cancel();
  assert.deepEqual(types(sent).slice(-1), ['button-']);
  g.cancel();
  assert.equal(sent.filter((m) => m.t === 'button').length, 2, 'released once');
});

await test('touch: two fingers moved up scroll down, and press nothing', () => {
  const { g, sent } = gestures();
  g.down(1, 400, 500);
  g.down(2, 600, 500);
  for (let y = 490; y >= 400; y -= 10) {
    g.move(1, 400, y);
    g.move(2, 600, y);
  }
  g.up(1, 400, 400);
  g.up(2, 600, 400);
  assert.equal(sent.filter((m) => m.t === 'button' || m.t === 'key').length, 0, types(sent).join(' '));
  const wheel = sent.filter((m) => m.t === 'wheel');
  assert.ok(wheel.length > 0);
  assert.equal(wheel.reduce((s, m) => s + m.dy, 0), 100, 'the fingers moved 100 px up');
  assert.equal(wheel.reduce((s, m) => s + m.dx, 0), 0);
});

await test('touch: spreading two fingers zooms in with Ctrl+wheel, pinching zooms out', () => {
  const { g, sent } = gestures();
  g.down(1, 400, 500);
  g.down(2, 600, 500); // 200 apart
  g.move(1, 500 - 100 * ZOOM_STEP - 1, 500);
  g.move(2, 500 + 100 * ZOOM_STEP + 1, 500); // one step wider
  // The wheel clicks sent with Control held (moving one finger first
  // also scrolls a little, as the centre moves).
  const zooms = () => sent.filter((m, i) => m.t === 'wheel' && sent[i - 1].t === 'key' && sent[i - 1].down);
  assert.deepEqual(zooms(), [{ t: 'wheel', dx: 0, dy: -100 }]);
  const i = sent.indexOf(zooms()[0]);
  assert.deepEqual(sent[i - 1], { t: 'key', key: 'Control', code: 'ControlLeft', down: true });
  assert.deepEqual(sent[i + 1], { t: 'key', key: 'Control', code: 'ControlLeft', down: false });
  sent.length = 0;
  g.move(1, 450, 500);
  g.move(2, 550, 500); // 100 apart: about three steps narrower than 250
  const zoomOut = zooms();
  assert.ok(zoomOut.length >= 1 && zoomOut.every((m) => m.dy > 0), JSON.stringify(zoomOut));
  assert.equal(sent.filter((m) => m.t === 'button').length, 0);
});

await test('touch: a second finger after a drag began does not scroll', () => {
  const { g, sent } = gestures();
  g.down(1, 100, 100);
  g.move(1, 200, 100);
  g.down(2, 500, 500);
  g.move(2, 500, 400);
  g.up(2, 500, 400);
  g.up(1, 200, 100);
  assert.equal(sent.filter((m) => m.t === 'wheel').length, 0);
  assert.deepEqual(types(sent).slice(-1), ['button-']);
});

await test('files: a chunk is its id, big-endian, then its bytes', () => {
  const f = frame(0x01020304, new Uint8Array([9, 8, 7]));
  assert.deepEqual([...f], [1, 2, 3, 4, 9, 8, 7]);
  const back = unframe(f.buffer);
  assert.equal(back.id, 0x01020304);
  assert.deepEqual([...back.bytes], [9, 8, 7]);
  // A view into a larger buffer frames only its own bytes.
  const big = new Uint8Array(CHUNK * 2).fill(5);
  assert.equal(frame(1, new Uint8Array(big.buffer, CHUNK, 10)).byteLength, 14);
  assert.equal(unframe(new ArrayBuffer(3)), null);
  assert.equal(unframe('text'), null);
});

await test('files: hex and sizes', () => {
  assert.equal(hex(new Uint8Array([0, 15, 255]).buffer), '000fff');
  assert.equal(sizeText(0), '0 B');
  assert.equal(sizeText(999), '999 B');
  assert.equal(sizeText(1500), '1.5 KB');
  assert.equal(sizeText(25_000_000), '25 MB');
});

await test('sound: muted until the first gesture, then the speaker toggles it', () => {
  const none = soundState({ track: false, gesture: true, off: false });
  assert.equal(none.name, 'none');
  assert.equal(none.hidden, true, 'no track: no button');
  assert.equal(none.muted, true);

  let s = { track: true, gesture: false, off: false };
  assert.deepEqual([soundState(s).name, soundState(s).muted, soundState(s).pressed], ['waiting', true, false]);
  // A gesture anywhere unmutes.
  assert.deepEqual([soundState({ ...s, gesture: true }).name, soundState({ ...s, gesture: true }).muted], ['on', false]);
  // A click on the speaker while waiting is that gesture: sound on.
  s = soundToggle(s);
  assert.deepEqual(s, { track: true, gesture: true, off: false });
  assert.deepEqual([soundState(s).name, soundState(s).muted, soundState(s).pressed, soundState(s).label], ['on', false, true, 'Sound on']);
  // Then it flips off and on.
  s = soundToggle(s);
  assert.deepEqual([soundState(s).name, soundState(s).muted, soundState(s).pressed, soundState(s).label], ['off', true, false, 'Sound off']);
  s = soundToggle(s);
  assert.equal(soundState(s).name, 'on');
  // Turned off before any gesture (a gesture elsewhere then) stays off.
  assert.equal(soundState({ track: true, gesture: true, off: true }).muted, true);
  assert.equal(soundState({ track: true, gesture: false, off: true }).name, 'off');
});

await test('browserBadges: what differs from a plain browser window', () => {
  const texts = (ws) => browserBadges(ws).map((b) => b.text);
  assert.deepEqual(texts(undefined), []);
  assert.deepEqual(texts({ mode: 'browser', audio: 'on', browser: { downloads: { allowed: false }, uploads: { allowed: false } } }), []);
  assert.deepEqual(texts({
    mode: 'kiosk', audio: 'off', locale: 'ja-JP', timezone: 'Asia/Tokyo',
    browser: { downloads: { allowed: true, max_bytes: 256 << 20 }, uploads: { allowed: true, max_bytes: 1536 }, url_blocklist: ['*'] },
  }), ['kiosk', 'downloads ≤ 256 MiB', 'uploads ≤ 1.5 KiB', 'URL filter', 'no sound', 'ja-JP', 'Asia/Tokyo']);
});

await test('sendAgain: a lost answer is asked again, an answer is final', async () => {
  const lost = Object.assign(new Error('unreachable'), { status: 0 });
  const refused = Object.assign(new Error('limit'), { status: 409 });
  const waits = [];
  const sleep = async (ms) => { waits.push(ms); };
  let calls = 0;
  assert.equal(await sendAgain(async () => { calls++; if (calls < 3) throw lost; return 'ok'; }, { sleep, pause: 100 }), 'ok');
  assert.equal(calls, 3);
  assert.deepEqual(waits, [100, 200]);
  calls = 0;
  await assert.rejects(sendAgain(async () => { calls++; throw refused; }, { sleep }), /limit/);
  assert.equal(calls, 1, 'a refusal is not sent again');
  calls = 0;
  await assert.rejects(sendAgain(async () => { calls++; throw lost; }, { sleep, tries: 3 }), /unreachable/);
  assert.equal(calls, 3, 'at most tries sends');
  calls = 0;
  const abort = Object.assign(new Error('aborted'), { name: 'AbortError', status: 0 });
  await assert.rejects(sendAgain(async () => { calls++; throw abort; }, { sleep }), /aborted/);
  assert.equal(calls, 1, 'an abort is final');
});

await test('newLaunchKey: a UUID, or 32 hex digits without randomUUID', () => {
  assert.match(newLaunchKey(), /^[0-9a-f-]{36}$/);
  const k = newLaunchKey({ getRandomValues: (b) => b.fill(171) });
  assert.equal(k, 'ab'.repeat(16));
  assert.notEqual(newLaunchKey(), newLaunchKey());
});

await test('signalURL: the relay of the page\'s own host', () => {
  assert.equal(signalURL({ host: 'airlock.example:8443' }), 'wss://airlock.example:8443/api/v1/signal');
});

await test('usablePreopened: the same relay, opening or open, young enough', () => {
  const url = 'wss://h/api/v1/signal';
  const pre = (readyState, at = 1000) => ({ url, ws: { readyState }, at });
  assert.equal(usablePreopened(pre(0), url, 1500), true, 'still opening');
  assert.equal(usablePreopened(pre(1), url, 6000), true, 'open, 5 s old');
  assert.equal(usablePreopened(pre(1), url, 6001), false, 'too old: the relay may close it before the token arrives');
  assert.equal(usablePreopened(pre(2), url, 1500), false, 'closing');
  assert.equal(usablePreopened(pre(3), url, 1500), false, 'closed');
  assert.equal(usablePreopened(pre(1), 'wss://other/api/v1/signal', 1500), false, 'another relay');
  assert.equal(usablePreopened(null, url, 1500), false, 'none');
});

await test('request: a GET with no answer goes again, other methods do not', async () => {
  const orig = globalThis.fetch;
  let calls = 0;
  let failFirst = 0;
  globalThis.fetch = async () => {
    calls++;
    if (calls <= failFirst) throw new TypeError('Failed to fetch');
    return new Response(JSON.stringify({ ok: true }), { status: 200, headers: { 'Content-Type': 'application/json' } });
  };
  try {
    failFirst = 2;
    assert.deepEqual(await request('GET', '/workspaces'), { ok: true });
    assert.equal(calls, 3, 'two lost GETs, then the answer');
    calls = 0;
    failFirst = 5;
    await assert.rejects(request('GET', '/workspaces'), (err) => err.status === 0);
    assert.equal(calls, 3, 'a GET is sent at most 3 times');
    calls = 0;
    failFirst = 1;
    await assert.rejects(request('POST', '/sessions', { body: {} }), (err) => err.status === 0);
    assert.equal(calls, 1, 'a POST is not sent again here');
    calls = 0;
    failFirst = 0;
    globalThis.fetch = async () => {
      calls++;
      return new Response('{"code":"not_found","message":"no such session"}', { status: 404 });
    };
    await assert.rejects(request('GET', '/sessions/x'), (err) => err.status === 404);
    assert.equal(calls, 1, 'an answer, even a refusal, is final');
  } finally {
    globalThis.fetch = orig;
  }
});

await test('admin auditQuery: filters, paging, blanks left out', () => {
  assert.equal(auditQuery({}), '');
  assert.equal(auditQuery({ actor: ' admin ', action: 'session.*', outcome: '', target: '  ' }), '?actor=admin&action=session.*');
  assert.equal(auditQuery({ action: 'user.create', limit: 2, before: 17 }), '?action=user.create&limit=2&before=17');
  assert.equal(auditQuery({ action: 'user.create', limit: 2, before: 17 }, false), '?action=user.create', 'the export takes no paging');
  assert.equal(auditQuery({ since: '2025-06-01T12:00:00.000Z', target: 'a&b=c' }), '?target=a%26b%3Dc&since=2025-06-01T12%3A00%3A00.000Z');
  assert.equal(auditQuery({ nonsense: 'x', limit: null }), '', 'only the api\'s parameters');
});

await test('admin localTimeToRFC3339', () => {
  assert.equal(localTimeToRFC3339(''), '');
  const d = new Date('2025-06-01T12:30');
  assert.equal(localTimeToRFC3339('2025-06-01T12:30'), d.toISOString());
  assert.equal(localTimeToRFC3339('next tuesday'), 'next tuesday', 'left for the api to refuse');
});

await test('admin formatDuration and ranFor', () => {
  const cases = [[0, '0 s'], [59.9, '59 s'], [60, '1 min'], [3599, '59 min'], [3600, '1 h'], [3900, '1 h 5 min'],
    [86400, '1 d'], [97200, '1 d 3 h'], [-1, ''], [NaN, '']];
  for (const [s, want] of cases) assert.equal(formatDuration(s), want, String(s));
  const s = { created_at: '2025-06-01T12:00:00Z', stopped_at: '2025-06-01T12:45:10Z' };
  assert.equal(ranFor(s), '45 min');
  assert.equal(ranFor({ created_at: '2025-06-01T12:00:00Z' }, Date.parse('2025-06-01T14:00:00Z')), '2 h');
});

await test('admin dateTime and labelsText', () => {
  assert.equal(dateTime(''), '');
  assert.equal(dateTime('0001-01-01T00:00:00Z'), '', 'Go\'s zero time is no time');
  assert.notEqual(dateTime('2025-06-01T12:00:00Z'), '');
  assert.equal(labelsText(null), '');
  assert.equal(labelsText({ zone: 'eu-1', rack: '3' }), 'rack=3, zone=eu-1');
});

await test('admin workspace form: create body, PATCH of the changes only', () => {
  const f = (k) => WORKSPACE_FIELDS.find((x) => x.key === k);
  assert.equal(fieldValue(f('nano_cpus'), '1.5'), 1.5e9);
  assert.equal(fieldValue(f('memory'), '512'), 512 * 1024 * 1024);
  assert.equal(fieldValue(f('idle_timeout'), ''), '0', 'empty is the default');
  assert.throws(() => fieldValue(f('pids_limit'), '2.5'), /Process limit: "2.5" is not a whole number/);
  assert.throws(() => fieldValue(f('memory'), 'lots'), /Memory \(MiB\)/);
  const values = { name: 'docs', description: '', image: 'img:1', isolation: 'standard', clipboard: 'both', mode: 'browser',
    audio: 'on', start_url: '', nano_cpus: '', memory: '256', pids_limit: '', idle_timeout: '15m', lifetime: '', max_lifetime: '' };
  assert.deepEqual(workspaceBody(values), { name: 'docs', image: 'img:1', isolation: 'standard', clipboard: 'both', mode: 'browser',
    audio: 'on', memory: 256 * 1024 * 1024, idle_timeout: '15m' });
  const original = { name: 'docs', image: 'img:1', isolation: 'standard', clipboard: 'both', mode: 'browser', audio: 'on',
    memory: 256 * 1024 * 1024, idle_timeout: '15m', seccomp: '', env: { SECRET: 'x' } };
  assert.deepEqual(workspaceBody(values, original), {}, 'nothing changed: nothing sent');
  assert.deepEqual(workspaceBody({ ...values, name: 'renamed', clipboard: 'off', idle_timeout: '' }, original),
    { clipboard: 'off', idle_timeout: '0' }, 'only the changes, never the name');
});

await test('admin groups: policies and grants in a line, the form as the api takes it', () => {
  assert.equal(policyText(null), '');
  assert.equal(policyText({ idle_timeout: '1h', clipboard: 'off', downloads: false, max_sessions: 4 }),
    'idle 1h · clipboard off · downloads blocked · 4 sessions');
  assert.equal(policyText({ max_sessions: 1, uploads: true }), 'uploads allowed · 1 session');
  assert.equal(grantsText({ all_workspaces: true }), 'all workspaces');
  assert.equal(grantsText({ workspaces: [{ workspace: 'docs' }, { workspace: 'web', policy: { clipboard: 'off' } }] }), 'docs, web (clipboard off)');
  assert.equal(grantsText({}), 'nothing');
  const original = { workspaces: [{ workspace: 'web', policy: { clipboard: 'off' } }, { workspace: 'docs' }] };
  assert.deepEqual(groupBody({ name: ' staff ', priority: '10', all: false, granted: ['web', 'new'], idle_timeout: '30m',
    downloads: 'blocked', max_sessions: '2', idp_groups: 'Staff, ,cn=staff' }, original), {
    name: 'staff', priority: 10, all_workspaces: false,
    workspaces: [{ workspace: 'web', policy: { clipboard: 'off' } }, { workspace: 'new' }],
    policy: { idle_timeout: '30m', downloads: false, max_sessions: 2 }, idp_groups: ['Staff', 'cn=staff'],
  }, 'a kept workspace keeps its rule; an unchecked one goes; empty fields are not set');
  assert.deepEqual(groupBody({ name: 'x', priority: '', granted: [] }), { name: 'x', priority: 0, all_workspaces: false });
  assert.throws(() => groupBody({ name: 'x', priority: '1.5' }), /Priority: "1.5" is not a whole number/);
});

await test('admin pages: one route each, the first by default', () => {
  assert.deepEqual(PAGES.map((p) => p.path), ['users', 'groups', 'workspaces', 'nodes', 'sessions', 'pools', 'audit']);
  assert.equal(pageOf('').path, 'users');
  assert.equal(pageOf('audit').path, 'audit');
  assert.equal(pageOf('groups').path, 'groups');
  assert.equal(pageOf('nope'), null, 'no such page');
});

if (failed) {
  console.log(`${failed} failed`);
  process.exit(1);
}
