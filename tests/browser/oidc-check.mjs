// The built-in OpenID Connect login as a browser meets it (issue 21):
// Chromium opens the noVNC URL of an instance with oidc-issuer, is sent to
// the provider's own login page (panva's oidc-provider, tests/oidc/
// provider.mjs), logs in as E2E_OIDC_USER through its forms (and consents
// when asked), comes back, and then either
//   E2E_EXPECT=desktop: noVNC shows the known desktop (desktop.mjs's
//     connectedVerdict: "Connected", the root colour, the xterm), with no
//     VNC password prompt on the way; or
//   E2E_EXPECT=403: the proxy's callback answers 403 "Forbidden", no
//     WebSocket to the desktop ever opened, and one opened from that page
//     now fails its handshake (no cookie was set).
// scripts/e2e-browser runs it in its oidc run: alice (group desk) expects
// the desktop, bob (in no group) 403.
//
// Environment: E2E_URL (the noVNC page), E2E_ISSUER (the provider's URL),
// E2E_OIDC_USER, E2E_EXPECT (desktop or 403), E2E_WS_URL (the instance's
// WebSocket, for 403), E2E_PROFILE, E2E_SCREENSHOT, E2E_CANVAS_PNG
// (optional), E2E_ROOT_RGB, E2E_SCREEN, E2E_XTERM, E2E_TIMEOUT_MS,
// E2E_CHROMIUM: as novnc-check.mjs.
// Exit 0 = PASS, 1 = FAIL (reason on stderr), 2 = usage or launch error.

import { launchFromEnv, logPage, need, saveShots, tryWebSocket, ts, waitForDesktop } from './desktop.mjs';

const url = need('E2E_URL');
const issuer = need('E2E_ISSUER');
const user = need('E2E_OIDC_USER');
const expect = need('E2E_EXPECT');
const screen = need('E2E_SCREEN').split('x').map(Number);
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 30000);
if (expect !== 'desktop' && expect !== '403') {
  console.error(`oidc-check: E2E_EXPECT is "${expect}", not desktop or 403`);
  process.exit(2);
}

const context = await launchFromEnv({ tls: false, screen });
// Test traffic stays on loopback: the provider's pages ask for Google
// Fonts, which are refused here, not fetched.
await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort('blockedbyclient'));
const page = context.pages()[0] || (await context.newPage());
logPage(page);
const sockets = [];
page.on('websocket', (w) => sockets.push(w.url()));
// Chromium's reason for a failed handshake ("Unexpected response code: 401").
const wsErrors = [];
page.on('websocket', (w) => w.on('socketerror', (e) => wsErrors.push(String(e))));
// The proxy's answer to the provider's redirect back (/oidc/callback).
let callback = null;
page.on('response', (r) => {
  if (new URL(r.url()).pathname === '/oidc/callback') callback = r;
});

/** The page's text, on one line, shortened. */
const shown = async () =>
  (await page.innerText('body').catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 80);

/** From the noVNC URL through the provider's login (and consent) forms;
 * null when the browser is back on the proxy, else why not. */
async function logIn() {
  console.log(`[net] ${ts()} goto ${url}`);
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!page.url().startsWith(`${issuer}/`))
    return `the page was not sent to the provider ${issuer} but is at ${page.url()} ("${await shown()}")`;
  const login = page.locator('input[name="login"]');
  if ((await login.count()) !== 1) return `no login form at ${page.url()} ("${await shown()}")`;
  await login.fill(user);
  await page.locator('input[name="password"]').fill('any');
  console.log(`[net] ${ts()} signing in as ${user} at ${page.url()}`);
  await Promise.all([page.waitForNavigation({ timeout: 15000 }), page.locator('button[type="submit"]').click()]);
  if (page.url().startsWith(`${issuer}/`)) {
    if ((await page.locator('input[name="prompt"][value="consent"]').count()) !== 1)
      return `still at the provider after signing in, no consent form: ${page.url()} ("${await shown()}")`;
    console.log(`[net] ${ts()} consenting at ${page.url()}`);
    await Promise.all([page.waitForNavigation({ timeout: 15000 }), page.locator('button[type="submit"]').click()]);
  }
  await page.waitForLoadState('load', { timeout: 15000 });
  if (!callback) return `the browser never came back to /oidc/callback (at ${page.url()})`;
  return null;
}

