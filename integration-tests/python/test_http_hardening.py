"""What an adversarial review of the HTTP API found, each a regression test:
connection floods, CSRF by a cross-site form on /login, secrets in action
bodies given as arrays, a grant widened by approving an access request,
dataset names audited as typed, refusals left out of the audit, and the
table version shown to callers whose grants filter rows."""

from __future__ import annotations

import socket
import time

import requests

from http_api import (PASSWORD, Caller, admin, admin_flight, audit_records, delta,  # noqa: F401
                      demo, problem, restricted, wait_for)


def _open(addr: str) -> socket.socket:
    host, port = addr.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


def test_connections_beyond_the_per_address_cap_are_closed_at_once(server, http_url):
    held = [_open(server.http_addr) for _ in range(256)]
    try:
        # Every held connection is served (the server answers on it) ...
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held[0].recv(64).startswith(b"HTTP/1.1 200")
        # ... and one more from the same address is closed without a word.
        extra = _open(server.http_addr)
        assert _closed_by_server(extra, within=5)
        extra.close()
    finally:
        for s in held:
            s.close()
    # Once they are gone, the address is served again.
    def serves() -> bool:
        try:
            return requests.get(f"{http_url}/healthz", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False  # the server has not yet seen every close

    wait_for("the port to serve again", serves)


def test_a_client_that_never_finishes_its_headers_is_cut(server):
    s = _open(server.http_addr)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    assert _closed_by_server(s, within=30), "a half-sent request held its connection"
    assert time.monotonic() - started < 25
    s.close()


def test_login_takes_only_json(http_url):
    # A form on another site can post text/plain that parses as JSON.
    r = requests.post(f"{http_url}/api/v1/login", data='{"user":"demo","password":"pw=x"}',
                      headers={"Content-Type": "text/plain"}, timeout=30)
    body = problem(r, 415, "INVALID_ARGUMENT")
    assert "application/json" in body["detail"]


def test_malformed_path_parameters_are_problem_documents(admin):
    r = admin.post("/api/v1/access-requests/not-a-number/approve", {})
    body = problem(r, 400, "INVALID_ARGUMENT")
    assert "path is not valid" in body["detail"] and "not-a-number" in body["detail"]
    # A name that is not UTF-8 once percent-decoded.
    r = admin.get("/api/v1/datasets/%FF%FE/check")
    body = problem(r, 400, "INVALID_ARGUMENT")
    assert "path is not valid" in body["detail"]


def test_action_bodies_must_be_objects_and_secrets_never_reach_the_audit(admin):
    name = f"arr_{int(time.time() * 1000) % 10**8}"
    r = admin.request("POST", "/api/v1/admin/actions/create_user",
                      json=[name, "SecretPassw0rdAR"])
    body = problem(r, 400, "INVALID_ARGUMENT")
    assert "must be a JSON object" in body["detail"]
    r = admin.post("/api/v1/admin/actions/create_user",
                   {"name": name, "Password": "SecretPassw0rdA2"})
    assert r.status_code == 400  # unknown field: the key is case-sensitive
    records = audit_records(admin, user="admin")
    assert records, "the calls are audited"
    assert not any("SecretPassw0rd" in (rec["message"] + str(rec)) for rec in records)


def test_approving_a_request_never_replaces_a_restricted_grant(http_url, admin, restricted):
    # The restricted user already reads demo.trips (Bergen only, masked):
    # asking for "access" would have the approval replace that grant.
    r = restricted.post("/api/v1/access-requests", {"dataset": "demo.trips", "reason": "more"})
    body = problem(r, 400, "FAILED_PRECONDITION")
    assert "already read" in body["detail"]


def test_approval_is_refused_when_the_requester_reads_the_dataset_meanwhile(
        http_url, admin, admin_flight):
    name = admin_flight.new_user("late", [{"pattern": "demo.zones", "action": "discover"}])
    user = Caller(http_url, name, PASSWORD)
    r = user.post("/api/v1/access-requests", {"dataset": "demo.zones", "reason": "zones"})
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    admin_flight.action("grant", {"user": name, "pattern": "demo.zones", "action": "read",
                                  "row_filter": "zone_id < 3"})
    r = admin.post(f"/api/v1/access-requests/{request_id}/approve", {})
    body = problem(r, 400, "FAILED_PRECONDITION")
    assert "already reads" in body["detail"]
    grants = admin_flight.action("list_grants", {"user": name})
    reads = [g for g in grants if g["action"] == "read"]
    assert len(reads) == 1 and reads[0].get("row_filter") == "zone_id < 3", grants


def test_downloads_are_audited_under_the_dataset_name(admin, demo):
    r = demo.get("/api/v1/datasets/DEMO.Zones/download", {"format": "csv", "limit": 2})
    assert r.status_code == 200, r.text
    records = wait_for("the download's record", lambda: [
        rec for rec in audit_records(admin, user="demo", dataset="demo.zones")
        if rec["action"] == "HTTP:download"])
    assert all(rec["dataset"] == "demo.zones" for rec in records)


def _skipped_refusals(http_url) -> float:
    """Refusals not recorded because their address spent its budget."""
    text = requests.get(f"{http_url}/metrics", timeout=30).text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("laker_audit_refusals_skipped_total"))


def test_refused_calls_are_audited(http_url, admin):
    # Refusals are recorded within a budget per address and minute (the
    # suite's other tests spend 127.0.0.1's); beyond it they are counted.
    skipped = _skipped_refusals(http_url)
    r = requests.get(f"{http_url}/api/v1/datasets",
                     headers={"Authorization": "Bearer forged.token.here"}, timeout=30)
    assert r.status_code == 401
    over_budget = _skipped_refusals(http_url) > skipped
    r = requests.get(f"{http_url}/api/v1/datasets/demo.trips/preview?limit=5000",
                     headers={"Authorization": f"Bearer {admin.token}"}, timeout=30)
    assert r.status_code == 400
    if not over_budget:
        records = wait_for("the refusal's record", lambda: [
            rec for rec in audit_records(admin)
            if (rec["action"], rec["outcome"])
            == ("HTTP:GET /api/v1/datasets", "unauthenticated")])
        assert records[0]["source"] == "127.0.0.1"
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_restricted_readers_are_not_told_the_table_version(admin_flight, http_url, delta):
    namespace = delta.name.split(".")[0]
    name = admin_flight.new_user("vhidden", [{
        "pattern": delta.name, "action": "read", "row_filter": "id < 3"}])
    user = Caller(http_url, name, PASSWORD)
    checked = user.ok(f"/api/v1/datasets/{delta.name}/check")
    assert checked["version"] is None
    r = user.get(f"/api/v1/datasets/{delta.name}/download", {"format": "csv"})
    assert r.status_code == 200 and "X-Laker-Version" not in r.headers
    # The writer, unrestricted, is told.
    assert delta.writer.ok(f"/api/v1/datasets/{delta.name}/check")["version"] == 1
    assert namespace
