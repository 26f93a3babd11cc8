// Drive Debian's headless Chromium to noVNC (served by the proxy under test),
// wait until noVNC reports "connected" and the remote framebuffer shows the
// known desktop painted by scripts/e2e-browser, then save screenshots.
//
// Configuration comes from the environment (scripts/e2e-browser sets it):
//   E2E_URL          page to open (vnc.html?autoconnect=true&...)
//   E2E_PROFILE      fresh, empty Chromium --user-data-dir
//   E2E_SCREENSHOT   PNG path for a screenshot of the whole page
//   E2E_CANVAS_PNG   PNG path for the noVNC canvas content (optional)
//   E2E_ROOT_RGB     root window colour, "r,g,b"
//   E2E_SCREEN       remote screen size, "WxH"
//   E2E_XTERM        xterm window rectangle on the remote screen, "x,y,w,h"
//   E2E_TIMEOUT_MS   how long to wait for connected + pixels (default 30000)
//   E2E_CHROMIUM     browser binary (default /usr/bin/chromium)
//   E2E_TLS          "1" when the page is https with a self-signed cert
//   E2E_BASIC_USER, E2E_BASIC_PASSWORD
//                    the login Chromium gives when the proxy asks (optional)
//
// Exit code 0 = PASS, 1 = FAIL (reason on stderr), 2 = usage/launch error.
// The browser console, page errors and WebSocket events are written to stdout
// prefixed with "[console]", "[pageerror]", "[ws]", "[net]".

import { connectedVerdict, launch, logPage, need, probe, saveShots, ts, waitForDesktop } from './desktop.mjs';

const url = need('E2E_URL');
const profile = need('E2E_PROFILE');
const screenshotPath = need('E2E_SCREENSHOT');
const canvasPngPath = process.env.E2E_CANVAS_PNG || '';
const rootRgb = need('E2E_ROOT_RGB').split(',').map(Number);
const [screenW, screenH] = need('E2E_SCREEN').split('x').map(Number);
const [xtX, xtY, xtW, xtH] = need('E2E_XTERM').split(',').map(Number);
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 30000);
const executablePath = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const tls = process.env.E2E_TLS === '1';
const basicUser = process.env.E2E_BASIC_USER || '';
const extra = basicUser
  ? { httpCredentials: { username: basicUser, password: need('E2E_BASIC_PASSWORD') } }
  : {};

let context;
try {
  context = await launch({ profile, executablePath, tls, screen: [screenW, screenH], extra });
} catch (e) {
  console.error(`novnc-check: could not launch ${executablePath}: ${e.message}`);
  process.exit(2);
}

const page = context.pages()[0] || (await context.newPage());
logPage(page);
let wsFramesIn = 0;
let wsFramesOut = 0;
page.on('websocket', (ws) => {
  ws.on('framereceived', () => { wsFramesIn++; });
  ws.on('framesent', () => { wsFramesOut++; });
});

// The pass criteria: desktop.mjs's connectedVerdict (the known desktop,
// noVNC's status text, the share of the canvas in the root colour).
const verdict = (s) => connectedVerdict(s, [screenW, screenH]);

// noVNC 1.6 fades its "Connecting" overlay (#noVNC_transition) out after it
// has connected; a pointer move while the overlay still covers the canvas
// never reaches noVNC, and the xterm never gets the keyboard focus. Waits
// (up to 5 s) until the canvas is what the pointer at `at` hits: null, else
// what covers it.
async function canvasOnTop(at) {
  const topAt = ({ x, y }) => {
    const e = document.elementFromPoint(x, y);
    return !e ? 'nothing' : e.tagName === 'CANVAS' ? null : `${e.tagName.toLowerCase()}#${e.id}`;
  };
  const deadline = Date.now() + 5000;
  for (;;) {
    const top = await page.evaluate(topAt, at);
    if (!top) return null;
    if (Date.now() > deadline) return `the canvas is still covered by ${top} where the xterm is`;
    await page.waitForTimeout(100);
  }
}

const TYPED = `${tls ? 'wss' : 'ws'}: typed via noVNC+websockify-rs `;
let typedDelta = 0;
let at = null;
let state = null;
let reason = 'not started';
let exitCode = 1;
try {
  console.log(`[net] ${ts()} goto ${url}`);
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!resp || !resp.ok()) throw new Error(`page load: HTTP ${resp ? resp.status() : 'no response'}`);
  ({ state, reason } = await waitForDesktop(page, {
    rootRgb, xterm: [xtX, xtY, xtW, xtH], screen: [screenW, screenH], timeoutMs,
  }));
  // Input round trip: point at the xterm (no window manager, so X keyboard
  // focus follows the pointer), type; the terminal echoes the characters and
  // the new text must come back through the proxy into the canvas.
  if (!reason) {
    const box = await page.locator('#noVNC_container canvas').boundingBox();
    at = { x: box.x + xtX + xtW / 2, y: box.y + xtY + xtH / 2 };
    reason = await canvasOnTop(at);
  }
  if (!reason) {
    await page.mouse.move(at.x, at.y);
    // Focus turns xterm's hollow cursor solid: take the baseline only once
    // the text pixel count has been stable for a few probes.
    let before = -1;
    for (let stable = 0, i = 0; stable < 3 && i < 40; i++) {
      await page.waitForTimeout(150);
      const s = await page.evaluate(probe, { rootRgb, xterm: [xtX, xtY, xtW, xtH], tol: 12 });
      const n = s.canvas ? s.canvas.xtermBlackPx : -1;
      stable = n === before ? stable + 1 : 0;
      before = n;
    }
    await page.keyboard.type(TYPED, { delay: 10 });
    const typedDeadline = Date.now() + 10000;
    reason = `typed "${TYPED}" but the xterm did not change (text pixels ${before})`;
    for (;;) {
      state = await page.evaluate(probe, { rootRgb, xterm: [xtX, xtY, xtW, xtH], tol: 12 });
      const r = verdict(state);
      if (r) { reason = `after typing: ${r}`; }
      else if (state.canvas.xtermBlackPx >= before + 150) {
        reason = null;
        typedDelta = state.canvas.xtermBlackPx - before;
        break;
      }
      if (Date.now() > typedDeadline) break;
      await page.waitForTimeout(250);
    }
  }
  if (!reason) exitCode = 0;
} catch (e) {
  reason = `error: ${e.message}`;
}

console.log(`[state] ${ts()} ${JSON.stringify(state)}`);
await saveShots(page, screenshotPath, canvasPngPath);
await context.close().catch(() => {});

if (exitCode === 0) {
  const c = state.canvas;
  console.log(`novnc-check: OK after ${ts()}: "${state.status}", canvas ${c.width}x${c.height}, ` +
    `root colour ${(100 * c.rootFrac).toFixed(1)}%, xterm white ${(100 * c.xtermWhiteFrac).toFixed(1)}%, ` +
    `xterm text pixels ${c.xtermBlackPx} (+${typedDelta} after typing), ws frames in=${wsFramesIn} out=${wsFramesOut}`);
} else {
  console.error(`novnc-check: FAIL after ${ts()}: ${reason}`);
}
process.exit(exitCode);
