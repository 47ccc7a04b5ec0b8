"""The server is killed (SIGKILL) while many uploads run at once, and
restarted: every acknowledged upload is there exactly once, nothing is
half there, the files of the uploads that never committed are deleted at
start-up, and retrying the unacknowledged uploads with their upload ids
completes the set without duplicates. Once with the upload store on the
local disk (the data directory's lake), once on S3 (a bucket of a real
moto_server, configured as ``[stores.lake]`` and ``--upload-store lake``),
where the leftover files are looked for by listing the bucket.

``LAKER_KILL_UPLOADS`` changes the number of uploads on the local disk
(default 100), ``LAKER_KILL_UPLOADS_S3`` on S3 (default 30)."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as fl
import pytest

from conftest import ADMIN_PASSWORD, Moto, create_admin, start_server, stop_server

BATCHES = 10
ROWS_PER_BATCH = 1000
# Incompressible bytes per row, and a 1 MiB file size: an upload (2 MB)
# writes a data file midway, so killed uploads leave files behind.
PAYLOAD = 200
PASSWORD = "crash-writer-password"
BUCKET = "crash-lake"


def flags(uploads: int) -> tuple[str, ...]:
    # One writer runs every upload at once: lift the per-user stream cap (64).
    return ("--upload-orphan-grace-secs", "0", "--upload-target-file-mb", "1",
            "--max-streams-per-user", str(uploads + 10))


def commit_adds(commits: list[bytes]) -> set[str]:
    """The data files the Delta commits ``commits`` add."""
    files = set()
    for commit in commits:
        for line in commit.decode().splitlines():
            action = json.loads(line)
            if "add" in action:
                files.add(action["add"]["path"])
    return files


class LocalLake:
    """The upload store is the data directory's lake."""

    def __init__(self, tmp_path: Path):
        self.data_dir = tmp_path / "crash-data"
        self.uploads = int(os.environ.get("LAKER_KILL_UPLOADS", "100"))
        self.flags: tuple[str, ...] = ()
        self.table_dir = self.data_dir / "lake" / "crash" / "events"

    def data_files(self) -> set[str]:
        """Every file of the table outside its log, relative to the table."""
        return {
            str(p.relative_to(self.table_dir))
            for p in self.table_dir.rglob("*")
            if p.is_file() and "_delta_log" not in p.parts
        }

    def referenced_files(self) -> set[str]:
        commits = sorted((self.table_dir / "_delta_log").glob("*.json"))
        return commit_adds([c.read_bytes() for c in commits])


class S3Lake:
    """The upload store is ``s3://crash-lake/lake/`` on a moto_server."""

    def __init__(self, moto: Moto, tmp_path: Path):
        self.moto = moto
        self.data_dir = tmp_path / "crash-data"
        self.uploads = int(os.environ.get("LAKER_KILL_UPLOADS_S3", "30"))
        moto.create_bucket(BUCKET)
        config = tmp_path / "laker.toml"
        config.write_text(moto.store_config("lake", f"s3://{BUCKET}/lake/", tmp_path))
        self.flags = ("--config", str(config), "--upload-store", "lake")
        self.prefix = "lake/crash/events/"

    def data_files(self) -> set[str]:
        """Every object of the table outside its log, relative to the table."""
        return {
            key[len(self.prefix):]
            for key in self.moto.keys(BUCKET, self.prefix)
            if not key.startswith(self.prefix + "_delta_log/")
        }

    def referenced_files(self) -> set[str]:
        log = self.moto.keys(BUCKET, self.prefix + "_delta_log/")
        return commit_adds([self.moto.read(BUCKET, k) for k in log if k.endswith(".json")])


@pytest.fixture(params=["local", "s3"])
def lake(request, tmp_path):
    if request.param == "s3":
        return S3Lake(request.getfixturevalue("moto"), tmp_path)
    return LocalLake(tmp_path)


def batch(upload: int, part: int) -> pa.RecordBatch:
    seq = pa.array(range(part * ROWS_PER_BATCH, (part + 1) * ROWS_PER_BATCH), pa.int64())
    noise = os.urandom(PAYLOAD * ROWS_PER_BATCH)
    payload = pa.array([noise[i * PAYLOAD:(i + 1) * PAYLOAD] for i in range(ROWS_PER_BATCH)], pa.binary())
    return pa.record_batch(
        [pa.array([upload] * ROWS_PER_BATCH, pa.int64()), seq, payload],
        names=["upload", "seq", "payload"])


_tokens: dict[str, tuple[bytes, bytes]] = {}
_tokens_lock = threading.Lock()


def login(url: str) -> tuple[fl.FlightClient, tuple[bytes, bytes]]:
    """A client for ``url`` and the writer's bearer token (one login per server)."""
    client = fl.FlightClient(url)
    with _tokens_lock:
        if url not in _tokens:
            _tokens[url] = client.authenticate_basic_token("crashwriter", PASSWORD)
        return client, _tokens[url]


