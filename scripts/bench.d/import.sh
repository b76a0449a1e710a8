#!/usr/bin/env bash
# scripts/bench import [ROWS]: `salvo import` of a generated CSV (email + 4 attribute
# columns) beside `sqlite3 DB ".import --csv FILE t"` of the same file, in the same run.
# Prints both times, the ratio, and salvo's peak RSS.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rows=${1:-1000000}
source "$root/scripts/lib/bench.sh"
bench_setup import sqlite3

echo "generating $rows rows..." >&2
python3 - "$work/list.csv" "$rows" <<'PY'
import random, sys
path, rows = sys.argv[1], int(sys.argv[2])
random.seed(1)
first = ["Ada", "Chinedu", "Ngozi", "Emeka", "Aisha", "Liam", "Olivia", "Léa", "Jürgen", "Yuki"]
last = ["Okafor", "Adeyemi", "Mensah", "Smith", "Müller", "Dubois", "Tanaka", "O'Brien"]
countries = ["NG", "GH", "KE", "US", "GB", "DE", "FR", "JP"]
with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("email,first_name,last_name,country,signup_date\n")
    for i in range(rows):
        fn, ln = random.choice(first), random.choice(last)
        f.write(f"user{i}.{random.randrange(10**6)}@d{i % 97}.example.com,{fn},\"{ln}\",{random.choice(countries)},20{random.randrange(15, 26)}-0{random.randrange(1, 10)}-1{random.randrange(0, 10)}\n")
PY
ls -l "$work/list.csv" | awk '{printf "file: %.1f MB\n", $5/1048576}'

sqlite_json=$(measure sqlite3 -- sqlite3 "$work/sqlite.db" ".import --csv $work/list.csv t")
salvo_json=$(measure salvo -- "$salvo" import customers "$work/list.csv" --db "$work/salvo.db")
count=$(sqlite3 "$work/salvo.db" "SELECT COUNT(*) FROM recipients")
python3 - "$sqlite_json" "$salvo_json" "$rows" "$count" <<'PY'
import json, sys
s, v, rows, count = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"rows:                {rows} (salvo stored {count})")
print(f"sqlite3 .import:     {s['seconds']:.2f} s")
print(f"salvo import:        {v['seconds']:.2f} s  ({rows / v['seconds']:,.0f} rows/s)")
print(f"ratio salvo/sqlite3: {v['seconds'] / s['seconds']:.2f}x (target <= 2.0x)")
print(f"salvo peak RSS:      {v['peak_rss_mb']:.0f} MB (target < 200 MB)")
PY
