// noVNC behind websockify-rs with Basic auth, with and without the VNC
// password injected by the proxy (scripts/e2e-vncauth runs it per mode).
//
//   E2E_EXPECT=inject  the page needs Basic auth (401 without it); with the
//                      credentials noVNC connects and shows the known desktop,
//                      and never asks for a VNC password: no
//                      'credentialsrequired' event, its dialog never opened.
//   E2E_EXPECT=prompt  the same page and login, but noVNC fires
//                      'credentialsrequired' and opens its password dialog;
//                      the password typed there (E2E_VNC_PASSWORD) then
//                      brings up the same desktop.
//
// Environment: E2E_URL, E2E_PROFILE, E2E_SCREENSHOT, E2E_CANVAS_PNG,
// E2E_ROOT_RGB ("r,g,b"), E2E_SCREEN ("WxH"), E2E_XTERM ("x,y,w,h"),
// E2E_BASIC_USER, E2E_BASIC_PASSWORD, E2E_EXPECT, E2E_VNC_PASSWORD (prompt),
// E2E_TIMEOUT_MS (default 30000), E2E_CHROMIUM (default /usr/bin/chromium).
// Exit 0 = PASS, 1 = FAIL (reason on stderr), 2 = usage or launch error.

import { desktopVerdict, launchFromEnv, logPage, need, probe, saveShots, ts } from './desktop.mjs';

const url = need('E2E_URL');
const expect = need('E2E_EXPECT');
if (expect !== 'inject' && expect !== 'prompt') {
  console.error(`novnc-vncauth: E2E_EXPECT must be inject or prompt, not ${expect}`);
  process.exit(2);
}
const user = need('E2E_BASIC_USER');
const basicPassword = need('E2E_BASIC_PASSWORD');
const vncPassword = expect === 'prompt' ? need('E2E_VNC_PASSWORD') : '';
const screen = need('E2E_SCREEN').split('x').map(Number);
const look = {
  rootRgb: need('E2E_ROOT_RGB').split(',').map(Number),
  xterm: need('E2E_XTERM').split(',').map(Number),
  tol: 12,
};
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 30000);

// Records, from the first script on, every CustomEvent noVNC's RFB object
// dispatches ('credentialsrequired', 'connect', 'securityfailure', ...) and
// whether the credentials dialog was ever open, however briefly.
function watchNoVnc() {
  window.__rfbEvents = [];
  window.__dialogOpened = false;
  const Original = window.CustomEvent;
  window.CustomEvent = class extends Original {
    constructor(type, init) {
      super(type, init);
      window.__rfbEvents.push(type);
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    const dlg = document.getElementById('noVNC_credentials_dlg');
    if (!dlg) return;
    const check = () => {
      if (dlg.classList.contains('noVNC_open')) window.__dialogOpened = true;
    };
    check();
    new MutationObserver(check).observe(dlg, { attributes: true, attributeFilter: ['class'] });
  });
}

const watched = () => ({
  events: window.__rfbEvents,
  dialogOpened: window.__dialogOpened,
  passwordAsked: !document.getElementById('noVNC_password_block').classList.contains('noVNC_hidden'),
});

/** Polls `check` (null: done, else why not) until done, a fatal
 * failure or the deadline. */
let fatal = false;
async function until(page, check, limitMs) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const why = await check();
    if (!why || fatal || Date.now() > deadline) return why;
    await page.waitForTimeout(250);
  }
}

// The proxy's gate: without the Basic credentials the page is refused.
const bare = await fetch(url);
if (bare.status !== 401) {
  console.error(`novnc-vncauth: FAIL: the page without credentials answered ${bare.status}, not 401`);
  process.exit(1);
}

const context = await launchFromEnv({
  tls: false,
  screen,
  extra: { httpCredentials: { username: user, password: basicPassword } },
});
await context.addInitScript(watchNoVnc);
const page = context.pages()[0] || (await context.newPage());
logPage(page);

let state = null;
let seen = null;
const desktop = async () => {
  state = await page.evaluate(probe, look);
  seen = await page.evaluate(watched);
  fatal = expect === 'inject' && (seen.dialogOpened || seen.events.includes('credentialsrequired'));
  if (fatal) return `noVNC asked for a VNC password (events ${seen.events.join(',')})`;
  return desktopVerdict(state, screen);
};
const prompted = async () => {
  seen = await page.evaluate(watched);
  if (!seen.events.includes('credentialsrequired')) return 'no credentialsrequired event yet';
  if (!seen.dialogOpened || !seen.passwordAsked) return 'the password dialog is not open';
  return null;
};

let reason;
try {
  console.log(`[net] ${ts()} goto ${url}`);
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!resp || !resp.ok()) throw new Error(`page load: HTTP ${resp ? resp.status() : 'no response'}`);
  if (expect === 'prompt') {
    reason = await until(page, prompted, timeoutMs);
    if (!reason) {
      console.log(`[state] ${ts()} noVNC asks for the VNC password: ${JSON.stringify(seen)}`);
      await page.fill('#noVNC_password_input', vncPassword);
      await page.click('#noVNC_credentials_button');
    }
  }
  if (!reason) reason = await until(page, desktop, timeoutMs);
  if (!reason && expect === 'inject' && !seen.events.includes('connect'))
    reason = `no connect event (events ${seen.events.join(',')})`;
} catch (e) {
  reason = `error: ${e.message}`;
}

console.log(`[state] ${ts()} ${JSON.stringify({ state, seen })}`);
await saveShots(page, need('E2E_SCREENSHOT'), process.env.E2E_CANVAS_PNG || '');
await context.close().catch(() => {});

if (reason) {
  console.error(`novnc-vncauth: FAIL after ${ts()}: ${reason}`);
  process.exit(1);
}
const c = state.canvas;
console.log(`novnc-vncauth: OK after ${ts()}: ${expect}: "${state.status}", canvas ${c.width}x${c.height}, ` +
  `root colour ${(100 * c.rootFrac).toFixed(1)}%, xterm text pixels ${c.xtermBlackPx}, ` +
  `noVNC events ${seen.events.join(',')}, password dialog ${seen.dialogOpened ? 'opened' : 'never opened'}`);
process.exit(0);
