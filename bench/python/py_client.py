"""The Python side of laker-bench: times pyarrow.flight downloads (and the
local pyarrow.parquet baseline). Reads one JSON job on stdin, prints one
JSON result: rows, Arrow bytes and seconds per run, and time to first batch.

Jobs:
  {"kind": "flight", "url": ..., "user": ..., "password": ..., "command": <spec JSON>|null,
   "path": [..]|null, "ticket_extra": {...}, "runs": n, "headers": [[name, value], ..]}
  {"kind": "local", "dir": ..., "columns": [...]|null, "runs": n}
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow.flight as fl
import pyarrow.parquet as pq


def flight(job: dict) -> dict:
    client = fl.FlightClient(job["url"])
    headers = []
    if job.get("user"):
        headers = [client.authenticate_basic_token(job["user"], job["password"])]
    headers += [(n.encode(), v.encode()) for n, v in job.get("headers", [])]
    opts = fl.FlightCallOptions(headers=headers)
    if job.get("command") is not None:
        descriptor = fl.FlightDescriptor.for_command(json.dumps(job["command"]))
    else:
        descriptor = fl.FlightDescriptor.for_path(*job["path"])
    extra = job.get("ticket_extra")
    runs = []
    rows = nbytes = 0
    for _ in range(job["runs"]):
        start = time.perf_counter()
        info = client.get_flight_info(descriptor, opts)

        def fetch(endpoint) -> tuple[int, int]:
            ticket = endpoint.ticket
            if extra:
                ticket = fl.Ticket(json.dumps({**json.loads(ticket.ticket), **extra}))
            reader = client.do_get(ticket, opts)
            r = b = 0
            for chunk in reader:
                r += chunk.data.num_rows
                b += chunk.data.nbytes
            return r, b

        with ThreadPoolExecutor(max_workers=max(1, len(info.endpoints))) as pool:
            results = list(pool.map(fetch, info.endpoints))
        runs.append(time.perf_counter() - start)
        rows = sum(r for r, _ in results)
        nbytes = sum(b for _, b in results)
    return {"rows": rows, "bytes": nbytes, "seconds": runs}


def local(job: dict) -> dict:
    runs = []
    rows = nbytes = 0
    for _ in range(job["runs"]):
        start = time.perf_counter()
        table = pq.read_table(job["dir"], columns=job.get("columns"))
        runs.append(time.perf_counter() - start)
        rows, nbytes = table.num_rows, table.nbytes
        del table
    return {"rows": rows, "bytes": nbytes, "seconds": runs}


if __name__ == "__main__":
    job = json.load(sys.stdin)
    result = flight(job) if job["kind"] == "flight" else local(job)
    json.dump(result, sys.stdout)
