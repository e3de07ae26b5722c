#!/usr/bin/env bash
# Throughput and tail latency of the helpdesk on SQLite, over loopback:
# GET /tickets/{id} and POST /tickets, with wrk (Debian's package).
# Targets: >= 20,000 reads/s and p99 < 5 ms. Usage: scripts/bench-helpdesk.sh [seconds]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-10}"
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }

cargo build --release -q -p helpdesk --manifest-path "$root/Cargo.toml"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$root/target/release/helpdesk" --database "sqlite://$work/bench.db?mode=rwc" serve --listen 127.0.0.1:0 >"$work/out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/out" 2>/dev/null && break; sleep 0.05; done
url="$(grep -o 'http://[0-9.:]*' "$work/out")"
[ -n "$url" ] || { cat "$work/out"; exit 1; }

curl -fsS -X POST "$url/customers" -H 'content-type: application/json' -d '{"name":"Bench","email":"bench@example.com"}' >/dev/null
curl -fsS -X POST "$url/tickets" -H 'content-type: application/json' -d '{"subject":"bench","customer_id":1,"channel":"email","body":"hello","tags":["bench"]}' >/dev/null

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"subject":"load","customer_id":1,"channel":"chat","body":"the invoice is wrong","tags":["bench","billing"]}'
wrk.headers["Content-Type"] = "application/json"
LUA

report() {
  local name="$1" file="$2"
  local rps p99 failed
  rps="$(awk '/Requests\/sec/ {print $2}' "$file")"
  p99="$(awk '$1=="99%" {print $2}' "$file")"
  # Error answers are fast: a run with any is not a throughput figure.
  failed="$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$file")"
  printf '%-22s %10s req/s   p99 %s   failed %s\n' "$name" "$rps" "$p99" "$failed"
}

echo "helpdesk on SQLite, ${seconds}s each, 2 threads, 32 connections, loopback:"
wrk -t2 -c32 -d"${seconds}s" --latency "$url/tickets/1" >"$work/get.txt"
report "GET /tickets/{id}" "$work/get.txt"
wrk -t2 -c32 -d"${seconds}s" --latency -s "$work/post.lua" "$url/tickets" >"$work/post.txt"
report "POST /tickets" "$work/post.txt"
echo "targets: >= 20000 req/s for reads, p99 < 5ms"
