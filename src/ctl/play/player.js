// The recording player of `websockifyctl play`: noVNC's own RFB client
// (core/rfb.js of the web root given to play) reads the recording through a
// fake WebSocket, so the screen is drawn by the same code as in a session.
// Play, pause, speed, and seek, which replays from the start as fast as
// noVNC draws up to the point (RFB has no key frames: every update builds on
// the ones before). Needs noVNC 1.3 or later (an RFB that takes a channel).
//
// The recording is parsed, never run: Python websockify's `--record` format
// (websockify.conf(5), RECORDING FILES), one `'{MS{DATA',` line per chunk
// sent to the browser; `}` lines (what the browser sent) are skipped.

import RFB from './novnc/core/rfb.js';

const $ = (id) => document.getElementById(id);

/** The bytes of one line's DATA (Python's unicode_escape of Latin-1). */
function unescape(s) {
  const out = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c === 0x5c) {
      const e = s[++i];
      if (e === 'x') { c = parseInt(s.substr(i + 1, 2), 16); i += 2; }
      else if (e === 'n') c = 10;
      else if (e === 'r') c = 13;
      else if (e === 't') c = 9;
      else c = (e || '\\').charCodeAt(0);
    }
    out[n++] = c & 0xff;
  }
  return out.slice(0, n);
}

/** The frames sent to the browser, with their times, and what the file says of itself. */
export function parse(bytes) {
  const text = new TextDecoder('latin1').decode(bytes);
  const frames = [];
  let complete = false, cut = false;
  for (const line of text.split('\n')) {
    const m = /^'([{}])(\d+)\1(.*)',?\s*$/.exec(line);
    if (m) {
      if (m[1] === '{') frames.push({ t: Number(m[2]), data: unescape(m[3]) });
    } else if (line.startsWith("'EOF'")) {
      complete = true;
    } else if (line.startsWith('// recording stopped')) {
      cut = true;
    }
  }
  return { frames, complete, cut };
}

/** What noVNC takes for a WebSocket: open at once; what the client sends goes nowhere. */
class FakeSocket {
  constructor() {
    this.binaryType = 'arraybuffer';
    this.protocol = '';
    this.readyState = 'open';
    this.onerror = () => {};
    this.onmessage = () => {};
    this.onopen = () => {};
    this.onclose = () => {};
  }
  send() {}
  close() {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    setTimeout(() => this.onclose({ code: 1000, reason: '', wasClean: true }));
  }
}

const later = (ms) => new Promise((r) => setTimeout(r, ms));

/** A recording played into `container`. */
export class Player {
  constructor(frames, container) {
    this.frames = frames;
    this.container = container;
    this.duration = frames.length ? frames[frames.length - 1].t : 0;
    this.position = 0;  // ms of the recording shown
    this.speed = 1;
    this.playing = false;
    this.ended = false;
    this.seeking = false;
    this.generation = 0;
    this.onchange = () => {};
    this.restart();
  }

  /** A new RFB client on a new fake socket, nothing fed yet. */
  restart() {
    if (this.rfb) this.rfb.disconnect();
    this.container.replaceChildren();
    document.documentElement.classList.remove('noVNC_connected');
    this.ws = new FakeSocket();
    const rfb = new RFB(this.container, this.ws);
    rfb.viewOnly = true;
    rfb.addEventListener('connect', () => {
      if (rfb === this.rfb) document.documentElement.classList.add('noVNC_connected');
    });
    // The recording has the server's answer whatever is sent: any password does.
    rfb.addEventListener('credentialsrequired', () =>
      rfb.sendCredentials({ username: '', password: '', target: '' }));
    this.rfb = rfb;
    this.next = 0;
  }

  /** noVNC is still drawing earlier updates (it then holds further data). */
  busy() {
    return this.rfb._flushing === true;
  }

  /** Feeds the frames up to `until` ms; false when it stopped to let noVNC draw. */
  feed(until) {
    while (this.next < this.frames.length && this.frames[this.next].t <= until) {
      if (this.busy()) return false;
      this.ws.onmessage({ data: this.frames[this.next++].data.buffer });
    }
    return true;
  }

