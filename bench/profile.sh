#!/usr/bin/env bash
# Profiles the release laker-server during full downloads of tpch.lineitem
# (after a laker-bench run has prepared --work-dir), and prints where the
# time goes.
#
#   bench/profile.sh [WORK_DIR]        # default /tmp/bench-sf2
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/bench-sf2}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/laker-target}"
python="${LAKER_BENCH_PYTHON:-.venv/bin/python}"
port=50999
"$target/release/laker-server" --data-dir "$work/server" --listen "127.0.0.1:$port" --log warn >/dev/null 2>&1 &
server=$!
trap 'kill $server' EXIT
job() {
  echo "{\"kind\":\"flight\",\"url\":\"grpc://127.0.0.1:$port\",\"user\":\"admin\",\"password\":\"bench-admin-password\",\"command\":null,\"path\":[\"tpch\",\"lineitem\"],\"ticket_extra\":null,\"runs\":$1}" \
    | "$python" bench/python/py_client.py
}
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
job 1 >/dev/null   # warm the page cache
perf record -F 199 --call-graph dwarf,16384 -o "$work/perf.data" -p "$server" -- sleep 5 >/dev/null 2>&1 &
perf_pid=$!
job 2
wait "$perf_pid" || true
perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
