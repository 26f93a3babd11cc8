# shellcheck shell=bash
# noVNC web roots of several releases for scripts/e2e-browser, fetched once
# into ~/.cache/websockify-rs/novnc/VERSION/ (webroot/ + SOURCE). Where each
# comes from (the Ubuntu archive is not reachable from here, nor GitHub):
#
#   1.3  Debian 12 (bookworm) package novnc 1:1.3.0-*  (= Ubuntu 24.04's 1.3.0)
#        the whole web root: vnc.html + app/ + core/ + vendor/
#   1.6  Debian 13 (trixie) package novnc 1:1.6.0-*, same
#   1.0  npm package @novnc/novnc@1.0.0   (Ubuntu 22.04 ships 1:1.0.0-5)
#   1.7  npm package @novnc/novnc@1.7.0   (the newest upstream release)
#        The noVNC project publishes only its client library on npm (core/,
#        vendor/pako), not vnc.html and app/: these two run noVNC's RFB client
#        in our page tests/browser/rfb.html (what noVNC's own vnc_lite.html
#        does), which the test copies next to core/.
#
# Debian packages come through deb_download (scripts/lib/debdownload.sh).
# Needs log/die from scripts/lib/common.sh. Every failure dies, naming why.
# shellcheck source=scripts/lib/debdownload.sh
. "$(dirname "${BASH_SOURCE[0]}")/debdownload.sh"

NOVNC_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/websockify-rs/novnc"
NOVNC_VERSIONS_KNOWN="1.0 1.3 1.6 1.7"

# novnc_source VERSION: "debian SUITE PKGVERSION-PREFIX" or "npm SPEC".
novnc_source() {
  case "$1" in
    1.0) echo "npm @novnc/novnc@1.0.0" ;;
    1.3) echo "debian bookworm 1:1.3.0-" ;;
    1.6) echo "debian trixie 1:1.6.0-" ;;
    1.7) echo "npm @novnc/novnc@1.7.0" ;;
    *) die "noVNC $1: unknown version (known: $NOVNC_VERSIONS_KNOWN)" ;;
  esac
}

# novnc_page VERSION: the page the browser opens in that web root.
novnc_page() {
  case "$(novnc_source "$1")" in
    debian*) echo vnc.html ;;
    npm*) echo rfb.html ;;
  esac
}

# _novnc_from_debian DIR SUITE VERSION_PREFIX: DIR/webroot from the suite's
# novnc package; its origin line to DIR/SOURCE.part.
_novnc_from_debian() {
  local dir=$1 suite=$2 want=$3 deb sha
  deb=$(deb_download "$suite" novnc "$want" "$dir") || die "noVNC: no novnc package from Debian $suite"
  sha=$(sha256sum "$deb" | cut -d' ' -f1)
  dpkg-deb -x "$deb" "$dir/x" || die "dpkg-deb -x $deb failed"
  [ -f "$dir/x/usr/share/novnc/vnc.html" ] || die "$deb has no usr/share/novnc/vnc.html"
  mv "$dir/x/usr/share/novnc" "$dir/webroot"
  printf 'Debian %s package novnc %s (%s, sha256 %s, checked by apt against the signed Release file)\n' \
    "$suite" "$(dpkg-deb -f "$deb" Version)" "$(basename "$deb")" "$sha" >"$dir/SOURCE.part"
  rm -rf "$dir/x" "$deb"
}

# _novnc_from_npm DIR SPEC: DIR/webroot from the npm package's tarball
# (npm pack checks it against the registry's integrity hash).
_novnc_from_npm() {
  local dir=$1 spec=$2 tgz integrity
  mkdir -p "$dir/npm" "$HOME/.cache/npm"
  log "noVNC from npm: npm pack $spec"
  (cd "$dir/npm" && npm pack "$spec" --json --cache "$HOME/.cache/npm" --prefer-offline >pack.json 2>pack.log) \
    || { cat "$dir/npm/pack.log" >&2; die "npm pack $spec failed"; }
  local tgzs=("$dir"/npm/*.tgz); tgz=${tgzs[0]}
  [ -f "$tgz" ] || die "npm pack $spec left no tarball"
  integrity=$(node -e 'console.log(require(process.argv[1])[0].integrity)' "$dir/npm/pack.json")
  mkdir -p "$dir/npm/x"
  tar -xzf "$tgz" -C "$dir/npm/x" || die "cannot unpack $tgz"
  [ -f "$dir/npm/x/package/core/rfb.js" ] || die "$spec has no core/rfb.js"
  mv "$dir/npm/x/package" "$dir/webroot"
  printf 'npm package %s (%s, integrity %s; noVNC core/ and vendor/ only, page tests/browser/rfb.html)\n' \
    "$spec" "$(basename "$tgz")" "$integrity" >"$dir/SOURCE.part"
  rm -rf "$dir/npm"
}

# novnc_webroot VERSION: prints the cached web root of that noVNC release,
# fetching it first when the cache lacks it (SOURCE is written last, so a
# half-done fetch is redone).
novnc_webroot() {
  local v=$1 dir src
  dir="$NOVNC_CACHE/$v"
  src=$(novnc_source "$v")
  if [ ! -s "$dir/SOURCE" ] || [ ! -d "$dir/webroot" ]; then
    rm -rf "$dir"; mkdir -p "$dir"
    # shellcheck disable=SC2086  # word splitting wanted: "KIND ARGS..."
    case "$src" in
      debian*) set -- $src; _novnc_from_debian "$dir" "$2" "$3" ;;
      npm*) set -- $src; _novnc_from_npm "$dir" "$2" ;;
    esac
    mv "$dir/SOURCE.part" "$dir/SOURCE"
    log "noVNC $v cached in $dir: $(cat "$dir/SOURCE")"
  fi
  printf '%s\n' "$dir/webroot"
}

# novnc_origin VERSION: the SOURCE line of a cached version.
novnc_origin() { cat "$NOVNC_CACHE/$1/SOURCE"; }
