# What the benchmarks under scripts/bench.d share; sourced, not run.
#
#   salvo_binary NAME    sets `salvo`: $SALVO_BIN when given, else a release build
#   postfix_tools NAME   sets `sink_bin` and `source_bin`, or stops when Postfix is missing
#   start_sink           starts smtp-sink on a free loopback port: sets `port`, `sink_pid`
#   stop_sink            ends it (call it from the script's EXIT trap)
#   bench_setup NAME [sqlite3]
#                        the preamble of a benchmark that works in a folder: sets `work`
#                        (a new temporary folder, removed and the sink stopped when the
#                        script exits), stops when sqlite3 is named and missing, and sets
#                        `salvo` as salvo_binary does
#   measure LABEL -- COMMAND [ARGS...]
#                        prints COMMAND's wall time, CPU time and peak RSS as JSON
# NAME is the benchmark's name, for the messages. `root` is set before sourcing.

salvo_binary() {
  if [ -n "${SALVO_BIN:-}" ]; then
    salvo=$SALVO_BIN
    return
  fi
  echo "bench $1: building salvo (release)..." >&2
  (cd "$root" && swift build -c release --product salvo >&2)
  salvo="$(cd "$root" && swift build -c release --show-bin-path)/salvo"
}

postfix_tools() {
  sink_bin=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
  source_bin=$(command -v smtp-source || echo /usr/sbin/smtp-source)
  local bin
  for bin in "$sink_bin" "$source_bin"; do
    [ -x "$bin" ] || { echo "bench $1: $bin is missing (Debian package postfix)" >&2; exit 1; }
  done
}

start_sink() {
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$sink_bin" -u "$(id -un)" 127.0.0.1:"$port" 1000 &
  sink_pid=$!
  local _
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return
    sleep 0.05
  done
  echo "smtp-sink did not start listening on 127.0.0.1:$port" >&2
  exit 1
}

# smtp-sink ends by the signal (status 143), which under `set -e` would become the
# script's own status.
stop_sink() {
  [ -n "${sink_pid:-}" ] || return 0
  kill "$sink_pid" 2>/dev/null || true
  wait "$sink_pid" 2>/dev/null || true
}

bench_setup() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/salvo-bench-$1.XXXXXX")
  trap 'stop_sink; rm -rf "$work"' EXIT
  if [ "${2:-}" = sqlite3 ]; then
    command -v sqlite3 >/dev/null || { echo "bench $1 needs sqlite3 (apt-get install sqlite3)" >&2; exit 1; }
  fi
  salvo_binary "$1"
}

measure() { python3 "$root/scripts/lib/measure.py" "$@"; }
