"""HTTP API datasets (docs/http-api.md): listing and search, details as
each caller may see them, previews (values compared with Flight) and
checks; undiscoverable datasets look missing; bad parameters are 400."""

from __future__ import annotations

import re

import pyarrow.flight as fl
import pytest

from conftest import DEMO_ROWS
from http_api import (  # noqa: F401 (admin, admin_flight, demo, restricted: fixtures)
    PASSWORD, TRIPS_COLUMNS, Caller, admin, admin_flight, demo, flight_table, problem,
    restricted,
)

VISIBLE_TO_RESTRICTED = [c for c in TRIPS_COLUMNS if c != "payment_type"]


def demo_names(caller: Caller, **params) -> list[str]:
    found = caller.ok("/api/v1/datasets", params)["datasets"]
    return sorted(d["name"] for d in found if d["name"].startswith("demo."))


def test_list_and_search_datasets(demo):
    listed = {d["name"]: d for d in demo.ok("/api/v1/datasets")["datasets"]}
    trips = listed["demo.trips"]
    assert trips["description"].startswith("Taxi trips in Norwegian cities during 2024")
    assert trips["tags"] == ["demo", "taxi", "mobility", "partitioned"]
    assert trips["owner"] == "laker demo"
    assert "demo.zones" in listed
    assert not any(name.startswith("system.") for name in listed)
    # Name, description, tags and column names, case-insensitively.
    assert demo_names(demo, search="TAXI") == ["demo.trips", "demo.zones"]
    assert demo_names(demo, search="Norwegian") == ["demo.trips"]
    assert demo_names(demo, search="mobility") == ["demo.trips"]
    assert demo_names(demo, search="DROPOFF_AT") == ["demo.trips"]
    assert demo_names(demo, search="zones") == ["demo.zones"]
    assert demo.ok("/api/v1/datasets", {"search": "no-such-thing-anywhere"}) == {"datasets": []}


def test_dataset_detail(server, demo, admin):
    detail = demo.ok("/api/v1/datasets/demo.trips")
    assert detail["name"] == "demo.trips"
    assert detail["owner"] == "laker demo" and detail["format"] == "parquet"
    assert detail["tags"] == ["demo", "taxi", "mobility", "partitioned"]
    client = fl.FlightClient(server.url)
    opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token("demo", "demo")])
    schema = client.get_schema(fl.FlightDescriptor.for_path("demo", "trips"), opts).schema
    client.close()
    assert [c["name"] for c in detail["schema"]] == schema.names == TRIPS_COLUMNS
    assert all(c["masked"] is False for c in detail["schema"])
    nullable = {c["name"]: c["nullable"] for c in detail["schema"]}
    assert nullable["passengers"] is True and nullable["trip_id"] is False
    stats = detail["statistics"]
    assert stats["rows"]["value"] == DEMO_ROWS
    assert stats["files"] == 24 and stats["size_bytes"] > 1_000_000
    assert [c["name"] for c in stats["columns"]] == TRIPS_COLUMNS
    assert "withheld" not in stats
    partitions = detail.get("partitions", detail.get("partition_columns"))
    assert [p["name"] for p in partitions] == ["month"]
    # Where the data lives is for the dataset's admins only.
    assert "location" not in detail and "options" not in detail
    assert admin.ok("/api/v1/datasets/demo.trips")["location"].startswith("file://")


def test_a_restricted_reader_sees_masks_not_hidden_columns_nor_statistics(restricted):
    detail = restricted.ok("/api/v1/datasets/demo.trips")
    columns = {c["name"]: c for c in detail["schema"]}
    assert list(columns) == VISIBLE_TO_RESTRICTED
    assert columns["vendor"]["masked"] is True
    assert all(c["masked"] is False for name, c in columns.items() if name != "vendor")
    stats = detail["statistics"]
    assert stats["rows"] is None and stats["columns"] == []
    assert "grants filter rows or mask columns" in stats["withheld"]
    assert "location" not in detail and "options" not in detail
    assert [d["name"] for d in restricted.ok("/api/v1/datasets")["datasets"]] == ["demo.trips"]


def test_an_undiscoverable_dataset_looks_exactly_missing(restricted):
    for suffix in ("", "/preview", "/check", "/download"):
        hidden = problem(restricted.get(f"/api/v1/datasets/demo.zones{suffix}"), 404, "NOT_FOUND")
        missing = problem(restricted.get(f"/api/v1/datasets/demo.nope{suffix}"), 404, "NOT_FOUND")
        assert hidden["detail"] == "dataset 'demo.zones' not found"
        assert missing["detail"] == "dataset 'demo.nope' not found"
        assert set(hidden) == set(missing)
        for key in set(hidden) - {"detail", "instance"}:
            assert hidden[key] == missing[key], key


# --- preview ------------------------------------------------------------------

