"""Catalog discovery from pyarrow.flight: ListActions, describe_dataset and
the dataset metadata on FlightInfo, checked against pyarrow reading the files."""

from __future__ import annotations

import json

import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest

from conftest import DEMO_ROWS


def act(client, opts, kind: str, body: dict) -> dict:
    results = list(client.do_action(fl.Action(kind, json.dumps(body).encode()), options=opts))
    assert len(results) == 1
    return json.loads(results[0].body.to_pybytes())


def test_list_actions(client, opts):
    names = [a.type for a in client.list_actions(options=opts)]
    assert "register_dataset" in names and "describe_dataset" in names


def test_describe_matches_the_files(server, client, opts):
    described = act(client, opts, "describe_dataset", {"name": "demo.zones"})
    table = pq.read_table(server.data_dir / "lake" / "demo" / "zones")
    stats = described["statistics"]
    assert stats["rows"] == {"value": table.num_rows, "exact": True}
    assert [f["name"] for f in described["schema"]] == table.schema.names
    zone_id = next(c for c in stats["columns"] if c["name"] == table.schema.names[0])
    column = table.column(0).to_pylist()
    assert (zone_id["min"], zone_id["max"]) == (str(min(column)), str(max(column)))
    trips = act(client, opts, "describe_dataset", {"name": "demo.trips"})
    assert trips["statistics"]["rows"]["value"] == DEMO_ROWS


def test_flight_info_carries_description_and_tags(client, opts):
    info = client.get_flight_info(fl.FlightDescriptor.for_path("demo", "trips"), options=opts)
    meta = json.loads(info.app_metadata)
    assert meta["tags"] == ["demo", "taxi", "mobility", "partitioned"]
    assert info.schema.metadata[b"laker:dataset"] == b"demo.trips"
    assert json.loads(info.schema.metadata[b"laker:tags"]) == meta["tags"]


def test_admin_actions_need_the_admin_grant(client, opts):
    with pytest.raises(fl.FlightUnauthorizedError, match="may not admin dataset 'demo.copy'"):
        act(client, opts, "register_dataset",
            {"name": "demo.copy", "location": "file:///tmp/", "format": "parquet"})
