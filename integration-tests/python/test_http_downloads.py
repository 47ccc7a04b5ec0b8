"""HTTP API downloads (docs/http-api.md): every format parsed with pyarrow
and compared with the same slice over Flight, headers, Arrow streamed
straight into pyarrow and polars, Delta versions, grants applied, and the
audit of complete and cut downloads."""

from __future__ import annotations

import io
import re
import urllib.parse
import urllib.request

import polars as pl
import pyarrow as pa
import pytest

from conftest import DEMO_ROWS
from http_api import (  # noqa: F401 (admin, admin_flight, delta, demo, restricted: fixtures)
    FORMATS, PASSWORD, TIMEOUT, admin, admin_flight, assert_same_rows, delta, demo,
    download_rows, flight_table, http_downloads, media_type, parse_download, problem,
    restricted, user_caller, wait_for,
)

SLICE = {"columns": "trip_id,fare,passengers,city", "filter": "fare > 30 AND passengers >= 2",
         "limit": 500, "order_by": "fare desc,trip_id"}


def flight_slice(url: str, **overrides) -> pa.Table:
    """SLICE of demo.trips as the demo user gets it over Flight."""
    spec = {"dataset": "demo.trips", "columns": SLICE["columns"].split(","),
            "filter": SLICE["filter"], "limit": SLICE["limit"],
            "order_by": SLICE["order_by"].split(","), **overrides}
    return flight_table(url, "demo", "demo", spec)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_download_in_each_format_matches_flight(server, demo, fmt):
    r = demo.get("/api/v1/datasets/demo.trips/download", {**SLICE, "format": fmt})
    assert r.status_code == 200, r.text
    content_type, extension = FORMATS[fmt]
    assert media_type(r) == content_type
    assert r.headers["Content-Disposition"] == f'attachment; filename="demo.trips.{extension}"'
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in r.headers
    assert "X-Laker-Version" not in r.headers, "demo.trips is not a Delta table"
    expected = flight_slice(server.url)
    assert expected.num_rows == 500
    assert_same_rows(parse_download(fmt, r.content), expected)


def test_download_defaults_to_csv(demo):
    r = demo.get("/api/v1/datasets/demo.zones/download")
    assert r.status_code == 200, r.text
    assert media_type(r) == "text/csv"
    assert r.headers["Content-Disposition"] == 'attachment; filename="demo.zones.csv"'
    table = parse_download("csv", r.content)
    assert table.column_names == ["zone_id", "name", "city"] and table.num_rows == 60


def test_arrow_streams_straight_into_pyarrow_and_polars(server, http_url, demo):
    columns = ["trip_id", "pickup_at", "fare", "passengers", "city"]
    params = {**SLICE, "columns": ",".join(columns), "format": "arrow"}
    expected = flight_slice(server.url, columns=columns)
    path = "/api/v1/datasets/demo.trips/download"

    url = f"{http_url}{path}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {demo.token}"})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
        from_urllib = pa.ipc.open_stream(resp).read_all()
    assert from_urllib.schema.types == expected.schema.types
    assert from_urllib.to_pylist() == expected.to_pylist()

    with demo.get(path, params, stream=True) as r:
        assert r.status_code == 200, r.text
        r.raw.decode_content = True
        from_requests = pa.ipc.open_stream(r.raw).read_all()
    assert from_requests.to_pylist() == expected.to_pylist()

    # polars opens HTTP URLs only through fsspec and without headers: bytes.
    frame = pl.read_ipc_stream(io.BytesIO(demo.get(path, params).content))
    assert frame.columns == columns
    for name in ("trip_id", "passengers", "city"):
        assert frame[name].to_list() == expected[name].to_pylist()
    assert frame["fare"].to_list() == pytest.approx(expected["fare"].to_pylist())


def test_bad_format_is_refused(demo):
    body = problem(demo.get("/api/v1/datasets/demo.zones/download", {"format": "xlsx"}),
                   400, "INVALID_ARGUMENT")
    assert "xlsx" in body["detail"] and "format" in body["detail"]



@pytest.mark.parametrize("fmt,codec,stored", [
    ("parquet", None, "SNAPPY"), ("parquet", "none", "UNCOMPRESSED"),
    ("parquet", "zstd", "ZSTD"),
    ("parquet", "lz4", "LZ4"),  # LZ4_RAW, which pyarrow names LZ4
    ("arrow", "lz4", None), ("arrow", "zstd", None),
])
def test_compression_inside_the_file(server, demo, fmt, codec, stored):
    params = {**SLICE, "format": fmt} | ({"compression": codec} if codec else {})
    r = demo.get("/api/v1/datasets/demo.trips/download", params)
    assert r.status_code == 200, r.text
    assert_same_rows(parse_download(fmt, r.content), flight_slice(server.url))
    if fmt == "parquet":
        import pyarrow.parquet as pq
        meta = pq.ParquetFile(io.BytesIO(r.content)).metadata
        assert {meta.row_group(0).column(i).compression
                for i in range(meta.num_columns)} == {stored}
    else:
        # IPC buffer compression: the body is not plain Arrow buffers.
        plain = demo.get("/api/v1/datasets/demo.trips/download", {**SLICE, "format": fmt})
        assert r.content != plain.content


