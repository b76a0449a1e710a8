#!/usr/bin/env bash
# scripts/bench fleet [N] — one, two and three `salvo send` processes on one PostgreSQL
# campaign, beside one `salvo send` on SQLite, in one run.
#
# The campaign of `scripts/bench send` (N recipients, default 50,000, over 10 domains, ~4 KB
# personalised messages, all routed to one smtp-sink on 127.0.0.1, 10 connections), made on
# SQLite and copied to a new PostgreSQL database for each PostgreSQL round (`salvo db copy`,
# not timed). PostgreSQL is a private server of this run (Debian's postgresql: initdb in
# the run's folder, 127.0.0.1 on a free port, its default durability: fsync and
# synchronous_commit on). The limits of salvo.yml are for all the senders together, so the
# 10 connections are the fleet's, not each sender's.
#
# Timed (measure.py --copies): from the first sender's start to the last one's end, every
# sender's CPU time added up, and PostgreSQL's own CPU time over the round (its postmaster
# and every backend).
# Options (environment): SALVO_BIN=PATH (that binary, no build), SENDERS="1 2 3".
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-${N:-50000}}
SENDERS=${SENDERS:-"1 2 3"}
K=10

source "$root/scripts/lib/bench.sh"
postfix_tools fleet
bench_setup fleet sqlite3
start_sink
source "$root/scripts/lib/bench-campaign.sh"

export SALVO_UNSUBSCRIBE_SECRET=bench-secret-bench-secret-bench-secret-0001

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pg_bin/initdb" ] || { echo "bench fleet: PostgreSQL is missing (Debian package postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_dir="$work/pg"
mkdir -p "$pg_dir"
# As root, the server runs as postgres, which must reach its folder inside the run's.
if [ "$(id -u)" = 0 ]; then chmod 711 "$work"; chown postgres "$pg_dir"; fi
as_pg "$pg_bin/initdb" -D "$pg_dir/data" --auth=trust -U postgres -E UTF8 --locale=C >/dev/null
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
trap 'as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true; stop_sink; rm -rf "$work"' EXIT
psql_do() { "$pg_bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }
postmaster=$(head -1 "$pg_dir/data/postmaster.pid")

# PostgreSQL's CPU seconds so far: the postmaster's own and its ended children's (each
# backend ends with its connection, and the postmaster waits for it), plus the children
# still running.
pg_cpu() {
  python3 - "$postmaster" <<'PY'
import os, sys
tick = os.sysconf("SC_CLK_TCK")
def fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()
root = sys.argv[1]
f = fields(root)
total = sum(int(x) for x in f[11:15])
for pid in os.listdir("/proc"):
    if pid.isdigit() and pid != root:
        try:
            g = fields(pid)
        except OSError:
            continue
        if g[1] == root:
            total += int(g[11]) + int(g[12])
print(total / tick)
PY
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "generating $N recipients, importing..." >&2
prepare "$work/campaign" "$N" 0
cp -r "$work/campaign" "$work/sqlite"

echo "SQLite, one sender..." >&2
sqlite_json=$(cd "$work/sqlite" && measure sqlite -- "$salvo" send bench 2>>"$work/senders.log") \
  || { echo "bench fleet: salvo send on SQLite failed: $sqlite_json; $(tail -3 "$work/senders.log")" >&2; exit 1; }
sent=$(sqlite3 "$work/sqlite/salvo.db" "SELECT COUNT(*) FROM deliveries WHERE state = 'sent'")
[ "$sent" = "$N" ] || { echo "bench fleet: SQLite says $sent sent, expected $N" >&2; exit 1; }

declare -A pg_json pg_server
for k in $SENDERS; do
  db="fleet_$k"
  psql_do -d postgres -c "CREATE DATABASE $db"
  url="postgres://postgres@127.0.0.1:$pg_port/$db?sslmode=disable"
  (cd "$work/campaign" && "$salvo" db copy --to "$url" >/dev/null)
  echo "PostgreSQL, $k sender(s)..." >&2
  before=$(pg_cpu)
  pg_json[$k]=$(cd "$work/campaign" && measure "postgres-$k" --copies "$k" -- "$salvo" send bench --db "$url" 2>>"$work/senders.log") \
    || { echo "bench fleet: salvo send on PostgreSQL failed with $k senders: ${pg_json[$k]}; $(tail -3 "$work/senders.log")" >&2; exit 1; }
  after=$(pg_cpu)
  pg_server[$k]=$(python3 -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))' "$before" "$after")
  sent=$(psql_do -d "$db" -c "SELECT count(*) FROM deliveries WHERE state = 'sent'")
  [ "$sent" = "$N" ] || { echo "bench fleet: PostgreSQL says $sent sent with $k senders, expected $N (${pg_json[$k]})" >&2; exit 1; }
done

echo "fleet: $N personalised recipients over 10 domains -> smtp-sink on loopback, $K connections for the fleet, $(nproc) cores"
echo "load average before: $load"
line() {
  python3 - "$1" "$2" "$N" "${3:-}" <<'PY'
import json, sys
label, v, n, server = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
extra = f", PostgreSQL {server} s CPU ({float(server) * 1e6 / n:.0f} µs/msg)" if server else ""
print(f"{label:<32} {n / v['seconds']:>6.0f} msg/s  ({v['seconds']:.2f} s wall, senders {v['cpu_seconds']:.2f} s CPU = "
      f"{v['cpu_seconds'] * 1e6 / n:.0f} µs/msg{extra}, peak RSS {v['peak_rss_mb']:.0f} MB)")
PY
}
line "SQLite, 1 sender:" "$sqlite_json"
for k in $SENDERS; do line "PostgreSQL, $k sender(s):" "${pg_json[$k]}" "${pg_server[$k]}"; done
