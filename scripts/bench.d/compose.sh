#!/usr/bin/env bash
# Message composition: a campaign template rendered for a recipient, MIME-encoded and
# DKIM-signed, messages per second on one core, per key type (none = unsigned, ed25519,
# rsa). Baseline in the same run: the same message built with Python's email package and
# signed with dkimpy. Usage: scripts/bench compose [COUNT]   (default 20000)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
count=${1:-20000}
baseline_count=$(( count / 20 > 500 ? count / 20 : 500 ))
source "$root/scripts/lib/bench.sh"
salvo_binary compose
bin=$salvo
cd "$root"
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
echo "compose: ~4 KB campaign message (subject, text, HTML, unsubscribe token, trace headers), one core${pin:+ (taskset -c 0)}"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for algorithm in none ed25519 rsa; do
  salvo_line=$("${pin[@]}" "$bin" bench-compose --count "$count" --algorithm "$algorithm")
  base_line=$("${pin[@]}" python3 Tests/peers/mime/compose_baseline.py "$baseline_count" "$algorithm")
  echo "  salvo    $salvo_line"
  echo "  baseline $base_line"
  salvo_rate=$(sed -E 's/.* = ([0-9]+) messages\/s.*/\1/' <<<"$salvo_line")
  base_rate=$(sed -E 's/.* = ([0-9]+) messages\/s.*/\1/' <<<"$base_line")
  awk -v a="$salvo_rate" -v b="$base_rate" -v k="$algorithm" 'BEGIN { printf "  %-8s ratio salvo/baseline = %.1fx\n", k, a / b }'
done
