"""``download_to`` that outlives its process.

Rows land in ``<file>.laker-partial/``: each endpoint's batches as Arrow
IPC stream segments (``e00003-s0001.arrows``; written straight to the file
system, so a killed process leaves every batch it wrote), a ``.done``
marker per finished endpoint, and ``manifest.json`` naming the request and
the table version read; ``<file>.laker-lock`` is held while a process
downloads (or discards) it. A later ``download_to`` of the same slice counts
the complete rows of each endpoint there (a batch cut by the kill is
dropped), checks the dataset is still at that version, and asks the server
to skip those rows (``x-laker-skip-rows``). Once every endpoint is done the
file is written from the segments — to a temporary name, then renamed —
and the folder removed."""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pyarrow as pa
import pyarrow.flight as fl

from .errors import LakerError, VersionChanged

PARTIAL_SUFFIX = ".laker-partial"
LOCK_SUFFIX = ".laker-lock"
MANIFEST = "manifest.json"
LAYOUT = 1


def partial_dir(path: Path) -> Path:
    """Where an interrupted download of ``path`` keeps its rows."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


def lock_path(path: Path) -> Path:
    """The lock a download of ``path`` holds (beside the folder, so it is
    held before the folder is discarded or made)."""
    return path.with_name(path.name + LOCK_SUFFIX)


def complete_batches(segment: Path) -> Iterator[pa.RecordBatch]:
    """The batches of a segment that were written whole; stops at a batch
    cut short (its process was killed while writing it)."""
    try:
        source = pa.OSFile(str(segment), "rb")
    except OSError:
        return
    with source:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowException, OSError, ValueError):
            return
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError, ValueError):
                return
            yield batch


def schema_fingerprint(schema: pa.Schema) -> str:
    """The schema without metadata, serialized (to compare two plans)."""
    return base64.b64encode(schema.remove_metadata().serialize().to_pybytes()).decode()


class _Segment:
    """One endpoint's batches of this run, appended to one stream file."""

    def __init__(self, path: Path):
        self.path = path
        self._sink: Any = None
        self._writer: Any = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None:
            self._sink = pa.OSFile(str(self.path), "wb")
            self._writer = pa.ipc.new_stream(self._sink, batch.schema)
        self._writer.write_batch(batch)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._writer = None


