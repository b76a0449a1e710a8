#!/usr/bin/env bash
# scripts/bench sink [N] — what the baseline itself costs on this machine: the CPU time
# Postfix's smtp-sink and smtp-source spend per message while smtp-source sends N
# messages (default 30,000) of 4,148 bytes over 10 connections, read from /proc. It is
# the budget `scripts/bench send` has to share: both run beside the sender.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-30000}
source "$root/scripts/lib/bench.sh"
postfix_tools sink
trap stop_sink EXIT
start_sink

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=$(cpu "$sink_pid")
json=$(python3 "$root/scripts/lib/measure.py" smtp-source -- "$source_bin" -d -s 10 -m "$N" -l 4148 \
  -f bench@salvo.test -t sink@salvo.test 127.0.0.1:"$port")
after=$(cpu "$sink_pid")
python3 - "$json" "$N" "$before" "$after" "$ticks" <<'PY'
import json, sys
v, n = json.loads(sys.argv[1]), int(sys.argv[2])
sink = (float(sys.argv[4]) - float(sys.argv[3])) / float(sys.argv[5])
print(f"sink: smtp-source -d -s 10 -m {n} -l 4148 into smtp-sink on loopback")
print(f"smtp-source: {n / v['seconds']:.0f} msg/s, {1e6 * v['cpu_seconds'] / n:.0f} us CPU per message")
print(f"smtp-sink:   {sink:.2f} s CPU in {v['seconds']:.2f} s ({sink / v['seconds']:.0%} of a core), {1e6 * sink / n:.0f} us per message")
PY
