#!/usr/bin/env bash
# scripts/bench report [ROWS]: `salvo report --csv -` beside `salvo report --json` of one
# finished campaign of ROWS deliveries (default 20,000), in the same run. Prints both
# times (wall and CPU) and the ratio JSON/CSV. SALVO_BIN=... skips the release build.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rows=${1:-20000}
source "$root/scripts/lib/bench.sh"
bench_setup report sqlite3

python3 - "$work/list.csv" "$rows" <<'PY'
import sys
path, rows = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("email,name\n")
    for i in range(rows): f.write(f"user{i}@d{i % 97}.example.com,U{i}\n")
PY
"$salvo" import l "$work/list.csv" --db "$work/salvo.db" > /dev/null
sqlite3 "$work/salvo.db" <<'SQL'
INSERT INTO campaigns (id, name, list_id, definition, source_path, state, created_at)
VALUES (1, 'c', 1, '{}', 'c.yml', 'finished', 0);
INSERT INTO deliveries (campaign_id, recipient_id, email, domain, state, attempts, last_code, last_enhanced_code,
                        last_response, mx_host, message_id, first_attempt_at, last_attempt_at)
SELECT 1, id, email, 'example.com', 'sent', 1, 250, '2.0.0', '250 2.0.0 Ok: queued as 4Qx', 'mx.example.com',
       '<' || id || '@shop.example>', 1764579600, 1764579601 FROM recipients;
SQL

csv_json=$(measure csv -- "$salvo" report c --csv - --db "$work/salvo.db")
json_json=$(measure json -- "$salvo" report c --json --db "$work/salvo.db")
python3 - "$csv_json" "$json_json" "$rows" <<'PY'
import json, sys
c, j, rows = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
print(f"rows:             {rows}")
print(f"report --csv -:   {c['seconds']:.2f} s wall, {c['cpu_seconds']:.2f} s CPU")
print(f"report --json:    {j['seconds']:.2f} s wall, {j['cpu_seconds']:.2f} s CPU")
print(f"ratio json/csv:   {j['cpu_seconds'] / c['cpu_seconds']:.2f}x CPU (target about 1x)")
PY