class Partial:
    """The folder of an interrupted (or running) download of one file."""

    def __init__(self, path: Path):
        self.path = path
        self.dir = partial_dir(path)
        self.lock_path = lock_path(path)
        self._segments: Dict[int, _Segment] = {}
        self._lock = threading.Lock()
        self._lock_file: Any = None

    # -- the folder ---------------------------------------------------------

    def manifest(self) -> Optional[dict]:
        """The manifest of an earlier run, or ``None``."""
        try:
            manifest = json.loads((self.dir / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) and manifest.get("layout") == LAYOUT else None

    def discard(self) -> None:
        """Removes what an earlier run left (call it holding the lock)."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def begin(self, manifest: dict) -> None:
        """Starts a new partial download described by ``manifest``, once the
        lock is held: an earlier run's rows are discarded only when no
        process is writing them."""
        self.lock()
        self.discard()
        self.dir.mkdir(parents=True)
        self._write_json(MANIFEST, manifest)

    def lock(self) -> None:
        """Holds the download of ``path`` for this process (released when it
        ends, however it ends), on ``<path>.laker-lock``: two processes never
        write, nor discard, one download. Holding it already is fine."""
        if self._lock_file is not None:
            return
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        while True:
            handle = open(self.lock_path, "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise LakerError(f"another process is downloading into '{self.path}' "
                                 f"(its rows are in '{self.dir}')") from None
            # Its holder removes the lock file as it lets go: a file removed
            # meanwhile is no lock any more, so lock the one there now.
            try:
                there = os.stat(self.lock_path)
            except FileNotFoundError:
                there = None
            held = os.fstat(handle.fileno())
            if there is not None and (there.st_dev, there.st_ino) == (held.st_dev, held.st_ino):
                self._lock_file = handle
                return
            handle.close()

    def unlock(self) -> None:
        """Lets go of the lock, removing its file."""
        if self._lock_file is not None:
            try:
                os.unlink(self.lock_path)
            except OSError:
                pass
            self._lock_file.close()
            self._lock_file = None

    def _write_json(self, name: str, value: Any) -> None:
        temporary = self.dir / (name + ".tmp")
        temporary.write_text(json.dumps(value))
        os.replace(temporary, self.dir / name)

    # -- endpoints ----------------------------------------------------------

    def segments(self, endpoint: int) -> List[Path]:
        return sorted(self.dir.glob(f"e{endpoint:05d}-s*.arrows"))

    def done(self, endpoint: int) -> bool:
        return (self.dir / f"e{endpoint:05d}.done").exists()

    def rows_of(self, endpoint: int) -> int:
        """Rows of ``endpoint`` written whole by earlier runs."""
        return sum(b.num_rows for s in self.segments(endpoint) for b in complete_batches(s))

    def write(self, endpoint: int, batch: pa.RecordBatch) -> None:
        """Appends a batch of ``endpoint`` (called from its thread only)."""
        with self._lock:
            segment = self._segments.get(endpoint)
            if segment is None:
                number = len(self.segments(endpoint))
                segment = _Segment(self.dir / f"e{endpoint:05d}-s{number:04d}.arrows")
                self._segments[endpoint] = segment
        segment.write(batch)

    def finish(self, endpoint: int, rows: int) -> None:
        """Marks ``endpoint`` complete with ``rows`` rows."""
        with self._lock:
            segment = self._segments.pop(endpoint, None)
        if segment is not None:
            segment.close()
        (self.dir / f"e{endpoint:05d}.done").write_text(str(rows))

    def close(self) -> None:
        """Closes this run's segments (they stay, for a later run)."""
        with self._lock:
            segments, self._segments = list(self._segments.values()), {}
        for segment in segments:
            segment.close()

    def rows_done(self, endpoint: int) -> int:
        """Rows of a finished endpoint, as its marker records them."""
        try:
            return int((self.dir / f"e{endpoint:05d}.done").read_text())
        except (OSError, ValueError):
            return self.rows_of(endpoint)

    def batches(self, endpoints: int) -> Iterator[pa.RecordBatch]:
        """Every complete batch, endpoint after endpoint, in order."""
        for endpoint in range(endpoints):
            for segment in self.segments(endpoint):
                yield from complete_batches(segment)


def check_unchanged(name: str, manifest: dict, current: dict) -> None:
    """Refuses to resume when the dataset changed since the partial
    download began: another version, schema or partitioning, or (for
    datasets that are not Delta tables) another catalog revision."""
    before, now = manifest.get("version"), current.get("version")
    if before != now:
        raise VersionChanged(
            f"dataset '{name}' is at version {now} now, but the interrupted download read "
            f"version {before}; download it again with resume=False")
    for key, what in (("fingerprint", "was changed (refreshed or updated)"),
                      ("schema", "has another schema"),
                      ("endpoints", "is split differently")):
        if manifest.get(key) != current.get(key):
            raise VersionChanged(
                f"dataset '{name}' {what} since the interrupted download began; "
                "download it again with resume=False")


def assemble(partial: Partial, endpoints: int, open_writer: Callable[[Path], Any],
             schema: pa.Schema) -> int:
    """Writes the file from the segments (to a temporary name, renamed at
    the end); returns its rows. ``open_writer(path)`` gives an object with
    ``write(batch)``, ``close(schema)``, ``abort()`` and ``rows``."""
    temporary = partial.path.with_name(partial.path.name + ".laker-tmp")
    writer = open_writer(temporary)
    try:
        for batch in partial.batches(endpoints):
            writer.write(batch)
        writer.close(schema)
    except BaseException:
        writer.abort()
        raise
    os.replace(temporary, partial.path)
    return writer.rows


def current_state(info: fl.FlightInfo, version: Optional[int], fingerprint: Any) -> Dict[str, Any]:
    """What must not change between a partial download and its resumption."""
    return {
        "version": version,
        "fingerprint": fingerprint,
        "schema": schema_fingerprint(info.schema),
        "endpoints": len(info.endpoints),
    }