/** Runs in the page: whether noVNC's VNC password dialog is shown. */
const passwordPrompt = () => {
  const d = document.getElementById('noVNC_credentials_dlg');
  return !!d && d.classList.contains('noVNC_open');
};

/** alice: noVNC on the page she came back to shows the desktop. */
async function expectDesktop() {
  if (new URL(page.url()).pathname === '/oidc/callback')
    return `the callback answered HTTP ${callback.status()} and stayed ("${await shown()}")`;
  const { state, reason } = await waitForDesktop(page, {
    rootRgb: need('E2E_ROOT_RGB').split(',').map(Number),
    xterm: need('E2E_XTERM').split(',').map(Number),
    screen,
    timeoutMs,
  });
  console.log(`[state] ${ts()} ${JSON.stringify(state)}`);
  if (await page.evaluate(passwordPrompt)) return 'noVNC asks for a VNC password';
  if (reason) return reason;
  const c = state.canvas;
  return { ok: `"${state.status}" at ${page.url()}, canvas ${c.width}x${c.height}, root colour ` +
    `${(100 * c.rootFrac).toFixed(1)}%, xterm white ${(100 * c.xtermWhiteFrac).toFixed(1)}%, ` +
    `xterm text pixels ${c.xtermBlackPx}, no VNC password prompt` };
}

/** bob: the callback is 403 Forbidden, and no WebSocket opens. */
async function expect403() {
  const wsUrl = need('E2E_WS_URL');
  const status = callback.status();
  const text = await shown();
  console.log(`[state] ${ts()} callback HTTP ${status}, at ${page.url()}, the page shows "${text}"`);
  if (status !== 403) return `the callback answered HTTP ${status}, not 403 (at ${page.url()}, "${text}")`;
  if (!/Forbidden/.test(text)) return `HTTP 403, but the page shows "${text}", not "Forbidden"`;
  if (sockets.length) return `a WebSocket opened from the login: ${sockets.join(', ')}`;
  const ws = await page.evaluate(tryWebSocket, wsUrl);
  for (let i = 0; i < 20 && ws !== 'open' && wsErrors.length === 0; i++) await page.waitForTimeout(100);
  console.log(`[state] ${ts()} WebSocket ${wsUrl}: ${ws} (${wsErrors.join('; ')})`);
  if (ws === 'open') return `bob was refused, but the WebSocket ${wsUrl} opened`;
  if (ws === 'no answer') return `the WebSocket ${wsUrl} got no answer in 10 s`;
  // Chromium says "HTTP Authentication failed; ..." for a 401 handshake.
  if (!wsErrors.some((e) => /40[13]|HTTP Authentication failed/.test(e)))
    return `the WebSocket ${wsUrl} failed, but not with 401 or 403 (${wsErrors.join('; ') || 'no error'})`;
  return { ok: `callback HTTP 403 "${text}", no desktop, WebSocket ${ws} (${wsErrors[0]})` };
}

let result;
try {
  result = (await logIn()) || (expect === 'desktop' ? await expectDesktop() : await expect403());
} catch (e) {
  result = `error: ${e.message}`;
}
await saveShots(page, need('E2E_SCREENSHOT'), process.env.E2E_CANVAS_PNG || '');
await context.close().catch(() => {});
if (typeof result === 'string') {
  console.error(`oidc-check: FAIL after ${ts()}: ${user}: ${result}`);
  process.exit(1);
}
console.log(`oidc-check: OK after ${ts()}: ${user} logged in at ${issuer}, ${result.ok}`);
process.exit(0);
