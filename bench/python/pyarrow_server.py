"""The baseline: a plain pyarrow.flight server serving Parquet files with
pyarrow.dataset — what a user might write instead of running Laker.

GetFlightInfo(path descriptor) answers one endpoint per file; a ticket is
JSON {"file": i, "columns": [...]|null, "filter": [column, op, value]|null}
(``value`` ISO dates are compared as dates). Prints ``port <n>`` when ready.

    python pyarrow_server.py DATA_DIR
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.flight as fl

OPS = {"<": lambda f, v: f < v, "<=": lambda f, v: f <= v, ">": lambda f, v: f > v,
       ">=": lambda f, v: f >= v, "=": lambda f, v: f == v}


class Server(fl.FlightServerBase):
    def __init__(self, data: Path):
        super().__init__("grpc://127.0.0.1:0")
        self.files = sorted(str(p) for p in data.rglob("*.parquet"))
        self.dataset = ds.dataset(self.files, format="parquet")

    def get_flight_info(self, context, descriptor):
        endpoints = [fl.FlightEndpoint(json.dumps({"file": i}), []) for i in range(len(self.files))]
        return fl.FlightInfo(self.dataset.schema, descriptor, endpoints, -1, -1)

    def do_get(self, context, ticket):
        req = json.loads(ticket.ticket)
        part = ds.dataset(self.files[req["file"]], format="parquet")
        columns = req.get("columns")
        expr = None
        if req.get("filter"):
            column, op, value = req["filter"]
            if isinstance(value, str):
                value = pa.scalar(datetime.date.fromisoformat(value))
            expr = OPS[op](pc.field(column), value)
        scanner = part.scanner(columns=columns, filter=expr)
        schema = scanner.projected_schema
        return fl.GeneratorStream(schema, scanner.to_batches())


if __name__ == "__main__":
    server = Server(Path(sys.argv[1]))
    print("port", server.port, flush=True)
    server.serve()
