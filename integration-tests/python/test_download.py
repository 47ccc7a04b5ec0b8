"""The README quick-start and the download path, with a real pyarrow.flight client.

Expected values are computed by pyarrow reading the demo Parquet files directly.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.flight as fl
import pytest

from conftest import DEMO_ROWS


def trips_dataset(server) -> ds.Dataset:
    return ds.dataset(
        server.data_dir / "lake" / "demo" / "trips",
        format="parquet",
        partitioning=ds.partitioning(pa.schema([("month", pa.string())]), flavor="hive"),
    )


def test_quickstart_snippet(server, client, opts):
    # The README snippet, verbatim apart from the URL.
    paths = [f.descriptor.path for f in client.list_flights(options=opts)]
    assert paths == [[b"demo", b"trips"], [b"demo", b"zones"]]

    spec = {"dataset": "demo.trips", "columns": ["pickup_at", "fare"],
            "filter": "fare > 30 AND passengers >= 2", "limit": 1000}
    info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(spec)), opts)
    assert info.schema.names == ["pickup_at", "fare"]
    assert info.schema.field("pickup_at").type == pa.timestamp("us", tz="UTC")
    t = client.do_get(info.endpoints[0].ticket, opts).read_all()
    assert t.num_rows == 1000
    assert t.schema.names == ["pickup_at", "fare"]
    assert pc.min(t["fare"]).as_py() > 30

    t2 = client.do_get(fl.Ticket(json.dumps(spec)), opts).read_all()
    assert t2.num_rows == 1000


def test_filtered_download_matches_the_files(server, client, opts):
    spec = {"dataset": "demo.trips", "columns": ["trip_id", "fare", "passengers"],
            "filter": "fare > 30 AND passengers >= 2"}
    got = client.do_get(fl.Ticket(json.dumps(spec)), opts).read_all()
    expected = trips_dataset(server).to_table(
        columns=["trip_id", "fare", "passengers"],
        filter=(pc.field("fare") > 30) & (pc.field("passengers") >= 2),
    )
    assert got.num_rows == expected.num_rows > 10_000
    assert got.sort_by("trip_id").equals(expected.sort_by("trip_id"))


def test_whole_dataset_over_parallel_endpoints(server, client, opts):
    info = client.get_flight_info(fl.FlightDescriptor.for_path("demo", "trips"), opts)
    assert info.total_records == DEMO_ROWS
    assert len(info.endpoints) == 8
    assert "month" in info.schema.names
    parts = [client.do_get(e.ticket, opts).read_all() for e in info.endpoints]
    table = pa.concat_tables(parts)
    assert table.num_rows == DEMO_ROWS
    assert pc.count_distinct(table["trip_id"]).as_py() == DEMO_ROWS
    expected = trips_dataset(server).to_table(columns=["fare"])
    assert pc.sum(table["fare"]).as_py() == pytest.approx(pc.sum(expected["fare"]).as_py())


def test_schema_and_ordering(client, opts):
    schema = client.get_schema(fl.FlightDescriptor.for_path("demo", "zones"), opts).schema
    assert schema.names == ["zone_id", "name", "city"]
    spec = {"dataset": "demo.trips", "columns": ["fare"], "order_by": ["fare DESC"], "limit": 5}
    info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(spec)), opts)
    assert info.ordered
    fares = client.do_get(info.endpoints[0].ticket, opts).read_all()["fare"].to_pylist()
    assert fares == sorted(fares, reverse=True) and len(fares) == 5


def test_download_is_logged_with_rows_and_bytes(server, client, opts):
    spec = {"dataset": "demo.zones", "filter": "zone_id <= 12"}
    assert client.do_get(fl.Ticket(json.dumps(spec)), opts).read_all().num_rows == 12
    event = server.events(
        lambda e: e.get("fields", {}).get("message") == "download finished"
        and e.get("span", {}).get("dataset") == "demo.zones"
        and e.get("span", {}).get("rows") == 12
    )
    span = event["span"]
    assert span["principal"] == "demo"
    assert span["rpc"] == "DoGet"
    assert span["bytes"] > 0
    assert "ms" in span
    assert event["fields"]["outcome"] == "ok"


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_compressed_download_reads_the_same(server, client, opts, codec):
    spec = {"dataset": "demo.trips", "filter": "trip_id < 100000"}
    plain = client.do_get(fl.Ticket(json.dumps(spec)), opts).read_all()
    headers = [client.authenticate_basic_token("demo", "demo"),
               (b"x-laker-compression", codec.encode())]
    compressed = client.do_get(
        fl.Ticket(json.dumps(spec)), fl.FlightCallOptions(headers=headers)
    ).read_all()
    assert plain.num_rows == compressed.num_rows == 100_000
    assert compressed.sort_by("trip_id").equals(plain.sort_by("trip_id"))
