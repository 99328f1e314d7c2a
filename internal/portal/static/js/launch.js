// A session launch that survives a lost answer. The launch request is the
// one a network change is most likely to cut off: on a host that runs its
// own sessions, the new session's network appears while the answer is on
// its way, and the browser aborts requests in flight when its network
// changes. The request carries a launch key; asked again with the same
// key, the server answers with the session the first request made.

// newLaunchKey is a fresh random key (a UUID).
export function newLaunchKey(c = globalThis.crypto) {
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// sendAgain calls send until it answers, up to tries times, waiting pause
// ms more each time, but only while it fails with no answer at all
// (status 0): an answer, even a refusal, is final, and so is an abort.
export async function sendAgain(send, { tries = 3, pause = 400, sleep = (ms) => new Promise((r) => setTimeout(r, ms)) } = {}) {
  for (let i = 1; ; i++) {
    try {
      return await send();
    } catch (err) {
      if (err.name === 'AbortError' || err.status !== 0 || i >= tries) throw err;
      await sleep(pause * i);
    }
  }
}
