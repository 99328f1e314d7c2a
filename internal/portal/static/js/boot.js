// boot.js, a classic script, watches the portal's start. A module of the
// portal whose load was cut off (on the Airlock host itself a session's
// network coming up changes this device's networks, and the browser then
// aborts what it is loading) leaves the page at its spinner for good:
// module scripts are not retried. Once the page has loaded, a portal that
// did not start (main.js sets window.airlockStarted) is loaded again, a
// few times, and then says so.
(() => {
  const KEY = 'airlock-boot-retries';
  const MAX_RETRIES = 3;
  window.addEventListener('load', () => {
    if (window.airlockStarted) return;
    let n = 0;
    try {
      n = Number(sessionStorage.getItem(KEY)) || 0;
      sessionStorage.setItem(KEY, String(n + 1));
    } catch {
      n = MAX_RETRIES; // no storage: no way to bound the retries
    }
    if (n < MAX_RETRIES) {
      setTimeout(() => location.reload(), 300 * (n + 1));
      return;
    }
    const boot = document.getElementById('boot');
    if (boot) {
      boot.textContent = "Airlock's portal could not load. Check the connection to the server, then reload the page.";
      boot.setAttribute('role', 'alert');
    }
  });
})();
