"""The Python side of laker-bench: times pyarrow.flight downloads, ADBC
Flight SQL queries and the local pyarrow.parquet baseline. Reads one JSON
job on stdin, prints one JSON result: rows, Arrow bytes and seconds per run.

Jobs:
  {"kind": "flight", "url": ..., "user": ..., "password": ..., "command": <spec JSON>|null,
   "path": [..]|null, "ticket_extra": {...}, "runs": n, "headers": [[name, value], ..]}
      GetFlightInfo, then every endpoint on its own thread.
  {"kind": "flight", ..., "ticket": <spec JSON>, "runs": n}
      One DoGet of that ticket: the whole result in one stream.
  {"kind": "adbc", "url": ..., "user": ...|"", "password": ..., "query": <SQL>, "runs": n,
   "headers": [[name, value], ..]}
      The query through ADBC's Flight SQL driver, its result read batch by batch.
  {"kind": "local", "dir": ..., "columns": [...]|null, "runs": n}
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow.flight as fl
import pyarrow.parquet as pq


def drain(reader) -> tuple[int, int]:
    """Rows and Arrow bytes of a Flight stream, read to its end."""
    rows = nbytes = 0
    for chunk in reader:
        rows += chunk.data.num_rows
        nbytes += chunk.data.nbytes
    return rows, nbytes


def flight(job: dict) -> dict:
    client = fl.FlightClient(job["url"])
    headers = []
    if job.get("user"):
        headers = [client.authenticate_basic_token(job["user"], job["password"])]
    headers += [(n.encode(), v.encode()) for n, v in job.get("headers", [])]
    opts = fl.FlightCallOptions(headers=headers)
    if job.get("ticket") is not None:
        return one_stream(client, opts, fl.Ticket(json.dumps(job["ticket"])), job["runs"])
    if job.get("command") is not None:
        descriptor = fl.FlightDescriptor.for_command(json.dumps(job["command"]))
    else:
        descriptor = fl.FlightDescriptor.for_path(*job["path"])
    extra = job.get("ticket_extra")
    runs = []
    rows = nbytes = endpoints = 0
    for _ in range(job["runs"]):
        start = time.perf_counter()
        info = client.get_flight_info(descriptor, opts)
        endpoints = len(info.endpoints)

        def fetch(endpoint) -> tuple[int, int]:
            ticket = endpoint.ticket
            if extra:
                ticket = fl.Ticket(json.dumps({**json.loads(ticket.ticket), **extra}))
            return drain(client.do_get(ticket, opts))

        with ThreadPoolExecutor(max_workers=max(1, endpoints)) as pool:
            results = list(pool.map(fetch, info.endpoints))
        runs.append(time.perf_counter() - start)
        rows = sum(r for r, _ in results)
        nbytes = sum(b for _, b in results)
    return {"rows": rows, "bytes": nbytes, "seconds": runs, "endpoints": endpoints}


def one_stream(client, opts, ticket, n: int) -> dict:
    runs = []
    rows = nbytes = 0
    for _ in range(n):
        start = time.perf_counter()
        rows, nbytes = drain(client.do_get(ticket, opts))
        runs.append(time.perf_counter() - start)
    return {"rows": rows, "bytes": nbytes, "seconds": runs, "endpoints": 1}


def adbc(job: dict) -> dict:
    import adbc_driver_flightsql.dbapi as flight_sql

    db_kwargs = {}
    if job.get("user"):
        db_kwargs = {"username": job["user"], "password": job["password"]}
    for name, value in job.get("headers", []):
        db_kwargs[f"adbc.flight.sql.rpc.call_header.{name}"] = value
    runs = []
    rows = nbytes = 0
    with flight_sql.connect(job["url"], db_kwargs=db_kwargs, autocommit=True) as conn, \
            conn.cursor() as cur:
        for _ in range(job["runs"]):
            start = time.perf_counter()
            cur.execute(job["query"])
            rows = nbytes = 0
            for batch in cur.fetch_record_batch():
                rows += batch.num_rows
                nbytes += batch.nbytes
            runs.append(time.perf_counter() - start)
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


KINDS = {"flight": flight, "adbc": adbc, "local": local}

if __name__ == "__main__":
    job = json.load(sys.stdin)
    json.dump(KINDS[job["kind"]](job), sys.stdout)
