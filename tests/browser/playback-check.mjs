// Driver for scripts/e2e-browser's playback run: opens the player that
// `websockifyctl play` serves (E2E_URL) for a session recorded against the
// known desktop, and checks with noVNC's canvas that
//   1. paused at 0:00 it shows no desktop yet,
//   2. seek to the end shows the desktop (fast: a replay, not real time) and
//      the live session's last frame (E2E_LIVE_PNG, the canvas novnc-check
//      saved), pixel for pixel within a tolerance,
//   3. seek back to 0:00 shows no desktop again,
//   4. Play at 16x (the page's own button and speed list) runs to the end
//      and shows the live session's last frame again.
//
// Environment: E2E_URL, E2E_LIVE_PNG, E2E_PROFILE, E2E_SCREENSHOT,
// E2E_CANVAS_PNG, E2E_ROOT_RGB, E2E_SCREEN, E2E_XTERM, E2E_TIMEOUT_MS,
// E2E_CHROMIUM (as novnc-check.mjs). Prints "playback-check: OK ..." or
// "playback-check: FAIL ..." and exits 0 or 1.

import { readFileSync } from 'node:fs';
import { desktopVerdict, launch, logPage, probe, saveShots, ts } from './desktop.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) { console.error(`playback-check: FAIL: ${k} is not set`); process.exit(1); }
  return v;
};
const url = env('E2E_URL');
const live = readFileSync(env('E2E_LIVE_PNG')).toString('base64');
const rootRgb = env('E2E_ROOT_RGB').split(',').map(Number);
const screen = env('E2E_SCREEN').split('x').map(Number);
const xterm = env('E2E_XTERM').split(',').map(Number);
const timeoutMs = Number(process.env.E2E_TIMEOUT_MS || 30000);
/** Share of pixels that must equal the live frame (each channel within 8). */
const SAME = 0.99;

const context = await launch({
  profile: env('E2E_PROFILE'), executablePath: env('E2E_CHROMIUM'), tls: false, screen,
});
const page = context.pages()[0] || await context.newPage();
logPage(page);

const look = () => page.evaluate(probe, { rootRgb, xterm, tol: 12 });
const player = () => page.evaluate(() => window.player && window.player.state());

/** Runs in the page: the share of canvas pixels equal to the PNG `b64`. */
async function sameAsLive(b64) {
  const img = new Image();
  img.src = `data:image/png;base64,${b64}`;
  await img.decode();
  const canvas = document.querySelector('#noVNC_container canvas');
  if (!canvas || canvas.width !== img.width || canvas.height !== img.height) {
    return { frac: 0, why: `canvas ${canvas && canvas.width}x${canvas && canvas.height}, live ${img.width}x${img.height}` };
  }
  const ref = document.createElement('canvas');
  ref.width = img.width; ref.height = img.height;
  const rc = ref.getContext('2d');
  rc.drawImage(img, 0, 0);
  const a = rc.getImageData(0, 0, img.width, img.height).data;
  const b = canvas.getContext('2d').getImageData(0, 0, img.width, img.height).data;
  let same = 0;
  for (let i = 0; i < a.length; i += 4) {
    if (Math.abs(a[i] - b[i]) <= 8 && Math.abs(a[i + 1] - b[i + 1]) <= 8 && Math.abs(a[i + 2] - b[i + 2]) <= 8) same++;
  }
  return { frac: same / (a.length / 4), why: '' };
}

/** Waits until `done(state)` holds for the player's state; its last state. */
async function until(what, done) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await player();
    if (st && done(st)) return st;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(st)} after ${timeoutMs} ms`);
    await page.waitForTimeout(50);
  }
}

/** The desktop and the live frame on the canvas, or why not. */
async function showsLiveFrame(when) {
  const s = await look();
  const v = desktopVerdict(s, screen);
  if (v) throw new Error(`${when}: ${v}`);
  const m = await page.evaluate(sameAsLive, live);
  if (m.frac < SAME) {
    throw new Error(`${when}: only ${(100 * m.frac).toFixed(2)}% of pixels as in the live session ${m.why}`);
  }
  return m.frac;
}

/** No desktop on the canvas (as at 0:00), or why there is one. */
async function showsNoDesktop(when) {
  const s = await look();
  if (!desktopVerdict(s, screen)) throw new Error(`${when}: the desktop is already shown`);
}

let reason = null, summary = '';
try {
  console.log(`[net] ${ts()} goto ${url}?autoplay=0`);
  const resp = await page.goto(`${url}?autoplay=0`, { waitUntil: 'load', timeout: 15000 });
  if (!resp || resp.status() !== 200) throw new Error(`page load: HTTP ${resp ? resp.status() : 'none'}`);
  const start = await until('the player', (st) => st.frames > 0);
  await showsNoDesktop('paused at 0:00');

  const t0 = Date.now();
  await page.evaluate(() => window.player.seek(window.player.duration));
  const atEnd = await until('seek to the end', (st) => !st.seeking && st.ended);
  const seekMs = Date.now() - t0;
  const f1 = await showsLiveFrame('after seek to the end');

  await page.evaluate(() => window.player.seek(0));
  await until('seek to 0:00', (st) => !st.seeking && st.position === 0);
  await showsNoDesktop('after seek back to 0:00');

  await page.selectOption('#speed', '16');
  await page.click('#play');
  const t1 = Date.now();
  await until('play at 16x to the end', (st) => st.ended && !st.playing);
  const playMs = Date.now() - t1;
  const f2 = await showsLiveFrame('after playing to the end');
  summary = `${start.frames} frames over ${(atEnd.duration / 1000).toFixed(1)} s; seek to the end ` +
    `took ${seekMs} ms (${(100 * f1).toFixed(2)}% of pixels as live), back to 0:00 shows no desktop, ` +
    `play at 16x took ${playMs} ms (${(100 * f2).toFixed(2)}% as live)`;
} catch (e) {
  reason = e.message;
}
await saveShots(page, env('E2E_SCREENSHOT'), process.env.E2E_CANVAS_PNG || '');
await context.close().catch(() => {});
if (reason) {
  console.error(`playback-check: FAIL after ${ts()}: ${reason}`);
  process.exit(1);
}
console.log(`playback-check: OK after ${ts()}: ${summary}`);
process.exit(0);
