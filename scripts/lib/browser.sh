# shellcheck shell=bash
# What a browser test needs, for scripts that drive noVNC in headless
# Chromium (scripts/e2e-vncauth): Debian's Chromium, Node.js and
# playwright-core as tests/browser/package-lock.json pins it, and the proxy
# binary under test. Source it after scripts/lib/common.sh.

# need_browser_driver DRIVER_DIR: /usr/bin/chromium, node >= 20, npm, and
# playwright-core installed in DRIVER_DIR exactly as locked (npm ci; never a
# browser download).
need_browser_driver() {
  local dir=$1 want have=""
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  # Commands, not packages: NodeSource's nodejs brings its own npm.
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing (apt-get install chromium)"
  need_node 20 playwright-core
  want=$(node -e 'console.log(require(process.argv[1]).packages["node_modules/playwright-core"].version)' \
           "$dir/package-lock.json")
  [ -f "$dir/node_modules/playwright-core/package.json" ] && \
    have=$(node -e 'console.log(require(process.argv[1]).version)' \
             "$dir/node_modules/playwright-core/package.json")
  if [ "$have" != "$want" ]; then
    log "npm ci in $dir (playwright-core $want)"
    mkdir -p "$HOME/.cache/npm"
    (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
       npm ci --cache "$HOME/.cache/npm" --prefer-offline --no-audit --no-fund >&2) \
      || die "npm ci in $dir failed"
  fi
  [ -f "$dir/node_modules/playwright-core/package.json" ] || die "playwright-core not installed in $dir"
}

# need_proxy_bin ROOT_DIR: sets BIN to $WEBSOCKIFY_BIN, or to
# ROOT_DIR/target/release/websockify (built when missing).
need_proxy_bin() {
  local root=$1
  if [ -n "${WEBSOCKIFY_BIN:-}" ]; then
    BIN=$WEBSOCKIFY_BIN
  else
    BIN="$root/target/release/websockify"
    if [ ! -x "$BIN" ]; then
      need_cargo
      log "building $BIN (cargo build --release --locked)"
      (cd "$root" && cargo build --release --locked >&2) || die "cargo build --release failed"
    fi
  fi
  command -v "$BIN" >/dev/null 2>&1 || [ -x "$BIN" ] || die "proxy binary '$BIN' not found or not executable"
}
