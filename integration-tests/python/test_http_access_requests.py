"""HTTP API access requests (docs/http-api.md): asking for a dataset or a
need, duplicates, who may decide, approval with a row filter (the rows
the requester then gets) and rejection with a note."""

from __future__ import annotations

import time

from conftest import ADMIN_PASSWORD
from http_api import (  # noqa: F401 (admin, admin_flight: fixtures)
    admin, admin_flight, download_rows, flight_table, problem, user_caller,
)


def test_access_request_approved_with_a_row_filter(server, http_url, admin_flight, admin):
    requester = user_caller(http_url, admin_flight, "httpasker",
                            [{"pattern": "demo.zones", "action": "discover"}])
    problem(requester.get("/api/v1/datasets/demo.zones/download"), 403, "PERMISSION_DENIED")
    before_ms = int(time.time() * 1000)
    r = requester.post("/api/v1/access-requests",
                       {"dataset": "demo.zones", "reason": "route planning in Oslo"})
    assert r.status_code == 201, r.text
    request = r.json()
    assert request["requester"] == requester.user
    assert (request["dataset"], request["need"]) == ("demo.zones", None)
    assert request["reason"] == "route planning in Oslo"
    assert request["status"] == "pending"
    assert before_ms - 5000 <= request["created_at"] <= time.time() * 1000 + 5000
    assert (request["decided_by"], request["decided_at"], request["note"]) == (None, None, None)
    rid = request["id"]

    again = requester.post("/api/v1/access-requests", {"dataset": "demo.zones", "reason": "again"})
    assert again.status_code == 409, again.text
    assert problem(again, 409, again.json()["code"])["code"] in ("ALREADY_EXISTS", "ABORTED")

    assert [q["id"] for q in requester.ok("/api/v1/access-requests")["requests"]] == [rid]
    problem(requester.post(f"/api/v1/access-requests/{rid}/approve", {}), 403, "PERMISSION_DENIED")
    pending = admin.ok("/api/v1/access-requests", {"all": "true", "status": "pending"})["requests"]
    assert rid in [q["id"] for q in pending]
    assert {q["status"] for q in pending} == {"pending"}

    approved = admin.post(f"/api/v1/access-requests/{rid}/approve",
                          {"row_filter": "city = 'Oslo'", "note": "Oslo only"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    (mine,) = requester.ok("/api/v1/access-requests")["requests"]
    assert (mine["status"], mine["decided_by"], mine["note"]) == ("approved", "admin", "Oslo only")
    assert mine["decided_at"] >= mine["created_at"]

    got = download_rows(requester, "demo.zones", {"order_by": "zone_id"})
    oslo = flight_table(server.url, "admin", ADMIN_PASSWORD, {
        "dataset": "demo.zones", "filter": "city = 'Oslo'", "order_by": ["zone_id"]})
    assert 0 < got.num_rows == oslo.num_rows < 60
    assert set(got["city"].to_pylist()) == {"Oslo"}
    assert got["zone_id"].to_pylist() == oslo["zone_id"].to_pylist()

    recorded = flight_table(server.url, "admin", ADMIN_PASSWORD, {
        "dataset": "system.access_requests", "filter": f"requester = '{requester.user}'"})
    assert recorded.num_rows == 1


def test_access_request_rejected_with_a_note(http_url, admin_flight, admin):
    requester = user_caller(http_url, admin_flight, "httpdenied",
                            [{"pattern": "demo.trips", "action": "discover"}])
    r = requester.post("/api/v1/access-requests", {"dataset": "demo.trips", "reason": "curious"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    rejected = admin.post(f"/api/v1/access-requests/{rid}/reject",
                          {"note": "use the aggregated dataset instead"})
    assert rejected.status_code == 200, rejected.text
    (mine,) = requester.ok("/api/v1/access-requests")["requests"]
    assert mine["status"] == "rejected"
    assert mine["note"] == "use the aggregated dataset instead"
    assert mine["decided_by"] == "admin"
    body = problem(requester.get("/api/v1/datasets/demo.trips/download"), 403, "PERMISSION_DENIED")
    assert "demo.trips" in body["detail"]
    decided = admin.ok("/api/v1/access-requests", {"all": "true", "status": "rejected"})["requests"]
    assert rid in [q["id"] for q in decided]


def test_access_request_for_a_need_and_for_missing_datasets(http_url, admin_flight):
    requester = user_caller(http_url, admin_flight, "httpneed", [])
    r = requester.post("/api/v1/access-requests",
                       {"need": "hourly weather in Bergen", "reason": "ride demand model"})
    assert r.status_code == 201, r.text
    assert (r.json()["dataset"], r.json()["need"]) == (None, "hourly weather in Bergen")
    assert r.json()["status"] == "pending"
    for name in ("demo.nope", "demo.trips"):  # missing, and not discoverable by this user
        body = problem(requester.post("/api/v1/access-requests",
                                      {"dataset": name, "reason": "x"}), 404, "NOT_FOUND")
        assert body["detail"] == f"dataset '{name}' not found"
