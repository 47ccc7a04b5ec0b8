#!/usr/bin/env python3
"""Soak test: three laker-server replicas on one PostgreSQL catalog and one
data directory, driven for a bounded time by concurrent clients doing mixed
downloads, SQL queries and uploads, each call sent to a random replica.
Reports errors (target 0), calls and rows per second by kind, and each
replica's resident memory over time (target: flat).

    .venv/bin/python scripts/soak.py --server target/debug/laker-server --minutes 5

Needs the Python packages of integration-tests/python/requirements.txt and
the `laker` client (pip install ./clients/python), psql, and PostgreSQL at
$LAKER_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test);
a fresh database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pyarrow as pa

import laker

BASE_URL = os.environ.get("LAKER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
ADMIN_PASSWORD = "soak-admin-password"


def psql(sql: str) -> None:
    subprocess.run(["psql", BASE_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                   check=True, capture_output=True, text=True)


class Replica:
    """One laker-server process; returns once it logged `listening`."""

    def __init__(self, binary: str, data_dir: Path, catalog: str, demo: bool):
        args = [binary, "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
                "--catalog-url", catalog, "--log-format", "json", "--log", "warn,laker_flight_server=info"]
        if demo:
            args += ["--demo", "--demo-rows", "1000000"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addr = None
        deadline = time.monotonic() + 300
        for line in self.proc.stderr:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if event.get("fields", {}).get("message") == "listening":
                self.addr = event["fields"]["addr"]
                break
            if time.monotonic() > deadline:
                break
        if self.addr is None:
            raise SystemExit(f"replica did not start: exit code {self.proc.poll()}")
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        self.url = f"grpc://{self.addr}"

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = defaultdict(int)
        self.rows = defaultdict(int)
        self.errors = defaultdict(list)

    def ok(self, kind: str, rows: int) -> None:
        with self.lock:
            self.calls[kind] += 1
            self.rows[kind] += rows

    def failed(self, kind: str, error: Exception) -> None:
        with self.lock:
            self.errors[kind].append(f"{type(error).__name__}: {error}"[:300])


def download(client: laker.Client) -> int:
    low = random.randrange(0, 900_000)
    spec = random.choice([
        {"columns": ["trip_id", "fare"], "filter": f"trip_id >= {low} AND trip_id < {low + 50_000}"},
        {"columns": ["trip_id", "passengers", "distance_km"], "limit": 20_000},
        {"filter": f"trip_id >= {low} AND trip_id < {low + 5_000}"},
    ])
    return client.download("demo.trips", **spec).num_rows


def sql(client: laker.Client) -> int:
    query = random.choice([
        "SELECT passengers, count(*) AS n, avg(fare) AS fare FROM demo.trips GROUP BY passengers",
        "SELECT z.zone_id, count(*) AS n FROM demo.trips t JOIN demo.zones z "
        "ON t.pickup_zone = z.zone_id GROUP BY z.zone_id ORDER BY n DESC LIMIT 10",
        f"SELECT * FROM demo.trips WHERE trip_id BETWEEN {random.randrange(0, 990_000)} AND 1000000 LIMIT 1000",
    ])
    return client.sql(query).num_rows


def upload(client: laker.Client, worker: int, seq: int) -> int:
    n = 1_000
    table = pa.table({"worker": pa.array([worker] * n, pa.int32()),
                      "seq": pa.array([seq] * n, pa.int64()),
                      "value": pa.array(range(n), pa.int64())})
    client.upload("soak.events", table, mode="append", upload_id=f"w{worker}-{seq}")
    return n


def run(args) -> int:
    name = f"laker_soak_{uuid.uuid4().hex[:10]}"
    psql(f"CREATE DATABASE {name}")
    catalog = BASE_URL.rsplit("/", 1)[0] + "/" + name
    work = Path(tempfile.mkdtemp(prefix="laker-soak-"))
    replicas: list[Replica] = []
    try:
        replicas.append(Replica(args.server, work, catalog, demo=True))
        replicas += [Replica(args.server, work, catalog, demo=False) for _ in range(2)]
        subprocess.run([args.server, "--data-dir", str(work), "--catalog-url", catalog,
                        "catalog", "create-admin", "--name", "admin"],
                       env={**os.environ, "LAKER_ADMIN_PASSWORD": ADMIN_PASSWORD},
                       check=True, capture_output=True)
        admin = laker.connect(replicas[0].url, "admin", ADMIN_PASSWORD, progress=False)
        admin.action("create_namespace", {"name": "soak"})
        admin.action("grant", {"user": "admin", "pattern": "soak.*", "action": "write"})
        admin.upload("soak.events", pa.table({"worker": pa.array([], pa.int32()),
                                              "seq": pa.array([], pa.int64()),
                                              "value": pa.array([], pa.int64())}), mode="create")
        admin.close()

        tally = Tally()
        stop_at = time.monotonic() + args.seconds
        memory: list[tuple[float, list[float]]] = []
        uploads_done = defaultdict(int)

        def worker(kind: str, index: int) -> None:
            clients = [laker.connect(r.url, "admin", ADMIN_PASSWORD, progress=False) for r in replicas]
            seq = 0
            while time.monotonic() < stop_at:
                client = random.choice(clients)
                try:
                    if kind == "download":
                        tally.ok(kind, download(client))
                    elif kind == "sql":
                        tally.ok(kind, sql(client))
                    else:
                        tally.ok(kind, upload(client, index, seq))
                        uploads_done[index] = seq + 1
                        seq += 1
                except Exception as e:  # noqa: BLE001 (every failure is counted)
                    tally.failed(kind, e)
                    if kind == "upload":
                        seq += 1
            for c in clients:
                c.close()

        threads = [threading.Thread(target=worker, args=(kind, i))
                   for kind, count in (("download", args.downloaders), ("sql", args.sql),
                                       ("upload", args.uploaders))
                   for i in range(count)]
        started = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            memory.append((time.monotonic() - started, [r.rss_mb() for r in replicas]))
            time.sleep(args.sample_secs)
        elapsed = time.monotonic() - started

        # Every acknowledged upload is in the table exactly once.
        check = laker.connect(replicas[1].url, "admin", ADMIN_PASSWORD, progress=False)
        stored = check.sql("SELECT count(*) AS n, count(DISTINCT worker * 1000000 + seq) AS u "
                           "FROM soak.events").to_pylist()[0]
        check.close()
        acknowledged = tally.calls["upload"]

        print(f"soak: 3 replicas, {elapsed:.0f} s, {args.downloaders} download / {args.sql} SQL / "
              f"{args.uploaders} upload clients, each call to a random replica")
        print()
        print("| kind | calls | calls/s | rows | rows/s | errors |")
        print("|---|---|---|---|---|---|")
        for kind in ("download", "sql", "upload"):
            print(f"| {kind} | {tally.calls[kind]} | {tally.calls[kind] / elapsed:.1f} | "
                  f"{tally.rows[kind]} | {tally.rows[kind] / elapsed:,.0f} | {len(tally.errors[kind])} |")
        print()
        print(f"uploads acknowledged: {acknowledged}; rows stored: {stored['n']} "
              f"({stored['u']} distinct uploads; expected {acknowledged * 1000} rows)")
        print()
        print("| time (s) | " + " | ".join(f"replica {i + 1} RSS (MB)" for i in range(len(replicas))) + " |")
        print("|---" * (len(replicas) + 1) + "|")
        step = max(1, len(memory) // 10)
        for t, rss in memory[::step] + ([memory[-1]] if memory and (len(memory) - 1) % step else []):
            print(f"| {t:.0f} | " + " | ".join(f"{m:.0f}" for m in rss) + " |")
        errors = sum(len(v) for v in tally.errors.values())
        for kind, messages in tally.errors.items():
            for m in messages[:5]:
                print(f"error ({kind}): {m}", file=sys.stderr)
        lost = stored["n"] != acknowledged * 1000 or stored["u"] != acknowledged
        if lost:
            print("uploads lost or duplicated", file=sys.stderr)
        return 1 if errors or lost else 0
    finally:
        for r in replicas:
            r.stop()
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True, help="laker-server binary")
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--downloaders", type=int, default=6)
    p.add_argument("--sql", type=int, default=3)
    p.add_argument("--uploaders", type=int, default=2)
    p.add_argument("--sample-secs", type=float, default=5.0)
    args = p.parse_args()
    args.seconds = args.minutes * 60
    sys.exit(run(args))


if __name__ == "__main__":
    main()
