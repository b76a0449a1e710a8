#!/usr/bin/env bash
# scripts/bench smtp [N] [K] — Salvo's SMTP client against Postfix's smtp-source.
#
# Starts smtp-sink on 127.0.0.1, then sends N messages of 4 KB over K reused connections
# with `salvo bench-smtp` and with `smtp-source -d -s K -m N -l 4096`, to the same sink,
# ROUNDS times each (alternating), and prints the best rate of each and their ratio.
# Wall-clock time of each whole command, process start and connection set-up included.
# Defaults: N=20000 K=10 ROUNDS=3.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-${N:-20000}}
K=${2:-${K:-10}}
ROUNDS=${ROUNDS:-3}
LENGTH=4096

source "$root/scripts/lib/bench.sh"
postfix_tools smtp
salvo_binary smtp
trap stop_sink EXIT
start_sink

now() { date +%s.%N; }
rate() { python3 -c "import sys; print('%.0f' % ($N / (float(sys.argv[2]) - float(sys.argv[1]))))" "$1" "$2"; }

best_source=0
best_salvo=0
for round in $(seq 1 "$ROUNDS"); do
  start=$(now)
  "$source_bin" -d -s "$K" -m "$N" -l "$LENGTH" -f bench@salvo.test -t sink@salvo.test 127.0.0.1:"$port"
  source_rate=$(rate "$start" "$(now)")

  start=$(now)
  "$salvo" bench-smtp 127.0.0.1:"$port" -m "$N" -c "$K" -l "$LENGTH" >&2
  salvo_rate=$(rate "$start" "$(now)")

  echo "round $round: smtp-source $source_rate messages/s, salvo $salvo_rate messages/s" >&2
  [ "$source_rate" -gt "$best_source" ] && best_source=$source_rate
  [ "$salvo_rate" -gt "$best_salvo" ] && best_salvo=$salvo_rate
done

echo "smtp: $N messages of $LENGTH bytes over $K connections, best of $ROUNDS rounds, loopback smtp-sink"
echo "smtp-source -d -s $K -m $N -l $LENGTH: $best_source messages/s"
echo "salvo bench-smtp -m $N -c $K -l $LENGTH: $best_salvo messages/s"
python3 -c "print('ratio salvo / smtp-source: %.2fx' % ($best_salvo / $best_source))"
