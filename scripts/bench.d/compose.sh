#!/usr/bin/env bash
# Message composition: templates rendered, MIME-encoded and DKIM-signed per second on
# one core, per key type. The baseline is the same work unsigned, so the figures show
# what signing costs. Usage: scripts/bench compose [COUNT]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
count=${1:-20000}
cd "$root"
swift build -c release --product salvo >/dev/null
bin=$(swift build -c release --show-bin-path)/salvo
echo "compose benchmark: $count messages of ~4 KB per run, one core (taskset -c 0)"
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
for algorithm in none ed25519 rsa; do
  "${pin[@]}" "$bin" bench-compose --count "$count" --algorithm "$algorithm"
done
