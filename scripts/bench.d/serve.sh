#!/usr/bin/env bash
# scripts/bench serve [SECONDS] — one-click unsubscribes per second and their p99 latency:
# wrk POSTs `List-Unsubscribe=One-Click` to `salvo serve` on loopback, each request a
# different recipient's token (so each one is a real write: a new suppression), for
# SECONDS (default 10) over 20 connections; then the same wrk against a static nginx
# `return 200` on the same machine in the same run, the ceiling of an HTTP server here.
# Afterwards it checks that every 200 the server gave is a row in the store.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_RUN=${1:-10}
source "$root/scripts/lib/bench.sh"
salvo_binary serve
for tool in wrk nginx; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || { echo "bench serve: $tool is missing (Debian packages wrk, nginx-light)" >&2; exit 1; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
serve_pid=""; nginx_pid=""
cleanup() {
  [ -n "$serve_pid" ] && { kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; }
  [ -n "$nginx_pid" ] && { kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  local _
  for _ in $(seq 1 200); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return
    sleep 0.05
  done
  echo "bench serve: nothing listens on 127.0.0.1:$1" >&2; exit 1
}

export SALVO_UNSUBSCRIBE_SECRET="bench-serve-secret-bench-serve-secret-$(date +%s)"  # 32 bytes or more
# salvo serve opens an existing database only: `salvo init` makes one (and salvo.yml).
(cd "$work" && "$salvo" init > /dev/null)
# Enough distinct tokens that no request repeats one: the rate times the run, with room.
TOKENS=${TOKENS:-200000}
"$salvo" bench-tokens --campaign bench --count "$TOKENS" > "$work/paths.txt"

serve_port=$(free_port)
"$salvo" serve --config "$work/salvo.yml" --listen 127.0.0.1:"$serve_port" > "$work/serve.log" 2>&1 &
serve_pid=$!
wait_port "$serve_port"

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200 "Unsubscribed.\n"; }
  }
}
CONF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
wait_port "$nginx_port"

cat > "$work/post.lua" <<LUA
local paths = {}
for line in io.lines("$work/paths.txt") do paths[#paths + 1] = line end
local counter = 0
local threads = {}
function setup(thread)
  thread:set("offset", #threads)
  threads[#threads + 1] = thread
end
function init(args)
  -- Two threads take alternate tokens, so no token is posted twice.
  counter = offset
end
request = function()
  counter = counter + 2
  local path = paths[(counter % #paths) + 1]
  return wrk.format("POST", path, { ["Content-Type"] = "application/x-www-form-urlencoded" }, "List-Unsubscribe=One-Click")
end
LUA

run_wrk() { wrk -t2 -c20 -d"${SECONDS_RUN}s" --latency "$@"; }
serve_out=$(run_wrk -s "$work/post.lua" "http://127.0.0.1:$serve_port/")
nginx_out=$(run_wrk -s "$work/post.lua" "http://127.0.0.1:$nginx_port/")
kill "$serve_pid"; wait "$serve_pid" || true; serve_pid=""
rows=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM unsubscribes").fetchone()[0])' "$work/salvo.db")

python3 - "$serve_out" "$nginx_out" "$rows" "$SECONDS_RUN" <<'PY'
import re, sys
def figures(text):
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return rate, float(p99.group(1)) * scale, total, int(bad.group(1)) if bad else 0, errors.group(1) if errors else "none"
serve, nginx, rows, seconds = figures(sys.argv[1]), figures(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f"serve: wrk -t2 -c20 -d{seconds}s --latency, one-click POSTs of distinct tokens, on loopback")
print(f"salvo serve:  {serve[0]:8.0f} unsubscribes/s, p99 {serve[1]:7.2f} ms ({serve[2]} requests, {serve[3]} not 2xx, socket errors: {serve[4]})")
print(f"nginx static: {nginx[0]:8.0f} requests/s,     p99 {nginx[1]:7.2f} ms ({nginx[2]} requests)")
print(f"ratio: salvo serve answers {serve[0] / nginx[0]:.1%} of nginx's rate")
answered = serve[2] - serve[3]
print(f"store: {rows} unsubscribes recorded for {answered} answered 2xx" + ("" if rows >= answered else "  <-- LOST WRITES"))
PY
