// Shared by the browser drivers (novnc-check.mjs, novnc-vncauth.mjs,
// refused-check.mjs, oidc-check.mjs): reading their environment, launching Debian's headless
// Chromium, logging what the page does, and judging noVNC's canvas against
// the known desktop that scripts/lib/common.sh's start_desktop paints (a
// solid root colour and a white xterm with black text at a known place).

import { chromium } from 'playwright-core';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';

const t0 = Date.now();

/** The environment variable `name`; without it the driver ends with status
 * 2, naming itself and the variable (the harness forgot to set it). */
export function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${basename(process.argv[1], '.mjs')}: environment variable ${name} is required`);
    process.exit(2);
  }
  return v;
}
/** Seconds since the driver started, for log lines. */
export const ts = () => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;

/** A persistent Chromium context on a fresh profile; `extra` goes to
 * playwright's launchPersistentContext (e.g. httpCredentials). */
export async function launch({ profile, executablePath, tls, screen, extra = {} }) {
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage',
  ];
  if (tls) args.push('--ignore-certificate-errors');
  return chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    chromiumSandbox: false,
    args,
    ignoreHTTPSErrors: tls,
    viewport: { width: screen[0] + 160, height: screen[1] + 80 },
    timeout: 30000,
    ...extra,
  });
}

/** launch() on E2E_PROFILE and E2E_CHROMIUM (default /usr/bin/chromium);
 * when Chromium does not start, the driver ends with status 2, naming
 * itself. */
export async function launchFromEnv({ tls, screen, extra = {} }) {
  const executablePath = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
  try {
    return await launch({ profile: need('E2E_PROFILE'), executablePath, tls, screen, extra });
  } catch (e) {
    console.error(`${basename(process.argv[1], '.mjs')}: could not launch ${executablePath}: ${e.message}`);
    process.exit(2);
  }
}

/** Runs in the page: how a WebSocket to `u` ends ("open", "closed CODE",
 * or "no answer" after 10 s). */
export function tryWebSocket(u) {
  return new Promise((resolve) => {
    const s = new WebSocket(u, ['binary']);
    const timer = setTimeout(() => resolve('no answer'), 10000);
    s.onopen = () => { clearTimeout(timer); s.close(); resolve('open'); };
    s.onclose = (e) => { clearTimeout(timer); resolve(`closed ${e.code}`); };
  });
}

/** Console, page errors, failed requests and WebSocket events to stdout. */
export function logPage(page) {
  page.on('console', (m) => console.log(`[console] ${ts()} ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[pageerror] ${ts()} ${e.message}`));
  page.on('requestfailed', (r) =>
    console.log(`[net] ${ts()} request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) console.log(`[net] ${ts()} HTTP ${r.status()} ${r.url()}`);
  });
  page.on('websocket', (ws) => {
    console.log(`[ws] ${ts()} open ${ws.url()}`);
    ws.on('socketerror', (e) => console.log(`[ws] ${ts()} error: ${e}`));
    ws.on('close', () => console.log(`[ws] ${ts()} closed`));
  });
}

/** Runs inside the page: noVNC 1.3's connection state and statistics of
 * the remote framebuffer canvas. */
export function probe({ rootRgb, xterm, tol }) {
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
  const { width: w, height: h } = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, w, h).data;
  const near = (i) => Math.abs(data[i] - rootRgb[0]) <= tol &&
    Math.abs(data[i + 1] - rootRgb[1]) <= tol && Math.abs(data[i + 2] - rootRgb[2]) <= tol;
  const [xx, xy, xw, xh] = xterm;
  let root = 0, xtWhite = 0, xtBlack = 0, xtTotal = 0, outsideRoot = 0, outsideTotal = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const isRoot = near(i);
      if (isRoot) root++;
      // Inset by a few pixels so window borders don't count either way.
      if (x >= xx + 4 && x < xx + xw - 4 && y >= xy + 4 && y < xy + xh - 4) {
        xtTotal++;
        if (data[i] >= 235 && data[i + 1] >= 235 && data[i + 2] >= 235) xtWhite++;
        if (data[i] <= 20 && data[i + 1] <= 20 && data[i + 2] <= 20) xtBlack++;
      } else if (x < xx - 4 || x >= xx + xw + 4 || y < xy - 4 || y >= xy + xh + 4) {
        outsideTotal++;
        if (isRoot) outsideRoot++;
      }
    }
  }
  out.canvas = {
    width: w,
    height: h,
    rootFrac: root / (w * h),
    xtermWhiteFrac: xtTotal ? xtWhite / xtTotal : 0,
    xtermBlackPx: xtBlack,
    outsideRootFrac: outsideTotal ? outsideRoot / outsideTotal : 0,
  };
  return out;
}

/** null when `s` (from probe) shows noVNC connected to the known desktop
 * of size `screen`, else why not. */
export function desktopVerdict(s, screen) {
  if (!s) return 'no state yet';
  if (!s.connected) return `noVNC not connected (html class "${s.htmlClass}", status "${s.status}")`;
  const c = s.canvas;
  if (!c) return 'no noVNC canvas with a size yet';
  if (c.width !== screen[0] || c.height !== screen[1])
    return `canvas is ${c.width}x${c.height}, remote screen is ${screen[0]}x${screen[1]}`;
  if (c.outsideRootFrac < 0.95)
    return `only ${(100 * c.outsideRootFrac).toFixed(1)}% of pixels outside the xterm are the root colour`;
  if (c.xtermWhiteFrac < 0.6)
    return `only ${(100 * c.xtermWhiteFrac).toFixed(1)}% of the xterm area is white (xterm background)`;
  if (c.xtermBlackPx < 50) return `only ${c.xtermBlackPx} black pixels (xterm text) in the xterm area`;
  return null;
}

/** desktopVerdict, plus what noVNC itself shows: its status text
 * "Connected ..." and the root colour over at least half of the canvas. */
export function connectedVerdict(s, screen) {
  const r = desktopVerdict(s, screen);
  if (r) return r;
  if (!/^Connected/.test(s.status || '')) return `status text is "${s.status}", not "Connected ..."`;
  if (s.canvas.rootFrac < 0.5) return `only ${(100 * s.canvas.rootFrac).toFixed(1)}% of the canvas is the root colour`;
  return null;
}

/** Probes `page` every 250 ms until connectedVerdict holds or `timeoutMs`
 * passes: { state, reason }, reason null when noVNC shows the desktop. */
export async function waitForDesktop(page, { rootRgb, xterm, screen, timeoutMs }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await page.evaluate(probe, { rootRgb, xterm, tol: 12 });
    const reason = connectedVerdict(state, screen);
    if (!reason || Date.now() > deadline) return { state, reason };
    await page.waitForTimeout(250);
  }
}

/** Saves a page screenshot and, when there is one, the canvas as PNG. */
export async function saveShots(page, screenshotPath, canvasPngPath) {
  try {
    await page.screenshot({ path: screenshotPath, fullPage: true });
    if (!canvasPngPath) return;
    const dataUrl = await page.evaluate(() => {
      const c = document.querySelector('#noVNC_container canvas');
      return c && c.width ? c.toDataURL('image/png') : null;
    });
    if (dataUrl) writeFileSync(canvasPngPath, Buffer.from(dataUrl.split(',')[1], 'base64'));
  } catch (e) {
    console.log(`[net] ${ts()} screenshot failed: ${e.message}`);
  }
}
