"""HTTP API administration and the rest of the surface (docs/http-api.md):
admin actions, text returned verbatim, usage counts, the OpenAPI
document, and the console page's headers."""

from __future__ import annotations

import datetime
import re
import time
import uuid

import requests
from openapi_spec_validator import validate

from http_api import (  # noqa: F401 (admin, admin_flight, delta, demo: fixtures)
    PASSWORD, TIMEOUT, Caller, admin, admin_flight, delta, demo, download_rows, login,
    media_type, problem, user_caller, wait_for,
)

# Every path of the contract, parameters written {}.
CONTRACT_PATHS = {
    "/api/v1/login", "/api/v1/logout", "/api/v1/session", "/api/v1/datasets",
    "/api/v1/datasets/{}", "/api/v1/datasets/{}/preview", "/api/v1/datasets/{}/check",
    "/api/v1/datasets/{}/download", "/api/v1/access-requests",
    "/api/v1/access-requests/{}/approve", "/api/v1/access-requests/{}/reject",
    "/api/v1/admin/actions", "/api/v1/admin/actions/{}", "/api/v1/usage", "/api/v1/audit",
}


def usage(caller: Caller, **params) -> dict:
    """GET /usage over the last and the next day."""
    now_ms = int(time.time() * 1000)
    day_ms = 24 * 3600 * 1000
    return caller.ok("/api/v1/usage", {"from": now_ms - day_ms, "to": now_ms + day_ms, **params})


def test_admin_actions(admin, demo):
    actions = {a["name"]: a["description"] for a in admin.ok("/api/v1/admin/actions")["actions"]}
    assert actions["create_user"].startswith("Admin on *. Create a user")
    assert {"grant", "onboard", "list_users", "describe_dataset"} <= set(actions)
    name = f"httpmade_{uuid.uuid4().hex[:8]}"
    made = admin.post("/api/v1/admin/actions/create_user", {"name": name, "password": PASSWORD})
    assert made.status_code == 200, made.text
    assert made.json()["name"] == name and "password" not in made.json()
    users = admin.post("/api/v1/admin/actions/list_users", {})
    assert users.status_code == 200, users.text
    assert name in {u["name"] for u in users.json()}
    body = problem(demo.post("/api/v1/admin/actions/create_user",
                             {"name": "sneaky", "password": PASSWORD}), 403, "PERMISSION_DENIED")
    assert "admin" in body["detail"]
    body = problem(admin.post("/api/v1/admin/actions/no_such_action", {}), 400, "INVALID_ARGUMENT")
    assert "unknown action 'no_such_action'" in body["detail"]
    body = problem(admin.post("/api/v1/admin/actions/create_user", {"name": name}),
                   400, "INVALID_ARGUMENT")
    assert "password" in body["detail"]


def test_a_description_is_returned_verbatim(delta, admin):
    name, writer = delta
    payload = "<img src=x onerror=alert(1)>"
    r = admin.post("/api/v1/admin/actions/update_dataset", {"name": name, "description": payload})
    assert r.status_code == 200, r.text
    detail = writer.get(f"/api/v1/datasets/{name}")
    assert media_type(detail) == "application/json"
    assert detail.json()["description"] == payload
    listed = writer.ok("/api/v1/datasets", {"search": "cities"})["datasets"]
    assert [d["description"] for d in listed if d["name"] == name] == [payload]


def test_usage_counts_downloads(http_url, admin_flight, admin):
    reader = user_caller(http_url, admin_flight, "httpusage")
    zones = 3
    for _ in range(zones):
        assert download_rows(reader, "demo.zones", {}).num_rows == 60
    assert download_rows(reader, "demo.trips", {"limit": 10}).num_rows == 10
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()

    def counted():
        seen = usage(reader)
        return seen if sum(d["downloads"] for d in seen["per_day"]) >= zones + 1 else None

    own = wait_for("usage to count the downloads", counted)
    day = {d["day"]: d for d in own["per_day"]}[today]
    assert day["downloads"] == zones + 1
    assert day["rows"] == zones * 60 + 10 and day["bytes"] > 0
    by_dataset = {d["dataset"]: d for d in own["top_datasets"]}
    assert set(by_dataset) == {"demo.zones", "demo.trips"}, "the caller's own calls only"
    assert by_dataset["demo.zones"]["downloads"] == zones
    assert by_dataset["demo.trips"]["downloads"] == 1
    assert [u["user"] for u in own["top_users"]] == [reader.user]

    seen_by_admin = usage(admin, user=reader.user)
    assert [u["user"] for u in seen_by_admin["top_users"]] == [reader.user]
    assert seen_by_admin["top_users"][0]["downloads"] == zones + 1
    assert "demo.trips" in {d["dataset"] for d in usage(admin)["top_datasets"]}


def test_usage_counts_failed_logins(http_url, admin_flight, admin):
    def failed_logins() -> int:
        return sum(d["count"] for d in usage(admin)["failed_logins"])

    before = failed_logins()
    victim = admin_flight.new_user("httpfail")
    for _ in range(2):
        assert login(http_url, victim, "wrong-password-here").status_code == 401
    wait_for("usage to count the failed logins", lambda: failed_logins() >= before + 2)


def test_openapi_document_is_valid_and_complete(demo):
    r = demo.get("/api/v1/openapi.json")
    assert r.status_code == 200, r.text
    assert media_type(r) == "application/json"
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    validate(spec)
    paths = {re.sub(r"\{[^}]+\}", "{}", p if p.startswith("/api/v1") else "/api/v1" + p)
             for p in spec["paths"]}
    assert CONTRACT_PATHS <= paths, CONTRACT_PATHS - paths


def test_console_page_and_script(http_url):
    page = requests.get(f"{http_url}/", timeout=TIMEOUT)
    assert page.status_code == 200
    assert media_type(page) == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script\b[^>]*>", page.text, flags=re.IGNORECASE)
    assert scripts, "the page loads its script"
    assert all(re.search(r"\ssrc\s*=", tag) for tag in scripts), scripts
    tags = re.findall(r"<[a-z][^>]*>", page.text, flags=re.IGNORECASE)
    assert not [t for t in tags if re.search(r"\son[a-z]+\s*=", t, re.IGNORECASE)], \
        "no inline event handlers"
    script = requests.get(f"{http_url}/console/app.js", timeout=TIMEOUT)
    assert script.status_code == 200
    assert "javascript" in media_type(script)
    assert script.content