def put(url: str, upload: int, mode: str = "append") -> dict:
    """One upload, sent in paced batches so that many are in flight at once."""
    client, token = login(url)
    options = fl.FlightCallOptions(headers=[
        token, (b"x-laker-upload-mode", mode.encode()),
        (b"x-laker-upload-id", f"crash-{upload}".encode())])
    try:
        writer, results = client.do_put(
            fl.FlightDescriptor.for_path("crash", "events"), batch(upload, 0).schema, options=options)
        for part in range(BATCHES):
            writer.write_batch(batch(upload, part))
            time.sleep(0.02)
        writer.done_writing()
        answer = json.loads(results.read().to_pybytes())
        writer.close()
        return answer
    finally:
        client.close()


def counts(url: str) -> dict[int, int]:
    client, token = login(url)
    opts = fl.FlightCallOptions(headers=[token])
    info = client.get_flight_info(
        fl.FlightDescriptor.for_command(json.dumps({"dataset": "crash.events"})), options=opts)
    table = pa.concat_tables(
        client.do_get(e.ticket, options=opts).read_all().select(["upload", "seq"]) for e in info.endpoints)
    client.close()
    grouped = table.group_by("upload").aggregate([("seq", "count")])
    return dict(zip(grouped.column("upload").to_pylist(), grouped.column("seq_count").to_pylist()))


def test_kill_during_concurrent_uploads_loses_and_duplicates_nothing(lake):
    uploads = lake.uploads
    data_dir = lake.data_dir
    data_dir.mkdir()
    create_admin(data_dir)
    server = start_server(data_dir, *flags(uploads), *lake.flags, demo=False)
    try:
        client = fl.FlightClient(server.url)
        admin = fl.FlightCallOptions(headers=[client.authenticate_basic_token("admin", ADMIN_PASSWORD)])
        for kind, body in [
            ("create_namespace", {"name": "crash"}),
            ("create_user", {"name": "crashwriter", "password": PASSWORD}),
            ("grant", {"user": "crashwriter", "pattern": "crash.*", "action": "write"}),
            ("grant", {"user": "crashwriter", "pattern": "crash.*", "action": "read"}),
        ]:
            list(client.do_action(fl.Action(kind, json.dumps(body).encode()), options=admin))
        client.close()
        # Upload -1 creates the dataset before the crowd arrives.
        assert put(server.url, -1, mode="create")["rows"] == BATCHES * ROWS_PER_BATCH

        acked: dict[int, dict] = {}
        failed: set[int] = set()
        lock = threading.Lock()
        enough = threading.Event()

        def one(i: int) -> None:
            try:
                answer = put(server.url, i)
            except (fl.FlightError, pa.ArrowException, OSError):
                with lock:
                    failed.add(i)
                return
            with lock:
                acked[i] = answer
                if len(acked) >= uploads // 3:
                    enough.set()

        with ThreadPoolExecutor(max_workers=uploads) as pool:
            for i in range(uploads):
                pool.submit(one, i)
            assert enough.wait(timeout=600), f"only {len(acked)} uploads were acknowledged"
            server.proc.kill()  # SIGKILL: no shutdown, no cleanup
            server.proc.wait()
        acked_before_kill = dict(acked)
        unacked = set(range(uploads)) - set(acked_before_kill)
        assert unacked, "every upload finished before the kill; nothing was tested"
        assert all(a["duplicate"] is False for a in acked_before_kill.values())
    finally:
        stop_server(server)

    server = start_server(data_dir, *flags(uploads), *lake.flags, demo=False)
    try:
        cleaned = server.events(
            lambda e: e.get("fields", {}).get("message") == "orphan upload files cleaned")
        # Only files some commit added remain; those of killed uploads are gone.
        assert cleaned["fields"]["files"] > 0, "the killed uploads left no file: nothing was tested"
        left = lake.data_files() - lake.referenced_files()
        assert not left, f"files no commit adds are left: {sorted(left)}"

        print(f"{type(lake).__name__}: acknowledged before the kill: {len(acked_before_kill)}, "
              f"in flight: {len(unacked)}, "
              f"orphan files deleted at start-up: {cleaned['fields']['files']}")
        seen = counts(server.url)
        full = BATCHES * ROWS_PER_BATCH
        for i in acked_before_kill:
            assert seen.get(i) == full, f"acknowledged upload {i} has {seen.get(i)} rows"
        for i in unacked:
            assert seen.get(i, 0) in (0, full), f"upload {i} is half there: {seen.get(i)} rows"
        assert set(seen) <= set(range(-1, uploads)), "rows of no upload appeared"

        # Retrying the unacknowledged uploads with the same ids completes the set;
        # those that had committed unacknowledged answer duplicate and write nothing.
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = dict(zip(unacked, pool.map(lambda i: put(server.url, i), unacked)))
        for i, answer in answers.items():
            assert answer["duplicate"] is (seen.get(i, 0) == full), (i, answer, seen.get(i))
        final = counts(server.url)
        assert final == {i: full for i in range(-1, uploads)}
    finally:
        stop_server(server)
