"""Fetching a download's endpoints: in parallel (bounded; in order when
the result is ordered), with a progress bar on a terminal, and resuming a
stream the network cut where it stopped (the server skips the rows already
received: ``x-laker-skip-rows``)."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional

import pyarrow as pa
import pyarrow.flight as fl

from .errors import resumable, translate

SKIP_ROWS_HEADER = b"x-laker-skip-rows"
MAX_RESUMES = 10


class Progress:
    """Rows and bytes received; drawn with tqdm when wanted and available."""

    def __init__(self, total: Optional[int], enabled: Optional[bool]):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.rows = 0
        self.bytes = 0
        self._lock = threading.Lock()
        self._bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=total if total and total > 0 else None, unit=" rows",
                                 unit_scale=True, file=sys.stderr)

    def add(self, batch: pa.RecordBatch) -> None:
        with self._lock:
            self.rows += batch.num_rows
            self.bytes += batch.nbytes
            if self._bar is not None:
                self._bar.update(batch.num_rows)
                self._bar.set_postfix_str(f"{self.bytes / 1e6:.1f} MB", refresh=False)

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def fetch_endpoint(
    client: fl.FlightClient,
    headers: Callable[[], list],
    ticket: fl.Ticket,
    emit: Callable[[pa.RecordBatch], None],
    progress: Progress,
    resume: bool = True,
) -> int:
    """Streams one endpoint into ``emit``; after a connection failure, starts
    again, asking the server to skip the rows received when ``resume`` (a
    download), or only if nothing was received yet (a SQL result, whose
    rows need not come in the same order twice)."""
    received = 0
    resumes = 0
    while True:
        extra = [(SKIP_ROWS_HEADER, str(received).encode())] if received else []
        options = fl.FlightCallOptions(headers=headers() + extra)
        try:
            reader = client.do_get(ticket, options=options)
            while True:
                try:
                    chunk = reader.read_chunk()
                except StopIteration:
                    return received
                batch = chunk.data
                emit(batch)
                received += batch.num_rows
                progress.add(batch)
        except Exception as e:  # noqa: BLE001 (translated or resumed)
            if resumable(e) and resumes < MAX_RESUMES and (resume or received == 0):
                resumes += 1
                time.sleep(0.05 * resumes)
                continue
            raise translate(e) from None


def fetch_all(
    client: fl.FlightClient,
    headers: Callable[[], list],
    info: fl.FlightInfo,
    emit: Callable[[int, pa.RecordBatch], None],
    parallel: int,
    progress: Progress,
    resume: bool = True,
) -> None:
    """Fetches every endpoint of ``info``; ``emit(endpoint_index, batch)``."""
    endpoints = list(info.endpoints)
    workers = 1 if getattr(info, "ordered", False) else max(1, min(parallel, len(endpoints)))
    if workers == 1:
        for i, endpoint in enumerate(endpoints):
            fetch_endpoint(client, headers, endpoint.ticket, lambda b, i=i: emit(i, b), progress,
                           resume)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(fetch_endpoint, client, headers, e.ticket, lambda b, i=i: emit(i, b), progress,
                        resume)
            for i, e in enumerate(endpoints)
        ]
        for f in futures:
            f.result()


def collect(
    client: fl.FlightClient,
    headers: Callable[[], list],
    info: fl.FlightInfo,
    parallel: int,
    progress: Progress,
    resume: bool = True,
) -> pa.Table:
    """The whole result as a table, endpoints in their order."""
    parts: List[List[pa.RecordBatch]] = [[] for _ in info.endpoints]
    fetch_all(client, headers, info, lambda i, b: parts[i].append(b), parallel, progress, resume)
    batches = [b for part in parts for b in part]
    if not batches:
        return info.schema.empty_table()
    schema = batches[0].schema
    return pa.Table.from_batches([b if b.schema == schema else b.cast(schema) for b in batches], schema=schema)
