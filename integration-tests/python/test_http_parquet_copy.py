"""HTTP Parquet downloads served by copying the lake's column chunks
(docs/http-api.md): a plain download of a ``format: parquet`` dataset says
``X-Laker-Parquet: copied``, keeps the files' row groups and codec, and
holds what Flight returns; a download needing row-level work (a filter, a
limit, an order, another codec, a caller's row filter or mask) and a Delta
table's download are encoded as before, without the header, with exactly
the rows the caller may see; a copied download is audited with its rows
and bytes."""

from __future__ import annotations

import io
import re
import uuid
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from http_api import (  # noqa: F401 (admin, admin_flight, delta: fixtures)
    PASSWORD, Caller, admin, admin_flight, assert_same_rows, delta, flight_table,
    http_downloads, user_caller, wait_for,
)

CITIES = ["Oslo", "Bergen", "Tromsø"]
# Rows of the two files: ids 0-2999 and 3000-4999, row groups of 1000.
SPLIT, ROWS, ROW_GROUP = 3000, 5000, 1000


def events(start: int, stop: int) -> pa.Table:
    ids = range(start, stop)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "city": pa.array([CITIES[i % 3] for i in ids], pa.string()),
        "score": pa.array([None if i % 7 == 0 else i / 4 for i in ids], pa.float64()),
        "tags": pa.array([None if i % 5 == 0 else [i, -i] for i in ids], pa.list_(pa.int64())),
    })


class FileDataset(NamedTuple):
    """A ``format: parquet`` dataset and a user who may read all of it."""
    name: str
    reader: Caller


@pytest.fixture(scope="module")
def files(server, http_url, admin_flight) -> FileDataset:
    """``<ns>.events``: two Snappy Parquet files written by pyarrow,
    registered as a ``format: parquet`` dataset."""
    namespace = f"httpcopy_{uuid.uuid4().hex[:8]}"
    admin_flight.action("create_namespace", {"name": namespace})
    folder = server.data_dir / "lake" / f"{namespace}_files" / "events"
    folder.mkdir(parents=True)
    for i, part in enumerate([events(0, SPLIT), events(SPLIT, ROWS)]):
        pq.write_table(part, folder / f"part-{i}.parquet", row_group_size=ROW_GROUP,
                       compression="snappy")
    name = f"{namespace}.events"
    admin_flight.action("register_dataset", {"name": name, "location": folder.as_uri() + "/",
                                             "format": "parquet"})
    reader = user_caller(http_url, admin_flight, "copyreader",
                         [{"pattern": f"{namespace}.*", "action": "read"}])
    return FileDataset(name, reader)


def download(caller: Caller, name: str, params: dict):
    r = caller.get(f"/api/v1/datasets/{name}/download", {"format": "parquet", **params})
    assert r.status_code == 200, r.text
    return r, pq.read_table(io.BytesIO(r.content))


def assert_same_table(got: pa.Table, expected: pa.Table) -> None:
    """The same columns, types (list item names aside) and rows, in id order."""
    got, expected = got.sort_by("id"), expected.sort_by("id")
    assert got.column_names == expected.column_names
    for name in expected.column_names:
        want, have = expected.schema.field(name).type, got.schema.field(name).type
        if pa.types.is_list(want):
            assert pa.types.is_list(have) and have.value_type == want.value_type, name
        else:
            assert have == want, name
    assert got.to_pylist() == expected.to_pylist()


@pytest.mark.parametrize("params", [
    {}, {"columns": "tags,id"}, {"columns": "city,id", "compression": "snappy"},
])
def test_a_plain_parquet_download_is_copied(server, files, params):
    r, got = download(files.reader, files.name, params)
    assert r.headers["X-Laker-Parquet"] == "copied"
    spec = {"dataset": files.name}
    if "columns" in params:
        spec["columns"] = params["columns"].split(",")
    expected = flight_table(server.url, files.reader.user, PASSWORD, spec)
    assert expected.num_rows == ROWS
    assert_same_table(got, expected)
    # The files' row groups and codec, copied (an encoded download writes
    # row groups of its own).
    meta = pq.ParquetFile(io.BytesIO(r.content)).metadata
    assert meta.num_row_groups == ROWS // ROW_GROUP
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [ROW_GROUP] * 5
    assert {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)} == {"SNAPPY"}


