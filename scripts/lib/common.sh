# shellcheck shell=bash
# shellcheck disable=SC2317  # _cleanup, port_open, _xterm_mapped run via trap / wait_for
# Shared shell helpers for scripts/: logging, cleanup of started processes,
# waiting on conditions (never bare sleeps), prerequisites, a virtual desktop.
# Source it; it sets no options of its own.

log() { printf '[%s %s] %s\n' "$(basename "$0")" "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\n%s: ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# ------------------------------------------------------------- cleanup ---
# Every process given to track_pid is stopped on exit (SIGTERM, then SIGKILL
# after ~3 s), newest first; then the on_exit commands run.
_PIDS=()
_EXIT_CMDS=()
track_pid() { _PIDS+=("$1"); }
on_exit() { _EXIT_CMDS+=("$1"); }
# _reap PID: wait up to ~3 s for PID to go, then SIGKILL it and collect it.
_reap() {
  local n=0
  while kill -0 "$1" 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n+1)); done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
_cleanup() {
  local rc=$? i
  for ((i=${#_PIDS[@]}-1; i>=0; i--)); do kill "${_PIDS[$i]}" 2>/dev/null || true; done
  for ((i=${#_PIDS[@]}-1; i>=0; i--)); do _reap "${_PIDS[$i]}"; done
  for cmd in "${_EXIT_CMDS[@]}"; do eval "$cmd" || true; done
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop_pid PID: stop one tracked process now and forget it.
stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || true
  _reap "$pid"
  for i in "${!_PIDS[@]}"; do [ "${_PIDS[$i]}" = "$pid" ] && unset '_PIDS[i]'; done
  _PIDS=("${_PIDS[@]}")
}

# wait_for WHAT TIMEOUT_S PID_OR_EMPTY COMMAND...: poll COMMAND every 0.1 s
# until it succeeds; fail when the timeout passes or PID dies first.
wait_for() {
  local what=$1 timeout=$2 pid=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      log "$what: process $pid exited"; return 1
    fi
    if [ $SECONDS -ge $deadline ]; then log "$what: not ready after ${timeout}s"; return 1; fi
    sleep 0.1
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A TCP port free on 127.0.0.1 right now (python3, or else node).
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  elif command -v node >/dev/null 2>&1; then
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
  else
    die "free_port: needs python3 or node"
  fi
}

# ------------------------------------------------------- prerequisites ---
# apt_install PKG...: apt-get install (no recommends), via sudo when not root.
# With APT_LOG=FILE set, apt's own output goes to FILE (appended) and only one
# line per step is printed; a failure names FILE.
apt_install() {
  local sudo=() out=/dev/stderr where=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages ($*); run as root: apt-get install $*"
    sudo=(sudo)
  fi
  if [ -n "${APT_LOG:-}" ]; then
    out=$APT_LOG where=" (its output: $APT_LOG)"
  fi
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update${where}"
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >>"$out" 2>&1 \
    || die "apt-get update failed${where}"
  log "installing Debian packages: $*${where}"
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@" >>"$out" 2>&1 \
    || die "apt-get install $* failed${where}"
}

# need_packages PKG...: installs the Debian packages that are not installed.
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# Rust 1.88 or newer must be on PATH (Debian 12's own rustc is too old).
need_cargo() {
  # shellcheck source=/dev/null
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust >= 1.88 with rustup (https://rustup.rs), then run this again"
}

# cargo_tool NAME VERSION: prints the path of the cargo-installed tool NAME
# at VERSION, installing it from crates.io the first time (`cargo install
# --locked`, a few minutes, once) into ~/.cache/websockify-rs/NAME-VERSION,
# away from ~/.cargo/bin and from the project's target/. Dies if that fails.
cargo_tool() {
  local name=$1 version=$2 root
  root="${XDG_CACHE_HOME:-$HOME/.cache}/websockify-rs/$name-$version"
  if [ ! -x "$root/bin/$name" ]; then
    log "installing $name $version into $root (cargo install --locked; a few minutes, once)"
    env -u CARGO_TARGET_DIR cargo install "$name" --version "$version" --locked --root "$root" >&2 \
      || die "cargo install $name --version $version --locked failed"
  fi
  printf '%s\n' "$root/bin/$name"
}

# need_node MAJOR [WHY]: node on PATH, version MAJOR or newer.
need_node() {
  command -v node >/dev/null 2>&1 || die "node not found: Node.js >= $1 is needed${2:+ by $2}"
  node -e 'process.exit(+process.versions.node.split(".")[0] >= +process.argv[1] ? 0 : 1)' "$1" \
    || die "Node.js >= $1 is needed${2:+ by $2}; found $(node --version)"
}

# ------------------------------------------------------ virtual desktop ---
# start_desktop TMPDIR [LOGDIR]: Xvfb on a display it picks itself
# (-displayfd), a solid root colour and one xterm at a fixed place (no window
# manager); returns once the xterm is on screen. Logs go to LOGDIR (default
# TMPDIR). Sets XDISP and XTERM_RECT ("x,y,w,h" of the xterm window).
# Tunable before the call:
DESKTOP_SIZE="${DESKTOP_SIZE:-1280x800}"
DESKTOP_COLOUR="${DESKTOP_COLOUR:-#1f8f3a}"
XTERM_TITLE="${XTERM_TITLE:-websockify-demo}"
XTERM_GEOMETRY="${XTERM_GEOMETRY:-100x30+40+40}"
XTERM_CMD="${XTERM_CMD:-echo \"This desktop reached you through websockify-rs.\"; exec bash -i}"
# DESKTOP_X=Xvnc makes the X server TigerVNC's Xvnc (itself the VNC server)
# instead of Xvfb; DESKTOP_X_ARGS (an array) adds arguments to it.
DESKTOP_X="${DESKTOP_X:-Xvfb}"
# DESKTOP_USER=NAME runs Xvfb, the xterm (and its shell) and x11vnc as that
# user instead of the caller (needs root; the user must exist).
DESKTOP_USER="${DESKTOP_USER:-}"
# as_desktop_user CMD... &: execs CMD as $DESKTOP_USER, so that $! is CMD's
# pid. Only in the background (`&`): it replaces the shell that runs it.
as_desktop_user() {
  if [ -n "$DESKTOP_USER" ]; then
    exec setpriv --reuid="$DESKTOP_USER" --regid="$(id -g "$DESKTOP_USER")" --init-groups --reset-env "$@"
  fi
  exec "$@"
}
_xterm_mapped() { xwininfo -display "$XDISP" -name "$XTERM_TITLE" 2>/dev/null | grep -q 'Map State: IsViewable'; }
start_desktop() {
  local tmp=$1 logs=${2:-$1} xwi pid
  local screen=(-screen 0 "${DESKTOP_SIZE}x24")
  [ "$DESKTOP_X" != Xvnc ] || screen=(-geometry "$DESKTOP_SIZE" -depth 24)
  as_desktop_user "$DESKTOP_X" -displayfd 3 "${screen[@]}" -nolisten tcp -noreset ${DESKTOP_X_ARGS[@]+"${DESKTOP_X_ARGS[@]}"} \
    3>"$tmp/displayfd" >"$logs/xvfb.log" 2>&1 &
  pid=$!; track_pid $pid
  wait_for "$DESKTOP_X" 10 $pid grep -q '^[0-9]' "$tmp/displayfd" || { cat "$logs/xvfb.log" >&2; die "$DESKTOP_X did not start"; }
  XDISP=":$(head -n1 "$tmp/displayfd" | tr -dc 0-9)"
  wait_for "X display $XDISP" 10 $pid xdpyinfo -display "$XDISP" || die "X display $XDISP does not answer"
  xsetroot -display "$XDISP" -solid "$DESKTOP_COLOUR"
  as_desktop_user xterm -display "$XDISP" -T "$XTERM_TITLE" -geometry "$XTERM_GEOMETRY" -bg white -fg black -xrm 'XTerm*allowTitleOps: false' \
    -e /bin/sh -c "$XTERM_CMD" >"$logs/xterm.log" 2>&1 &
  pid=$!; track_pid $pid
  wait_for "xterm window" 10 $pid _xterm_mapped || { cat "$logs/xterm.log" >&2; die "xterm did not appear"; }
  xwi=$(xwininfo -display "$XDISP" -name "$XTERM_TITLE")
  XTERM_RECT=$(printf '%s\n' "$xwi" | awk -F: '
    /Absolute upper-left X/ {x=$2+0} /Absolute upper-left Y/ {y=$2+0}
    /^ *Width:/ {w=$2+0} /^ *Height:/ {h=$2+0} END {print x "," y "," w "," h}')
  log "virtual desktop on $XDISP (${DESKTOP_SIZE}), xterm at x,y,w,h=$XTERM_RECT"
}

# start_vnc LOGDIR [X11VNC_ARGS...]: x11vnc on $XDISP, 127.0.0.1 only, log in
# LOGDIR/x11vnc.log (-quiet unless VNC_QUIET=0). Sets VNC_PORT.
start_vnc() {
  local logs=$1 quiet=(-quiet); shift
  [ "${VNC_QUIET:-1}" = 1 ] || quiet=()
  VNC_PORT=$(free_port)
  as_desktop_user x11vnc -display "$XDISP" -localhost -rfbport "$VNC_PORT" -forever -shared "${quiet[@]}" "$@" >"$logs/x11vnc.log" 2>&1 &
  track_pid $!
  wait_for "x11vnc on port $VNC_PORT" 20 $! port_open "$VNC_PORT" || { tail -n 30 "$logs/x11vnc.log" >&2; die "x11vnc did not start"; }
  log "VNC server on 127.0.0.1:$VNC_PORT"
}
