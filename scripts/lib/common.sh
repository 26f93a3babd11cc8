# Shared shell helpers for scripts/: logging, cleanup of started processes,
# waiting on conditions (never bare sleeps), prerequisites, a virtual desktop.
# Source it; it sets no options of its own.

log() { printf '[%s %s] %s\n' "$(basename "$0")" "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '\n%s: ERROR: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# ------------------------------------------------------------- cleanup ---
_PIDS=()
_EXIT_CMDS=()
track_pid() { _PIDS+=("$1"); }
on_exit() { _EXIT_CMDS+=("$1"); }
_cleanup() {
  local rc=$? i n
  for ((i=${#_PIDS[@]}-1; i>=0; i--)); do kill "${_PIDS[$i]}" 2>/dev/null || true; done
  for ((i=${#_PIDS[@]}-1; i>=0; i--)); do
    n=0
    while kill -0 "${_PIDS[$i]}" 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n+1)); done
    kill -9 "${_PIDS[$i]}" 2>/dev/null || true
    wait "${_PIDS[$i]}" 2>/dev/null || true
  done
  for cmd in "${_EXIT_CMDS[@]}"; do eval "$cmd" || true; done
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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

# A TCP port free on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------- prerequisites ---
# need_packages PKG...: installs the Debian packages that are not installed.
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages (${missing[*]}); run as root: apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || die "apt-get update failed"
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
}

# Rust 1.85 or newer must be on PATH (Debian 12's own rustc is too old).
need_cargo() {
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
  command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust >= 1.85 with rustup (https://rustup.rs), then run this again"
}

# ------------------------------------------------------ virtual desktop ---
# start_desktop TMPDIR: Xvfb on a display it picks itself (-displayfd), a
# solid root colour and an xterm. Sets XDISP.
DESKTOP_COLOUR='#1f8f3a'
start_desktop() {
  local tmp=$1
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp -noreset 3>"$tmp/displayfd" >"$tmp/xvfb.log" 2>&1 &
  track_pid $!
  wait_for "Xvfb" 10 $! grep -q '^[0-9]' "$tmp/displayfd" || { cat "$tmp/xvfb.log" >&2; die "Xvfb did not start"; }
  XDISP=":$(head -n1 "$tmp/displayfd" | tr -dc 0-9)"
  wait_for "X display $XDISP" 10 "" xdpyinfo -display "$XDISP" || die "X display $XDISP does not answer"
  xsetroot -display "$XDISP" -solid "$DESKTOP_COLOUR"
  xterm -display "$XDISP" -T websockify-demo -geometry 100x30+40+40 -bg white -fg black \
    -e /bin/sh -c 'echo "This desktop reached you through websockify-rs."; exec bash -i' >"$tmp/xterm.log" 2>&1 &
  track_pid $!
  log "virtual desktop on $XDISP"
}

# start_vnc TMPDIR [X11VNC_ARGS...]: x11vnc on $XDISP, 127.0.0.1 only. Sets VNC_PORT.
start_vnc() {
  local tmp=$1; shift
  VNC_PORT=$(free_port)
  x11vnc -display "$XDISP" -localhost -rfbport "$VNC_PORT" -forever -shared -quiet "$@" >"$tmp/x11vnc.log" 2>&1 &
  track_pid $!
  wait_for "x11vnc on port $VNC_PORT" 20 $! port_open "$VNC_PORT" || { cat "$tmp/x11vnc.log" >&2; die "x11vnc did not start"; }
  log "VNC server on 127.0.0.1:$VNC_PORT"
}
