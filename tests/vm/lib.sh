# shellcheck shell=bash
# What the test scripts here share; each sources it right after
# `set -Eeuo pipefail`, as
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# which finds it beside the script both in the tree and under /harness, where
# scripts/lib/debroot.sh (debroot_harness_files) copies it next to test.sh.
# Sourcing it also sets the ERR trap that turns any failing command into a
# FAIL line naming it.

# ok WHAT: one passed check.
ok() { echo "ok - $*"; }
# fail WHAT: the first broken check; the script ends with status 1.
fail() { echo "FAIL - $*"; exit 1; }
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

# journal_has UNIT PATTERN: the unit's journal gets a line matching PATTERN
# within 10 s (journald receives a line a moment after the daemon writes it).
journal_has() {
  local _
  for _ in $(seq 1 50); do
    journalctl -u "$1" --no-pager -o cat | grep -q "$2" && return 0
    sleep 0.2
  done
  return 1
}

# wait_port PORT [TENTHS]: something accepts on 127.0.0.1:PORT within TENTHS
# tenths of a second (200: 20 s).
wait_port() {
  local _
  for _ in $(seq 1 "${2:-200}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
