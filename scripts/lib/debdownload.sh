# shellcheck shell=bash
# deb_download SUITE PACKAGE VERSION_PREFIX DIR: downloads PACKAGE as Debian
# SUITE has it (its version must start with VERSION_PREFIX) into DIR, and
# prints the .deb's path. apt-get runs with a private state (sources list,
# lists, cache under DIR/apt), so the machine's apt configuration is neither
# used for sources nor changed, and apt still checks the download against the
# suite's signed Release file (debian-archive-keyring). Dies on any failure.
# Needs log/die/need_packages from scripts/lib/common.sh.
DEB_MIRROR="${DEB_MIRROR:-${DEBROOT_MIRROR:-http://deb.debian.org/debian}}"

deb_download() {
  local suite=$1 pkg=$2 want=$3 dir=$4 apt version
  apt="$dir/apt"
  need_packages debian-archive-keyring
  rm -rf "$apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
    "$DEB_MIRROR" "$suite" >"$apt/sources.list"
  local -a opts=(
    -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Dir::State::status=/dev/null
    -o APT::Sandbox::User=root -o Acquire::Languages=none
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
  )
  log "Debian $suite's $pkg: apt-get update (private state in $apt)"
  apt-get "${opts[@]}" update -q --error-on=any >"$apt/update.log" 2>&1 \
    || { tail -n 20 "$apt/update.log" >&2; die "apt-get update for Debian $suite ($DEB_MIRROR) failed"; }
  version=$(apt-cache "${opts[@]}" show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n1)
  case "$version" in
    "$want"*) ;;
    *) die "Debian $suite offers $pkg '${version:-nothing}', expected $want*" ;;
  esac
  (cd "$apt/dl" && apt-get "${opts[@]}" download "$pkg=$version" >"$apt/download.log" 2>&1) \
    || { cat "$apt/download.log" >&2; die "apt-get download $pkg=$version from Debian $suite failed"; }
  local debs=("$apt/dl/${pkg}_"*.deb)
  [ -f "${debs[0]}" ] || die "apt-get download left no $pkg .deb in $apt/dl"
  mv "${debs[0]}" "$dir/" && rm -rf "$apt"
  printf '%s\n' "$dir/$(basename "${debs[0]}")"
}