def flight_rows_by_id(url: str, user: str, password: str, ids: list[int],
                      columns: list[str]) -> dict[int, dict]:
    spec = {"dataset": "demo.trips", "columns": columns,
            "filter": f"trip_id IN ({', '.join(str(i) for i in ids)})"}
    return {row["trip_id"]: row for row in flight_table(url, user, password, spec).to_pylist()}


def test_preview_rows_match_flight(server, demo):
    columns = ["trip_id", "fare", "passengers", "city"]
    body = demo.ok("/api/v1/datasets/demo.trips/preview",
                   {"limit": 7, "columns": ",".join(columns), "filter": "fare > 30"})
    assert body["limit"] == 7
    assert [c["name"] for c in body["columns"]] == columns
    assert all(isinstance(c["type"], str) and c["type"] for c in body["columns"])
    rows = body["rows"]
    assert len(rows) == 7
    assert all(list(row) == columns for row in rows)
    assert all(row["fare"] > 30 for row in rows)
    expected = flight_rows_by_id(server.url, "demo", "demo", [r["trip_id"] for r in rows], columns)
    for row in rows:
        assert row == pytest.approx(expected[row["trip_id"]])
    default = demo.ok("/api/v1/datasets/demo.zones/preview")
    assert default["limit"] == 50 and len(default["rows"]) == 50
    assert list(default["rows"][0]) == ["zone_id", "name", "city"]


def test_preview_applies_the_row_filter_and_masks(server, restricted):
    body = restricted.ok("/api/v1/datasets/demo.trips/preview", {"limit": 20})
    assert [c["name"] for c in body["columns"]] == VISIBLE_TO_RESTRICTED
    rows = body["rows"]
    assert len(rows) == 20
    assert {r["city"] for r in rows} == {"Bergen"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["vendor"]) for r in rows)
    assert all(list(r) == VISIBLE_TO_RESTRICTED for r in rows)
    # Timestamps left out: their JSON form is not Flight's.
    compared = ["trip_id", "vendor", "passengers", "fare", "tip", "city", "pickup_zone", "month"]
    expected = flight_rows_by_id(server.url, restricted.user, PASSWORD,
                                 [r["trip_id"] for r in rows], compared)
    for row in rows:
        assert {k: row[k] for k in compared} == pytest.approx(expected[row["trip_id"]])


@pytest.mark.parametrize("filter_, named", [("fare >>> 3", "filter"), ("nope = 1", "nope")])
def test_preview_with_a_bad_filter(demo, filter_, named):
    body = problem(demo.get("/api/v1/datasets/demo.trips/preview", {"filter": filter_}),
                   400, "INVALID_ARGUMENT")
    assert named in body["detail"]


@pytest.mark.parametrize("limit", [0, 1001, -1, "many"])
def test_preview_limit_out_of_bounds(demo, limit):
    r = demo.get("/api/v1/datasets/demo.trips/preview", {"limit": limit})
    assert r.status_code == 400, r.text
    body = problem(r, 400, r.json()["code"])
    assert body["code"] in ("INVALID_ARGUMENT", "OUT_OF_RANGE")
    assert "limit" in body["detail"]


def test_unknown_query_parameters_are_refused(demo):
    for path in ("/preview", "/check", "/download"):
        body = problem(demo.get(f"/api/v1/datasets/demo.trips{path}", {"colums": "fare"}),
                       400, "INVALID_ARGUMENT")
        assert "colums" in body["detail"]
    body = problem(demo.get("/api/v1/datasets", {"serch": "taxi"}), 400, "INVALID_ARGUMENT")
    assert "serch" in body["detail"]


# --- check --------------------------------------------------------------------

def test_check_answers_what_the_download_would_be(demo, restricted):
    body = demo.ok("/api/v1/datasets/demo.trips/check",
                   {"columns": "trip_id,fare", "filter": "fare > 30", "limit": 100})
    assert body["ok"] is True
    assert [c["name"] for c in body["columns"]] == ["trip_id", "fare"]
    assert all(isinstance(c["type"], str) and c["type"] for c in body["columns"])
    assert body["version"] is None, "demo.trips is not a Delta table"
    for key in ("estimated_rows", "estimated_bytes"):
        assert body[key] is None or (isinstance(body[key], int) and body[key] >= 0)
    hidden = problem(restricted.get("/api/v1/datasets/demo.trips/check",
                                    {"columns": "trip_id,payment_type"}), 400, "INVALID_ARGUMENT")
    assert "payment_type" in hidden["detail"]


@pytest.mark.parametrize("params", [
    {"filter": "fare >>> 3"}, {"filter": "nope = 1"}, {"columns": "trip_id,nope"},
    {"order_by": "nope desc"}, {"filter": "fare IN (SELECT 1)"},
])
def test_check_gives_the_download_problem(demo, params):
    checked = problem(demo.get("/api/v1/datasets/demo.trips/check", params),
                      400, "INVALID_ARGUMENT")
    downloaded = problem(demo.get("/api/v1/datasets/demo.trips/download", params),
                         400, "INVALID_ARGUMENT")
    assert checked["detail"] == downloaded["detail"]
