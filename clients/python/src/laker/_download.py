"""Fetching a download's endpoints: in parallel (bounded; in order when
the result is ordered), with a progress bar on a terminal, and resuming a
stream the network cut where it stopped (the server skips the rows already
received: ``x-laker-skip-rows``). Message bodies may be compressed on the
wire (``x-laker-compression``), and the table version a download read
travels in its schema metadata (``laker:version``)."""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Container, Dict, List, Optional, Sequence, Tuple

import pyarrow as pa
import pyarrow.flight as fl

from .errors import InvalidSpec, resumable, translate

SKIP_ROWS_HEADER = b"x-laker-skip-rows"
COMPRESSION_HEADER = b"x-laker-compression"
COMPRESSIONS = ("zstd", "lz4")
MAX_RESUMES = 10

Header = Tuple[bytes, bytes]


def compression_headers(compression: Optional[str]) -> List[Header]:
    """The header asking for ``compression`` (zstd or lz4) of message bodies."""
    if compression is None:
        return []
    if compression not in COMPRESSIONS:
        raise InvalidSpec(f"compression must be zstd or lz4 (or None), not '{compression}'")
    return [(COMPRESSION_HEADER, compression.encode())]


def laker_metadata(info: fl.FlightInfo) -> Dict[bytes, bytes]:
    """The ``laker:*`` schema metadata of a download (dataset, version…)."""
    try:
        metadata = info.schema.metadata or {}
    except Exception:  # noqa: BLE001 (a result without a schema)
        return {}
    return {k: v for k, v in metadata.items() if k.startswith(b"laker:")}


def info_version(info: fl.FlightInfo) -> Optional[int]:
    """The Delta table version a download reads (``None``: not a Delta table)."""
    try:
        meta = json.loads(info.app_metadata or b"{}")
    except ValueError:
        meta = {}
    version = meta.get("version") if isinstance(meta, dict) else None
    if version is None:
        version = laker_metadata(info).get(b"laker:version")
    try:
        return int(version) if version is not None else None
    except (TypeError, ValueError):
        return None


def with_metadata(table: pa.Table, metadata: Dict[bytes, bytes]) -> pa.Table:
    """``table`` carrying ``metadata`` in its schema."""
    if not metadata:
        return table
    return table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})


class Progress:
    """Rows and bytes received; drawn with tqdm when wanted and available."""

    def __init__(self, total: Optional[int], enabled: Optional[bool], initial: int = 0):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.rows = initial
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
                                 unit_scale=True, file=sys.stderr, initial=initial)

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
    start: int = 0,
) -> int:
    """Streams one endpoint into ``emit``, from row ``start`` on (the rows
    before it are already at hand: the server skips them); after a
    connection failure, starts again, asking the server to skip the rows
    received when ``resume`` (a download), or only if nothing was received
    yet (a SQL result, whose rows need not come in the same order twice).
    Returns the endpoint's rows, ``start`` included."""
    received = start
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
    starts: Sequence[int] = (),
    skip: Container[int] = (),
    finished: Optional[Callable[[int, int], None]] = None,
) -> None:
    """Fetches every endpoint of ``info``; ``emit(endpoint_index, batch)``.
    Endpoint ``i`` starts at row ``starts[i]`` (0 when absent); endpoints in
    ``skip`` are not fetched; ``finished(i, rows)`` follows an endpoint's end."""
    endpoints = list(info.endpoints)
    todo = [i for i in range(len(endpoints)) if i not in skip]

    def one(i: int) -> None:
        start = starts[i] if i < len(starts) else 0
        rows = fetch_endpoint(client, headers, endpoints[i].ticket, lambda b: emit(i, b),
                              progress, resume, start)
        if finished is not None:
            finished(i, rows)

    workers = 1 if getattr(info, "ordered", False) else max(1, min(parallel, len(todo)))
    if workers == 1:
        for i in todo:
            one(i)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(one, i) for i in todo]
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
    table = pa.Table.from_batches([b if b.schema == schema else b.cast(schema) for b in batches],
                                  schema=schema)
    return with_metadata(table, laker_metadata(info))
