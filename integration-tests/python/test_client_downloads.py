"""Download parameters of the ``laker`` package against a real server:
``version`` / ``as_of`` and the version a download reports, ``order_by``,
wire compression (``x-laker-compression``), pandas and polars types as
pyarrow converts them, and ``download_to`` resuming across a process
killed by SIGKILL (``x-laker-skip-rows``), refused once the table changed."""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest

import laker
from conftest import ADMIN_PASSWORD, create_admin
from laker import _resume
from proxy import CuttingProxy

USER = "pydl"
PASSWORD = "pydl-password-1"
RESUME_ROWS = 200_000  # per upload; three uploads


@pytest.fixture(scope="module")
def lake(server):
    create_admin(server.data_dir)
    with laker.connect(server.url, user="admin", password=ADMIN_PASSWORD) as admin:
        admin.create_namespace("pydl")
        admin.create_user(USER, PASSWORD)
        for pattern, action in [("pydl.*", "read"), ("pydl.*", "write"), ("demo.*", "read")]:
            admin.grant(pattern, action, user=USER)
    with laker.connect(server.url, user=USER, password=PASSWORD) as client:
        yield client


def numbers(start: int, count: int) -> pa.Table:
    ids = pa.array(range(start, start + count), pa.int64())
    return pa.table({"id": ids, "label": pc.cast(ids, pa.string())})


def test_versions_are_reported_and_pinned(lake):
    committed = []  # a time after each commit, before the next
    for i, mode in enumerate(["create", "append", "append"]):
        assert lake.upload("pydl.versions", numbers(i * 3, 3), mode=mode)["version"] == i
        committed.append(datetime.datetime.now(datetime.timezone.utc))
    latest = lake.download("pydl.versions")
    assert latest.num_rows == 9 and laker.version_of(latest) == 2
    assert latest.schema.metadata[b"laker:dataset"] == b"pydl.versions"
    first = lake.download("pydl.versions", version=0, order_by=["id"])
    assert first["id"].to_pylist() == [0, 1, 2] and laker.version_of(first) == 0

    described = lake.describe("pydl.versions")
    assert described.version == 2
    assert [v.version for v in described.versions] == [2, 1, 0]
    assert all(v.timestamp and v.operation for v in described.versions)
    at = committed[1]
    as_of = lake.download("pydl.versions", as_of=at)
    assert as_of.num_rows == 6 and laker.version_of(as_of) == 1
    assert laker.version_of(lake.download("pydl.versions", as_of=at.isoformat())) == 1
    with pytest.raises(laker.InvalidSpec, match="either version or as_of"):
        lake.download("pydl.versions", version=1, as_of=at)

    frame = lake.to_pandas("pydl.versions", version=1)
    assert len(frame) == 6 and frame.attrs["laker:version"] == 1
    assert laker.version_of(frame) == 1
    assert lake.to_polars("pydl.versions", as_of=at).height == 6
    assert laker.version_of(lake.download("demo.zones")) is None  # not a Delta table


def test_order_by_and_written_versions(lake, tmp_path):
    ordered = lake.download("pydl.versions", columns=["id"], order_by=["id DESC"], limit=4)
    assert ordered["id"].to_pylist() == [8, 7, 6, 5]
    frame = lake.to_pandas("pydl.versions", order_by=["label DESC"], limit=2)
    assert frame["label"].tolist() == ["8", "7"]
    written = lake.download_to(tmp_path / "v.parquet", "pydl.versions", order_by=["id"])
    assert (written.rows, written.version, written.resumed_rows) == (9, 2, 0)
    assert written.path == tmp_path / "v.parquet" and written.format == "parquet"
    assert pq.read_schema(written.path).metadata[b"laker:version"] == b"2"
    assert pq.read_table(written.path)["id"].to_pylist() == list(range(9))
    pinned = lake.download_to(tmp_path / "v0.csv", "pydl.versions", format="csv", version=0,
                              resume=False)
    assert (pinned.rows, pinned.version) == (3, 0)
    assert not (tmp_path / "v.parquet.laker-partial").exists()


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_compression_shrinks_what_crosses_the_wire(server, lake, codec):
    spec = {"columns": ["city", "passengers"], "limit": 300_000, "order_by": ["trip_id"]}
    sizes = {}
    tables = {}
    for compression in (None, codec):
        proxy = CuttingProxy(server.addr, cut_after=0, cuts=0)
        try:
            with laker.connect(proxy.url, user=USER, password=PASSWORD) as lake:
                tables[compression] = lake.download("demo.trips", compression=compression, **spec)
            sizes[compression] = proxy.from_server
        finally:
            proxy.close()
    assert tables[codec].equals(tables[None])
    assert tables[None].num_rows == 300_000
    assert sizes[codec] < sizes[None] / 2, sizes


