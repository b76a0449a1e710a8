# The campaign the send benchmarks send (scripts/bench.d/send.sh, fleet.sh); sourced.
#
#   generate DIR ROWS     a list of ROWS recipients over 10 domains in DIR/list.csv
#   prepare DIR ROWS DKIM a salvo.yml routing the 10 domains to the sink on `port` (K
#                         connections), a ~4 KB personalised template and campaign `bench`,
#                         the list imported as `bench` and the campaign created (DKIM=1:
#                         an ed25519 key signs too)
# `salvo`, `port` and `K` are set before these run.

# A recipient list of ROWS rows over 10 domains, in DIR/list.csv.
generate() {
  python3 - "$1/list.csv" "$2" <<'PY'
import random, sys
path, rows = sys.argv[1], int(sys.argv[2])
random.seed(1)
first = ["Ada", "Chinedu", "Ngozi", "Emeka", "Aisha", "Liam", "Olivia", "Léa", "Jürgen", "Yuki"]
last = ["Okafor", "Adeyemi", "Mensah", "Smith", "Müller", "Dubois", "Tanaka", "O'Brien"]
cities = ["Lagos", "Accra", "Nairobi", "Boston", "London", "Berlin", "Paris", "Tokyo"]
with open(path, "w", encoding="utf-8", newline="") as f:
    f.write("email,first_name,last_name,city,points\n")
    for i in range(rows):
        f.write(f"user{i}@d{i % 10}.example.test,{random.choice(first)},\"{random.choice(last)}\",{random.choice(cities)},{random.randrange(10000)}\n")
PY
}

# A configuration, a template and a campaign in DIR, the list imported (not timed).
prepare() {
  local dir=$1 rows=$2 dkim=$3
  mkdir -p "$dir"
  generate "$dir" "$rows"
  {
    echo "database: salvo.db"
    echo "helo: bench.salvo.test"
    echo "delivery:"
    echo "  mode: mx"
    echo "  tls: none"
    echo "  routes:"
    for d in $(seq 0 9); do echo "    d$d.example.test: 127.0.0.1:$port"; done
    echo "limits:"
    echo "  global: { connections: $K }"
    echo "  default: { connections: $K, messages_per_connection: 1000 }"
    if [ "$dkim" = 1 ]; then
      echo "dkim: { domain: shop.example, selector: s1, key: s1.pem }"
    fi
  } >"$dir/salvo.yml"
  if [ "$dkim" = 1 ]; then
    (cd "$dir" && "$salvo" dkim keygen --domain shop.example --selector s1 --algorithm ed25519 --out s1.pem >/dev/null)
  fi
  python3 - "$dir" <<'PY'
import sys
d = sys.argv[1]
para = "Our spring collection has arrived, with fresh produce from farms near {{city}} and across the region. "
html = ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Spring deals</title></head>\n<body>\n'
        "<h1>Hello {{first_name}} {{last_name}},</h1>\n" + ("<p>" + para + para + "</p>\n") * 8 +
        '<p>You have <strong>{{points}}</strong> points. <a href="https://shop.example/deals?c={{campaign}}">See the deals</a></p>\n'
        '<p><a href="{{unsubscribe_url}}">Unsubscribe</a></p>\n</body></html>\n')
text = ("Hello {{first_name}} {{last_name}},\n\n" + (para + "\n\n") * 8 +
        "You have {{points}} points. See the deals: https://shop.example/deals?c={{campaign}}\n\nUnsubscribe: {{unsubscribe_url}}\n")
import os
os.makedirs(f"{d}/templates", exist_ok=True)
open(f"{d}/templates/bench.html.mustache", "w").write(html)
open(f"{d}/templates/bench.txt.mustache", "w").write(text)
open(f"{d}/bench.yml", "w").write("""name: bench
list: bench
from: "Shop <news@shop.example>"
subject: "{{first_name}}, spring deals for you in {{city}}"
html: templates/bench.html.mustache
text: templates/bench.txt.mustache
unsubscribe: "https://shop.example/u/{{unsubscribe_token}}"
""")
PY
  (cd "$dir" && "$salvo" import bench list.csv >/dev/null && "$salvo" campaign create bench.yml >/dev/null)
}

