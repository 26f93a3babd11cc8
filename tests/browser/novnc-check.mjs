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
//
// Exit code 0 = PASS, 1 = FAIL (reason on stderr), 2 = usage/launch error.
// The browser console, page errors and WebSocket events are written to stdout
// prefixed with "[console]", "[pageerror]", "[ws]", "[net]".

import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`novnc-check: environment variable ${name} is required`);
    process.exit(2);
  }
  return v;
}

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

const t0 = Date.now();
const ts = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;

const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
if (tls) args.push('--ignore-certificate-errors');

let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    chromiumSandbox: false,
    args,
    ignoreHTTPSErrors: tls,
    viewport: { width: screenW + 160, height: screenH + 80 },
    timeout: 30000,
  });
} catch (e) {
  console.error(`novnc-check: could not launch ${executablePath}: ${e.message}`);
  process.exit(2);
}

const page = context.pages()[0] || (await context.newPage());
page.on('console', (m) => console.log(`[console] ${ts()} ${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => console.log(`[pageerror] ${ts()} ${e.message}`));
page.on('requestfailed', (r) =>
  console.log(`[net] ${ts()} request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
page.on('response', (r) => {
  if (r.status() >= 400) console.log(`[net] ${ts()} HTTP ${r.status()} ${r.url()}`);
});
let wsFramesIn = 0;
let wsFramesOut = 0;
page.on('websocket', (ws) => {
  console.log(`[ws] ${ts()} open ${ws.url()}`);
  ws.on('framereceived', () => { wsFramesIn++; });
  ws.on('framesent', () => { wsFramesOut++; });
  ws.on('socketerror', (e) => console.log(`[ws] ${ts()} error: ${e}`));
  ws.on('close', () => console.log(`[ws] ${ts()} closed (frames in=${wsFramesIn} out=${wsFramesOut})`));
});

// Runs inside the page: connection state from noVNC 1.3's UI plus pixel
// statistics of the remote framebuffer canvas.
function probe({ rootRgb, xterm, tol }) {
  const html = document.documentElement;
  const statusEl = document.getElementById('noVNC_status');
  const out = {
    connected: html.classList.contains('noVNC_connected'),
    htmlClass: html.className,
    status: statusEl ? statusEl.textContent.trim() : null,
    canvas: null,
  };
  const canvas = document.querySelector('#noVNC_container canvas');
  if (!canvas || !canvas.width || !canvas.height) return out;
  const w = canvas.width;
  const h = canvas.height;
  const data = canvas.getContext('2d').getImageData(0, 0, w, h).data;
  const near = (i, r, g, b) =>
    Math.abs(data[i] - r) <= tol && Math.abs(data[i + 1] - g) <= tol && Math.abs(data[i + 2] - b) <= tol;
  let root = 0, white = 0, black = 0;
  let xtWhite = 0, xtBlack = 0, xtTotal = 0, outsideRoot = 0, outsideTotal = 0;
  const [xx, xy, xw, xh] = xterm;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const isRoot = near(i, rootRgb[0], rootRgb[1], rootRgb[2]);
      const isWhite = data[i] >= 235 && data[i + 1] >= 235 && data[i + 2] >= 235;
      const isBlack = data[i] <= 20 && data[i + 1] <= 20 && data[i + 2] <= 20;
      if (isRoot) root++;
      if (isWhite) white++;
      if (isBlack) black++;
      // Inset by a few pixels so window borders don't count either way.
      if (x >= xx + 4 && x < xx + xw - 4 && y >= xy + 4 && y < xy + xh - 4) {
        xtTotal++;
        if (isWhite) xtWhite++;
        if (isBlack) xtBlack++;
      } else if (x < xx - 4 || x >= xx + xw + 4 || y < xy - 4 || y >= xy + xh + 4) {
        outsideTotal++;
        if (isRoot) outsideRoot++;
      }
    }
  }
  const px = (x, y) => {
    const i = (y * w + x) * 4;
    return [data[i], data[i + 1], data[i + 2]];
  };
  out.canvas = {
    width: w,
    height: h,
    rootFrac: root / (w * h),
    whiteFrac: white / (w * h),
    blackFrac: black / (w * h),
    xtermWhiteFrac: xtTotal ? xtWhite / xtTotal : 0,
    xtermBlackPx: xtBlack,
    outsideRootFrac: outsideTotal ? outsideRoot / outsideTotal : 0,
    corner: px(w - 5, h - 5),
    xtermCentre: px(Math.min(w - 1, xx + (xw >> 1)), Math.min(h - 1, xy + (xh >> 1))),
  };
  return out;
}

// The pass criteria. Returns null when satisfied, else a reason.
function verdict(s) {
  if (!s) return 'no state yet';
  if (!s.connected) return `noVNC not connected (html class "${s.htmlClass}", status "${s.status}")`;
  if (!/^Connected/.test(s.status || '')) return `status text is "${s.status}", not "Connected ..."`;
  const c = s.canvas;
  if (!c) return 'no noVNC canvas with a size yet';
  if (c.width !== screenW || c.height !== screenH)
    return `canvas is ${c.width}x${c.height}, remote screen is ${screenW}x${screenH}`;
  if (c.outsideRootFrac < 0.95)
    return `only ${(100 * c.outsideRootFrac).toFixed(1)}% of pixels outside the xterm are the root colour`;
  if (c.rootFrac < 0.5) return `only ${(100 * c.rootFrac).toFixed(1)}% of the canvas is the root colour`;
  if (c.xtermWhiteFrac < 0.6)
    return `only ${(100 * c.xtermWhiteFrac).toFixed(1)}% of the xterm area is white (xterm background)`;
  if (c.xtermBlackPx < 50) return `only ${c.xtermBlackPx} black pixels (xterm text) in the xterm area`;
  return null;
}

const TYPED = `${tls ? 'wss' : 'ws'}: typed via noVNC+websockify-rs `;
let typedDelta = 0;
let state = null;
let reason = 'not started';
let exitCode = 1;
try {
  console.log(`[net] ${ts()} goto ${url}`);
  const resp = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!resp || !resp.ok()) throw new Error(`page load: HTTP ${resp ? resp.status() : 'no response'}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    state = await page.evaluate(probe, { rootRgb, xterm: [xtX, xtY, xtW, xtH], tol: 12 });
    reason = verdict(state);
    if (!reason) break;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(250);
  }
  // Input round trip: point at the xterm (no window manager, so X keyboard
  // focus follows the pointer), type; the terminal echoes the characters and
  // the new text must come back through the proxy into the canvas.
  if (!reason) {
    const box = await page.locator('#noVNC_container canvas').boundingBox();
    await page.mouse.move(box.x + xtX + xtW / 2, box.y + xtY + xtH / 2);
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
try {
  await page.screenshot({ path: screenshotPath, fullPage: true });
  if (canvasPngPath) {
    const dataUrl = await page.evaluate(() => {
      const c = document.querySelector('#noVNC_container canvas');
      return c && c.width ? c.toDataURL('image/png') : null;
    });
    if (dataUrl) writeFileSync(canvasPngPath, Buffer.from(dataUrl.split(',')[1], 'base64'));
  }
} catch (e) {
  console.log(`[net] ${ts()} screenshot failed: ${e.message}`);
}
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