def test_compression_in_every_download_call(lake, tmp_path):
    expected = lake.download("pydl.versions", order_by=["id"])
    got = lake.download("pydl.versions", order_by=["id"], compression="zstd")
    assert got.equals(expected)
    assert lake.to_pandas("pydl.versions", order_by=["id"], compression="lz4").equals(
        expected.to_pandas())
    assert lake.to_polars("pydl.versions", compression="zstd").height == 9
    written = lake.download_to(tmp_path / "z.arrow", "pydl.versions", format="arrow",
                               compression="zstd")
    assert written.rows == 9 and feather.read_table(written.path).num_rows == 9
    assert lake.sql("SELECT count(*) AS n FROM pydl.versions", compression="zstd")["n"][0].as_py() == 9
    with pytest.raises(laker.InvalidSpec, match="compression must be zstd or lz4"):
        lake.download("pydl.versions", compression="gzip")


def typed_table(zone: str) -> pa.Table:
    """Zone-aware timestamps, decimals with a null, a dictionary column,
    dates, booleans and integers with nulls."""
    hours = [datetime.datetime(2026, 3, 29, 0, 30) + datetime.timedelta(hours=h) for h in range(6)]
    return pa.table({
        "id": pa.array(range(6), pa.int64()),
        "at": pa.array(hours, pa.timestamp("us")).cast(pa.timestamp("us", tz=zone)),
        "amount": pa.array([Decimal("1.25"), Decimal("-3.10"), None, Decimal("1000.00"),
                            Decimal("0.01"), Decimal("42.42")], pa.decimal128(12, 2)),
        "city": pa.array(["Oslo", "Bergen", "Oslo", None, "Tromsø", "Bergen"]).dictionary_encode(),
        "day": pa.array([datetime.date(2026, 3, d) for d in range(1, 7)], pa.date32()),
        "flag": pa.array([True, None, False, True, None, False]),
        "n": pa.array([1, None, 3, None, 5, 6], pa.int64()),
    })


def flight_table(server, spec: dict) -> pa.Table:
    """The dataset as pyarrow's own Flight client receives it."""
    client = fl.FlightClient(server.url)
    try:
        options = fl.FlightCallOptions(headers=[client.authenticate_basic_token(USER, PASSWORD)])
        info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(spec)), options)
        parts = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
        return pa.concat_tables(parts)
    finally:
        client.close()


@pytest.fixture(scope="module")
def typed(server, lake):
    """The typed table twice: uploaded (a Delta table, whose timestamps are
    UTC: Delta stores no other zone) and as Parquet files written by
    pyarrow with the Europe/Oslo zone, registered."""
    lake.upload("pydl.typed", typed_table("UTC"), mode="create_replace")
    folder = server.data_dir / "lake" / "pydl_registered" / "typed"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(typed_table("Europe/Oslo"), folder / "part-0.parquet")
    with laker.connect(server.url, user="admin", password=ADMIN_PASSWORD) as admin:
        admin.register_dataset("pydl.typed_files", folder.as_uri() + "/", "parquet")
    return {"pydl.typed": typed_table("UTC"), "pydl.typed_files": typed_table("Europe/Oslo")}