@pytest.mark.parametrize("params,spec", [
    ({"filter": "id >= 4000"}, {"filter": "id >= 4000"}),
    ({"columns": "id,score", "filter": "score > 100"},
     {"columns": ["id", "score"], "filter": "score > 100"}),
    ({"compression": "zstd"}, {}),
])
def test_a_download_needing_row_work_is_encoded(server, files, params, spec):
    r, got = download(files.reader, files.name, params)
    assert "X-Laker-Parquet" not in r.headers
    expected = flight_table(server.url, files.reader.user, PASSWORD,
                            {"dataset": files.name, **spec})
    assert expected.num_rows > 0
    assert_same_table(got, expected)
    if "compression" in params:
        meta = pq.ParquetFile(io.BytesIO(r.content)).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"


def test_limited_and_ordered_downloads_are_encoded(files):
    r, got = download(files.reader, files.name, {"limit": 10})
    assert "X-Laker-Parquet" not in r.headers
    assert got.num_rows == 10 and set(got["id"].to_pylist()) <= set(range(ROWS))
    r, got = download(files.reader, files.name, {"order_by": "id desc", "columns": "id"})
    assert "X-Laker-Parquet" not in r.headers
    assert got["id"].to_pylist() == list(range(ROWS - 1, -1, -1))


def test_a_row_filter_is_applied_not_copied_around(server, http_url, admin_flight, files):
    user = user_caller(http_url, admin_flight, "copyfiltered", [
        {"pattern": files.name, "action": "read", "row_filter": "city = 'Oslo'"}])
    for params in ({}, {"columns": "id,tags"}):
        r, got = download(user, files.name, params)
        assert "X-Laker-Parquet" not in r.headers
        assert sorted(got["id"].to_pylist()) == [i for i in range(ROWS) if i % 3 == 0]
        spec = {"dataset": files.name}
        if "columns" in params:
            spec["columns"] = params["columns"].split(",")
        assert_same_table(got, flight_table(server.url, user.user, PASSWORD, spec))
    _, got = download(user, files.name, {})
    assert set(got["city"].to_pylist()) == {"Oslo"}


def test_masked_columns_stay_masked(server, http_url, admin_flight, files):
    user = user_caller(http_url, admin_flight, "copymasked", [
        {"pattern": files.name, "action": "read",
         "column_masks": {"city": "hash", "score": "hide"}}])
    r, got = download(user, files.name, {})
    assert "X-Laker-Parquet" not in r.headers
    assert got.column_names == ["id", "city", "tags"]
    assert got.num_rows == ROWS
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in got["city"].to_pylist())
    assert_same_table(got, flight_table(server.url, user.user, PASSWORD, {"dataset": files.name}))
    # Even the columns no mask touches are read through the caller's view.
    r, got = download(user, files.name, {"columns": "id,tags"})
    assert "X-Laker-Parquet" not in r.headers
    assert_same_table(got, events(0, ROWS).select(["id", "tags"]))


def test_a_delta_table_is_still_encoded(delta):
    name, writer = delta
    r, got = download(writer, name, {})
    assert "X-Laker-Parquet" not in r.headers
    assert sorted(got["id"].to_pylist()) == [1, 2, 3, 4, 5]
    assert sorted(got["city"].to_pylist()) == sorted(["Oslo", "Bergen", "Tromsø", "Bodø", "Molde"])


def test_a_copied_download_is_audited_with_its_rows_and_bytes(http_url, admin_flight, admin,
                                                             files):
    user = user_caller(http_url, admin_flight, "copyaudit",
                       [{"pattern": files.name, "action": "read"}])
    r, got = download(user, files.name, {"columns": "id"})
    assert r.headers["X-Laker-Parquet"] == "copied"
    assert got.num_rows == ROWS
    (found,) = wait_for("the copied download's audit record",
                        lambda: http_downloads(admin, user.user, files.name))
    assert found["outcome"] == "ok", found
    assert found["rows"] == ROWS
    assert found["bytes"] == len(r.content)