  now() {
    return Math.min(this.duration, (performance.now() - this.base) * this.speed);
  }

  play() {
    if (this.playing || this.seeking) return;
    if (this.ended) { this.seek(0).then(() => this.play()); return; }
    this.base = performance.now() - this.position / this.speed;
    this.playing = true;
    this.tick();
  }

  pause() {
    if (!this.playing) return;
    this.position = this.now();
    this.playing = false;
    clearTimeout(this.timer);
    this.onchange();
  }

  setSpeed(speed) {
    if (this.playing) {
      this.position = this.now();
      this.base = performance.now() - this.position / speed;
    }
    this.speed = speed;
  }

  tick() {
    if (!this.playing) return;
    this.position = this.now();
    let wait = 10;  // noVNC is drawing: look again soon
    if (this.feed(this.position)) {
      if (this.next >= this.frames.length) {
        this.position = this.duration;
        this.playing = false;
        this.ended = true;
        this.onchange();
        return;
      }
      wait = Math.min(250, (this.frames[this.next].t - this.position) / this.speed);
    }
    this.onchange();
    this.timer = setTimeout(() => this.tick(), Math.max(0, wait));
  }

  /** Shows the screen at `ms`: replays from the start as fast as noVNC draws. */
  async seek(ms) {
    const generation = ++this.generation;
    const resume = this.playing;
    this.pause();
    this.seeking = true;
    this.onchange();
    this.restart();
    while (!this.feed(ms) || this.busy()) {
      await later(5);
      if (generation !== this.generation) return;  // a newer seek took over
    }
    this.position = ms;
    this.ended = this.next >= this.frames.length && ms >= this.duration;
    this.seeking = false;
    this.onchange();
    if (resume) this.play();
  }

  /** For tests and the page: where it is. */
  state() {
    return {
      position: this.position, duration: this.duration, playing: this.playing,
      ended: this.ended, seeking: this.seeking, frames: this.frames.length, fed: this.next,
    };
  }
}

const clock = (ms) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

async function main() {
  const params = new URLSearchParams(location.search);
  const resp = await fetch('recording', { cache: 'no-store' });
  if (!resp.ok) throw new Error(`recording: HTTP ${resp.status}`);
  const { frames, complete, cut } = parse(new Uint8Array(await resp.arrayBuffer()));
  if (!frames.length) throw new Error('no frames in the recording');
  const note = cut ? ' (stopped at record-max-size)' : complete ? '' : ' (incomplete: a write failed)';
  const player = new Player(frames, $('noVNC_container'));
  window.player = player;
  const seekbar = $('seek'), button = $('play');
  seekbar.max = String(player.duration);
  player.onchange = () => {
    const st = player.seeking ? 'seeking' : player.playing ? 'playing' : player.ended ? 'ended' : 'paused';
    $('status').textContent = st + note;
    button.textContent = player.playing ? 'Pause' : 'Play';
    if (!player.seeking && document.activeElement !== seekbar) seekbar.value = String(Math.round(player.position));
    $('time').textContent = `${clock(player.position)} / ${clock(player.duration)}`;
  };
  button.onclick = () => (player.playing ? player.pause() : player.play());
  $('speed').onchange = (e) => player.setSpeed(Number(e.target.value));
  seekbar.oninput = () => { $('time').textContent = `${clock(Number(seekbar.value))} / ${clock(player.duration)}`; };
  seekbar.onchange = () => { player.seek(Number(seekbar.value)); seekbar.blur(); };
  const speed = Number(params.get('speed'));
  if (speed > 0) { player.setSpeed(speed); $('speed').value = String(speed); }
  button.disabled = false;
  seekbar.disabled = false;
  player.onchange();
  if (params.get('autoplay') !== '0') player.play();
}

main().catch((e) => {
  $('status').textContent = `error: ${e.message}`;
  console.error(e);
});