@pytest.mark.parametrize("name", ["pydl.typed", "pydl.typed_files"])
def test_pandas_and_polars_get_the_types_pyarrow_gives(server, lake, typed, name):
    original = typed[name]
    raw = flight_table(server, {"dataset": name, "order_by": ["id"]})

    frame = lake.to_pandas(name, order_by=["id"])
    pd.testing.assert_frame_equal(frame, raw.to_pandas())
    pd.testing.assert_frame_equal(lake.download(name, order_by=["id"]).to_pandas(), frame)
    # Zone-aware timestamps stay zone-aware, with the same instants.
    assert isinstance(frame["at"].dtype, pd.DatetimeTZDtype)
    expected_at = original.to_pandas()["at"].dt.tz_convert("UTC")
    assert list(frame["at"].dt.tz_convert("UTC")) == list(expected_at)
    # Decimals are decimal.Decimal, exactly.
    assert frame["amount"].tolist() == original["amount"].to_pylist()
    # A dictionary column arrives as its values (the wire sends them plainly);
    # pyarrow's categories= makes it categorical again, here as there.
    assert [None if pd.isna(c) else c for c in frame["city"]] == original["city"].to_pylist()
    categorical = lake.to_pandas(name, order_by=["id"], categories=["city"])
    assert isinstance(categorical["city"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(categorical, raw.to_pandas(categories=["city"]))
    arrow_backed = lake.to_pandas(name, order_by=["id"], types_mapper=pd.ArrowDtype)
    pd.testing.assert_frame_equal(arrow_backed, raw.to_pandas(types_mapper=pd.ArrowDtype))
    assert frame["day"].tolist() == original["day"].to_pylist()
    assert frame["flag"].tolist() == original["flag"].to_pylist()

    polars = lake.to_polars(name, order_by=["id"])
    assert polars.equals(pl.from_arrow(raw))
    assert polars.schema["at"].time_zone is not None
    assert isinstance(polars.schema["amount"], pl.Decimal)


def test_a_zone_delta_cannot_store_is_refused_with_the_reason(lake):
    with pytest.raises(laker.InvalidSpec, match="cannot be stored"):
        lake.upload("pydl.oslo", typed_table("Europe/Oslo"), mode="create")


CHILD = textwrap.dedent("""
    import os, signal, sys

    import laker
    import laker._resume as resume

    url, user, password, path, dataset, format = sys.argv[1:7]
    columns = sys.argv[7].split(",") if len(sys.argv) > 7 else None
    write = resume._Segment.write

    def write_then_die(self, batch):
        write(self, batch)
        # The first batch is on disk: the process dies here, as with kill -9.
        os.kill(os.getpid(), signal.SIGKILL)

    resume._Segment.write = write_then_die
    lake = laker.connect(url, user=user, password=password, parallel=1)
    lake.download_to(path, dataset, format=format, columns=columns)
    print("the download finished: it was never killed")
""")


def killed_download(server, path: Path, dataset: str, format: str, columns=None) -> None:
    """Runs ``download_to`` in another process, killed by SIGKILL once the
    first batch is written."""
    args = [sys.executable, "-c", CHILD, server.url, USER, PASSWORD, str(path), dataset, format]
    if columns:
        args.append(",".join(columns))
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)
    partial = path.with_name(path.name + ".laker-partial")
    assert (partial / "manifest.json").exists()
    assert list(partial.glob("e*-s*.arrows"))
    assert not path.exists()


@pytest.fixture(scope="module")
def resumable(lake):
    for i, mode in enumerate(["create_replace", "append", "append"]):
        lake.upload("pydl.resume", numbers(i * RESUME_ROWS, RESUME_ROWS), mode=mode)
    return "pydl.resume"


def test_download_to_resumes_after_sigkill(server, lake, resumable, tmp_path):
    path = tmp_path / "resume.parquet"
    killed_download(server, path, resumable, "parquet")
    written = lake.download_to(path, resumable)
    total = 3 * RESUME_ROWS
    assert 0 < written.resumed_rows < total
    assert (written.rows, written.version) == (total, 2)
    ids = pq.read_table(path)["id"]
    assert len(ids) == total
    assert pc.count_distinct(ids).as_py() == total
    assert sorted(ids.to_pylist()) == list(range(total))
    assert not path.with_name(path.name + ".laker-partial").exists()


def test_a_resume_of_a_changed_table_is_refused(server, lake, resumable, tmp_path):
    path = tmp_path / "changed.arrow"
    killed_download(server, path, resumable, "arrow")
    lake.upload(resumable, numbers(3 * RESUME_ROWS, 10))
    with pytest.raises(laker.VersionChanged, match="at version 3 now.*read version 2"):
        lake.download_to(path, resumable, format="arrow")
    assert path.with_name(path.name + ".laker-partial").exists()
    fresh = lake.download_to(path, resumable, format="arrow", resume=False)
    assert (fresh.rows, fresh.version, fresh.resumed_rows) == (3 * RESUME_ROWS + 10, 3, 0)
    assert feather.read_table(path).num_rows == 3 * RESUME_ROWS + 10
    assert not path.with_name(path.name + ".laker-partial").exists()


def test_a_download_in_progress_is_never_discarded(server, lake, resumable, tmp_path):
    path = tmp_path / "busy.parquet"
    killed_download(server, path, resumable, "parquet")
    partial = path.with_name(path.name + ".laker-partial")
    before = sorted(p.name for p in partial.iterdir())
    # Another process downloading into the same file holds its lock.
    holder = _resume.Partial(path)
    holder.lock()
    try:
        # Another slice would start over, resume=False would stream anew:
        # both are refused before anything of the running one is removed.
        for resume in (True, False):
            with pytest.raises(laker.LakerError, match="another process is downloading into"):
                lake.download_to(path, resumable, columns=["id"], resume=resume)
        assert sorted(p.name for p in partial.iterdir()) == before
    finally:
        holder.unlock()
    written = lake.download_to(path, resumable)
    assert 0 < written.resumed_rows < written.rows
    assert pc.count_distinct(pq.read_table(path)["id"]).as_py() == written.rows
    assert not partial.exists()
    assert not path.with_name(path.name + ".laker-lock").exists()


def test_a_dataset_that_is_not_delta_resumes_too(server, lake, tmp_path):
    path = tmp_path / "trips.arrow"
    killed_download(server, path, "demo.trips", "arrow", ["trip_id"])
    written = lake.download_to(path, "demo.trips", format="arrow", columns=["trip_id"])
    assert 0 < written.resumed_rows < written.rows
    assert written.version is None
    trips = feather.read_table(path)["trip_id"]
    assert len(trips) == written.rows == pc.count_distinct(trips).as_py()
    assert written.rows == lake.describe("demo.trips").rows


def test_another_slice_starts_over(server, lake, resumable, tmp_path):
    path = tmp_path / "slice.parquet"
    killed_download(server, path, resumable, "parquet")
    # Another slice of the same dataset into that file: nothing to resume.
    written = lake.download_to(path, resumable, columns=["id"], filter="id < 1000")
    assert (written.rows, written.resumed_rows) == (1000, 0)
    assert pq.read_table(path).column_names == ["id"]
