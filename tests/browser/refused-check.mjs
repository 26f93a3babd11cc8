// Another user's desktop, as the browser meets it: Chromium, logged in with
// one user's valid credentials, opens the noVNC URL of an instance that lets
// only another user in. The page must be refused with HTTP E2E_EXPECT_STATUS
// (403: the login is good, the user is not allowed; not 401, which would
// only ask again), and a WebSocket to that instance, opened from there with
// the same login, must fail with that status too (noVNC could not reach the
// desktop either).
// scripts/e2e-browser runs it in its two-user run.
//
// Environment: E2E_URL (the page), E2E_WS_URL (the instance's WebSocket),
// E2E_BASIC_USER, E2E_BASIC_PASSWORD, E2E_EXPECT_STATUS (e.g. 403),
// E2E_PROFILE, E2E_SCREENSHOT, E2E_TLS ("1": https with a self-signed
// certificate), E2E_CHROMIUM (default /usr/bin/chromium).
// Exit 0 = PASS, 1 = FAIL (reason on stderr), 2 = usage or launch error.

import { launchFromEnv, logPage, need, saveShots, tryWebSocket, ts } from './desktop.mjs';

const url = need('E2E_URL');
const wsUrl = need('E2E_WS_URL');
const user = need('E2E_BASIC_USER');
const expectStatus = Number(need('E2E_EXPECT_STATUS'));

const context = await launchFromEnv({
  tls: process.env.E2E_TLS === '1',
  screen: [800, 600],
  extra: { httpCredentials: { username: user, password: need('E2E_BASIC_PASSWORD') } },
});
const page = context.pages()[0] || (await context.newPage());
logPage(page);
// Chromium's reason for a failed handshake ("Unexpected response code: 403").
const wsErrors = [];
page.on('websocket', (w) => w.on('socketerror', (e) => wsErrors.push(String(e))));

let reason = null;
let shown = '';
let ws = '';
try {
  console.log(`[net] ${ts()} goto ${url} as ${user}`);
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  const status = resp ? resp.status() : 0;
  shown = (await page.innerText('body').catch(() => '')).replace(/\s+/g, ' ').trim().slice(0, 80);
  console.log(`[state] ${ts()} HTTP ${status}, the page shows "${shown}"`);
  if (status !== expectStatus) reason = `the page answered HTTP ${status}, not ${expectStatus} (it shows "${shown}")`;
  else if (!/Forbidden/.test(shown)) reason = `HTTP ${status}, but the page shows "${shown}", not "Forbidden"`;
  if (!reason) {
    ws = await page.evaluate(tryWebSocket, wsUrl);
    // The page's close event and DevTools' error event come on two paths.
    for (let i = 0; i < 20 && ws !== 'open' && wsErrors.length === 0; i++) await page.waitForTimeout(100);
    console.log(`[state] ${ts()} WebSocket ${wsUrl}: ${ws}`);
    if (ws === 'open') reason = `the page was refused, but the WebSocket ${wsUrl} opened`;
    else if (ws === 'no answer') reason = `the WebSocket ${wsUrl} got no answer in 10 s`;
    else if (!wsErrors.some((e) => e.includes(`${expectStatus}`)))
      reason = `the WebSocket ${wsUrl} failed, but not with ${expectStatus} (${wsErrors.join('; ') || 'no error'})`;
    else ws = `${ws}, handshake ${expectStatus}`;
  }
} catch (e) {
  reason = `error: ${e.message}`;
}

await saveShots(page, need('E2E_SCREENSHOT'), '');
await context.close().catch(() => {});
if (reason) {
  console.error(`refused-check: FAIL after ${ts()}: ${reason}`);
  process.exit(1);
}
console.log(`refused-check: OK after ${ts()}: ${user} gets HTTP ${expectStatus} "${shown}", WebSocket ${ws}`);
process.exit(0);