@pytest.mark.parametrize("fmt,codec,says", [
    ("parquet", "brotli", "none, snappy, zstd, lz4"),
    ("arrow", "snappy", "none, lz4 or zstd"),
    ("csv", "zstd", "format=parquet and format=arrow only"),
])
def test_bad_compression_is_refused(demo, fmt, codec, says):
    body = problem(demo.get("/api/v1/datasets/demo.zones/download",
                            {"format": fmt, "compression": codec}), 400, "INVALID_ARGUMENT")
    assert says in body["detail"], body


def test_version_pinned_download_of_a_delta_table(delta):
    name, writer = delta
    path = f"/api/v1/datasets/{name}/download"
    latest = writer.get(path, {"order_by": "id"})
    assert latest.status_code == 200, latest.text
    assert latest.headers["X-Laker-Version"] == "1"
    assert latest.headers["Content-Disposition"] == f'attachment; filename="{name}.csv"'
    assert parse_download("csv", latest.content)["id"].to_pylist() == [1, 2, 3, 4, 5]

    pinned = writer.get(path, {"order_by": "id", "version": 0, "format": "parquet"})
    assert pinned.status_code == 200, pinned.text
    assert pinned.headers["X-Laker-Version"] == "0"
    assert pinned.headers["Content-Disposition"] == f'attachment; filename="{name}.v0.parquet"'
    assert parse_download("parquet", pinned.content).to_pylist() == [
        {"id": 1, "city": "Oslo"}, {"id": 2, "city": "Bergen"}, {"id": 3, "city": "Tromsø"}]

    detail = writer.ok(f"/api/v1/datasets/{name}")
    assert detail["format"] == "delta" and detail["version"] == 1
    assert [v["version"] for v in detail["versions"]] == [1, 0]
    assert all(isinstance(v["timestamp"], int) and v["operation"] for v in detail["versions"])
    assert writer.ok(f"/api/v1/datasets/{name}/check", {"version": 0})["version"] == 0
    assert writer.ok(f"/api/v1/datasets/{name}/check")["version"] == 1


def test_restricted_download_is_filtered_and_masked(server, restricted):
    columns = ["trip_id", "vendor", "city", "fare"]
    got = download_rows(restricted, "demo.trips",
                        {"columns": ",".join(columns), "order_by": "trip_id", "limit": 300})
    assert got.num_rows == 300
    assert set(got["city"].to_pylist()) == {"Bergen"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in got["vendor"].to_pylist())
    expected = flight_table(server.url, restricted.user, PASSWORD, {
        "dataset": "demo.trips", "columns": columns, "order_by": ["trip_id"], "limit": 300})
    assert_same_rows(got, expected)
    assert "payment_type" not in download_rows(restricted, "demo.trips", {"limit": 5}).column_names
    body = problem(restricted.get("/api/v1/datasets/demo.trips/download",
                                  {"columns": "trip_id,payment_type"}), 400, "INVALID_ARGUMENT")
    assert "payment_type" in body["detail"]


def test_downloads_are_audited_with_their_rows(http_url, admin_flight, admin):
    reader = user_caller(http_url, admin_flight, "httpaudit")
    assert download_rows(reader, "demo.zones", {"filter": "zone_id <= 12"}).num_rows == 12
    (found,) = wait_for("the download's audit record",
                        lambda: http_downloads(admin, reader.user, "demo.zones"))
    assert set(found) >= {"time", "principal", "source", "action", "dataset", "rows", "bytes",
                          "duration_ms", "outcome", "message"}
    assert found["principal"] == reader.user
    assert found["dataset"] == "demo.zones"
    assert found["rows"] == 12 and found["bytes"] > 0
    assert found["outcome"] == "ok"
    assert found["duration_ms"] >= 0


def test_a_download_cut_midway_is_audited_as_cancelled(http_url, admin_flight, admin):
    reader = user_caller(http_url, admin_flight, "httpcut")
    with reader.get("/api/v1/datasets/demo.trips/download", {"format": "csv"}, stream=True) as r:
        assert r.status_code == 200, r.text
        assert r.raw.read(64 * 1024).startswith(b"trip_id,vendor,")
    # Leaving the block closed the connection with most of the rows unsent.
    (found,) = wait_for("the cut download's audit record",
                        lambda: http_downloads(admin, reader.user, "demo.trips"))
    assert found["outcome"] == "cancelled", found
    assert found["rows"] < DEMO_ROWS
