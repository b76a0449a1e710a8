#!/usr/bin/env bash
# scripts/bench send [N] — `salvo send` of a personalised campaign beside smtp-source.
#
# N recipients (default 100,000) over 10 domains, all routed to one Postfix smtp-sink on
# 127.0.0.1 (one site, 10 connections), each message rendered from a mustache template
# for its recipient (~4 KB: subject, text and HTML parts, unsubscribe link) and its status
# recorded in SQLite. Timed: the whole `salvo send` command (process start, starting the
# campaign, i.e. one delivery row per recipient, the send, the last outcome commit), with
# its CPU time and peak RSS. Baseline in the same run: `smtp-source -d -s 10 -m N -l SIZE`
# into the same sink, SIZE the average size of salvo's messages.
#
# Options (environment): SALVO_BIN=PATH (that binary, no build), ROUNDS=1 (best of), DKIM=1 (also sign with an ed25519 key and
# report that rate), RSS_ROWS=N (with --rss: a second phase, one send to RSS_ROWS
# recipients, default 1,000,000, for the peak RSS only), PERF=FILE (then one more send of
# N recipients under `perf record -F 2000 -g`, written to FILE, for
# `perf report -i FILE --children --sort sym` to read; needs perf, Debian's linux-perf).
#   scripts/bench send            # 100,000 recipients, rates and ratio
#   scripts/bench send --rss      # and then the peak RSS of a 1,000,000-recipient send
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rss=0
args=()
for arg in "$@"; do
  case "$arg" in
    --rss) rss=1 ;;
    *) args+=("$arg") ;;
  esac
done
N=${args[0]:-${N:-100000}}
RSS_ROWS=${RSS_ROWS:-1000000}
ROUNDS=${ROUNDS:-1}
DKIM=${DKIM:-0}
K=10

source "$root/scripts/lib/bench.sh"
postfix_tools send
bench_setup send sqlite3
start_sink

export SALVO_UNSUBSCRIBE_SECRET=bench-secret-bench-secret-bench-secret-0001  # 32 bytes or more, as salvo asks

source "$root/scripts/lib/bench-campaign.sh"

# Times `salvo send bench` in DIR; prints measure.py's JSON line.
send() {
  local dir=$1 rows=$2 json sent
  json=$(cd "$dir" && measure salvo -- "$salvo" send bench) || { echo "bench send: salvo send failed: $json" >&2; exit 1; }
  sent=$(sqlite3 "$dir/salvo.db" "SELECT COUNT(*) FROM deliveries WHERE state = 'sent'")
  [ "$sent" = "$rows" ] || { echo "bench send: the store says $sent sent, expected $rows" >&2; exit 1; }
  echo "$json"
}

# The average size of the messages salvo sends, from a dry run's report.
message_size() {
  (cd "$1" && "$salvo" send bench --dry-run 2>/dev/null) | sed -nE 's/.*\(([0-9]+) bytes on average\).*/\1/p'
}

echo "generating $N recipients, importing..." >&2
prepare "$work/plain" "$N" 0
size=$(message_size "$work/plain")
echo "salvo's messages: $size bytes on average" >&2
best_source=0; best_salvo=0; salvo_json=""
for round in $(seq 1 "$ROUNDS"); do
  [ "$round" -gt 1 ] && { rm -rf "$work/plain"; prepare "$work/plain" "$N" 0; }
  source_json=$(measure smtp-source -- "$source_bin" -d -s "$K" -m "$N" -l "$size" -f bench@salvo.test -t sink@salvo.test 127.0.0.1:"$port")
  json=$(send "$work/plain" "$N")
  read -r source_rate salvo_rate < <(python3 -c 'import json, sys; n = int(sys.argv[3]); print("%d %d" % (n / json.loads(sys.argv[1])["seconds"], n / json.loads(sys.argv[2])["seconds"]))' "$source_json" "$json" "$N")
  echo "round $round: smtp-source $source_rate msg/s, salvo send $salvo_rate msg/s ($json)" >&2
  [ "$source_rate" -gt "$best_source" ] && best_source=$source_rate
  [ "$salvo_rate" -gt "$best_salvo" ] && { best_salvo=$salvo_rate; salvo_json=$json; }
done

echo "send: $N personalised recipients over 10 domains -> smtp-sink on loopback, $K connections, ~$size-byte messages, best of $ROUNDS"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "smtp-source -d -s $K -m $N -l $size:   $best_source msg/s"
python3 - "$salvo_json" "$N" <<'PY'
import json, sys
v, n = json.loads(sys.argv[1]), int(sys.argv[2])
print(f"salvo send (status in SQLite): {n / v['seconds']:.0f} msg/s  ({v['seconds']:.2f} s wall, {v['cpu_seconds']:.2f} s CPU, peak RSS {v['peak_rss_mb']:.0f} MB)")
PY
python3 -c "import sys; print('ratio salvo / smtp-source:     %.2fx (target >= 1.0x)' % (int(sys.argv[1]) / int(sys.argv[2])))" "$best_salvo" "$best_source"

if [ "$DKIM" = 1 ]; then
  echo "generating $N recipients, importing (ed25519 DKIM)..." >&2
  prepare "$work/dkim" "$N" 1
  json=$(send "$work/dkim" "$N")
  python3 - "$json" "$N" <<'PY'
import json, sys
v, n = json.loads(sys.argv[1]), int(sys.argv[2])
print(f"salvo send, ed25519 DKIM:      {n / v['seconds']:.0f} msg/s  ({v['seconds']:.2f} s wall, {v['cpu_seconds']:.2f} s CPU, peak RSS {v['peak_rss_mb']:.0f} MB)")
PY
  rm -rf "$work/dkim"
fi

if [ -n "${PERF:-}" ]; then
  command -v perf >/dev/null || { echo "bench send: PERF needs perf (apt-get install linux-perf)" >&2; exit 1; }
  perf_file=$(realpath -m "$PERF")
  rm -rf "$work/plain"
  echo "generating $N recipients, importing (perf record)..." >&2
  prepare "$work/perf" "$N" 0
  (cd "$work/perf" && perf record -F 2000 -g -o "$perf_file" -- "$salvo" send bench >/dev/null 2>&1) \
    || { echo "bench send: salvo send under perf record failed" >&2; exit 1; }
  echo "perf record of salvo send, $N recipients: $perf_file (perf report -i $perf_file --children --sort sym)"
  rm -rf "$work/perf"
fi

if [ "$rss" = 1 ]; then
  rm -rf "$work/plain"
  echo "generating $RSS_ROWS recipients, importing..." >&2
  prepare "$work/rss" "$RSS_ROWS" 0
  json=$(send "$work/rss" "$RSS_ROWS")
  python3 - "$json" "$RSS_ROWS" <<'PY'
import json, sys
v, n = json.loads(sys.argv[1]), int(sys.argv[2])
print(f"salvo send of {n:,} recipients: {v['seconds']:.1f} s wall ({n / v['seconds']:.0f} msg/s), {v['cpu_seconds']:.1f} s CPU, peak RSS {v['peak_rss_mb']:.0f} MB (target < 200 MB)")
PY
fi
