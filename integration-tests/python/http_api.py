"""Shared by the HTTP API tests (docs/http-api.md, test_http_*.py): callers
holding a bearer token, problem-document checks, cookie parsing, downloads
parsed with pyarrow, the same reads over Flight to compare them with, and
the module fixtures (import them by name into a test module to use them).

Setup (users, grants, uploads) goes through Flight, so it does not depend
on the API under test. Users are created per test wherever a test logs
them out, fails their logins or counts their calls."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Iterable, Iterator, NamedTuple

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as fl
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
import requests

from conftest import ADMIN_PASSWORD, create_admin

TIMEOUT = 120
# Password of the users the tests create (at least 12 characters).
PASSWORD = "http-api-test-password"
# demo.trips as an unrestricted reader sees it.
TRIPS_COLUMNS = ["trip_id", "vendor", "pickup_at", "dropoff_at", "passengers", "distance_km",
                 "fare", "tip", "total", "payment_type", "city", "pickup_zone", "dropoff_zone",
                 "month"]
# Per download format: Content-Type and file extension.
FORMATS = {
    "csv": ("text/csv", "csv"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "arrow": ("application/vnd.apache.arrow.stream", "arrow"),
}


def login(base: str, user: str, password: str) -> requests.Response:
    return requests.post(f"{base}/api/v1/login", json={"user": user, "password": password},
                         timeout=TIMEOUT)


class Caller:
    """Someone using the API with the bearer token ``POST /login`` gave them."""

    def __init__(self, base: str, user: str, password: str):
        r = login(base, user, password)
        assert r.status_code == 200, r.text
        self.base = base
        self.user = user
        self.login = r.json()
        self.token = self.login["token"]

    def request(self, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return requests.request(method, self.base + path, headers=headers,
                                timeout=TIMEOUT, **kw)

    def get(self, path: str, params: dict | None = None, **kw) -> requests.Response:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, body: dict | None = None, **kw) -> requests.Response:
        return self.request("POST", path, json=body, **kw)

    def ok(self, path: str, params: dict | None = None) -> dict:
        r = self.get(path, params)
        assert r.status_code == 200, r.text
        return r.json()


def media_type(resp: requests.Response) -> str:
    """The Content-Type without parameters."""
    return resp.headers["Content-Type"].split(";")[0].strip()


def problem(resp: requests.Response, status: int, code: str) -> dict:
    """Checks ``resp`` is the RFC 9457 problem document the contract
    describes, with this status and code; returns it."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text}"
    assert media_type(resp) == "application/problem+json"
    body = resp.json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def set_cookies(resp: requests.Response) -> dict[str, dict[str, str]]:
    """Each ``Set-Cookie`` of ``resp``: name → {"value", lower-cased attributes}."""
    cookies = {}
    for header in resp.raw.headers.getlist("Set-Cookie"):
        first, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        cookie = {"value": value}
        for attribute in attributes:
            key, _, val = attribute.partition("=")
            cookie[key.lower()] = val
        cookies[name] = cookie
    return cookies


def bearer(token: str) -> fl.FlightCallOptions:
    return fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])


def flight_table(url: str, user: str, password: str, spec: dict) -> pa.Table:
    """What a Flight DoGet of the JSON ``spec`` returns to ``user``."""
    client = fl.FlightClient(url)
    try:
        opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token(user, password)])
        return client.do_get(fl.Ticket(json.dumps(spec)), opts).read_all()
    finally:
        client.close()


class FlightAdmin:
    """The administrator over Flight, for setting up what the tests need
    independently of the API under test."""

    def __init__(self, client: fl.FlightClient, opts: fl.FlightCallOptions):
        self.client = client
        self.opts = opts

    def action(self, kind: str, body: dict):
        results = list(self.client.do_action(fl.Action(kind, json.dumps(body).encode()),
                                             options=self.opts))
        return json.loads(results[0].body.to_pybytes()) if results else None

    def new_user(self, prefix: str, grants: Iterable[dict] = ()) -> str:
        """Creates a user with password PASSWORD and these grants; returns its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.action("create_user", {"name": name, "password": PASSWORD})
        for grant in grants:
            self.action("grant", {"user": name, **grant})
        return name


def parse_download(fmt: str, content: bytes) -> pa.Table:
    buf = io.BytesIO(content)
    if fmt == "csv":
        return pacsv.read_csv(buf)
    if fmt == "parquet":
        return pq.read_table(buf)
    if fmt == "jsonl":
        return pajson.read_json(buf)
    if fmt == "arrow":
        return pa.ipc.open_stream(buf).read_all()
    raise ValueError(fmt)


def assert_same_rows(got: pa.Table, expected: pa.Table) -> None:
    """Same columns, rows and values (floats compared approximately, since
    CSV and JSON carry them as text; integer widths may differ)."""
    assert got.column_names == expected.column_names
    assert got.num_rows == expected.num_rows
    for name in expected.column_names:
        want = expected[name].to_pylist()
        have = got[name].to_pylist()
        if pa.types.is_floating(expected.schema.field(name).type):
            assert have == pytest.approx(want), name
        else:
            assert have == want, name


def wait_for(what: str, probe, timeout: float = 60.0):
    """Calls ``probe`` until it returns something truthy (returned), at most
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def download_rows(caller: Caller, dataset: str, params: dict) -> pa.Table:
    """A download through the API, as Arrow (asserting it succeeded)."""
    r = caller.get(f"/api/v1/datasets/{dataset}/download", {"format": "arrow", **params})
    assert r.status_code == 200, r.text
    return parse_download("arrow", r.content)


def user_caller(base: str, admin_flight: FlightAdmin, prefix: str,
                grants=({"pattern": "demo.*", "action": "read"},)) -> Caller:
    """A new user with these grants (default: read demo.*), logged in."""
    return Caller(base, admin_flight.new_user(prefix, list(grants)), PASSWORD)


def audit_records(admin: Caller, **params) -> list[dict]:
    return admin.ok("/api/v1/audit", {"limit": 100, **params})["records"]


def http_downloads(admin: Caller, user: str, dataset: str) -> list[dict]:
    """The audit records of ``user``'s API downloads of ``dataset``."""
    return [r for r in audit_records(admin, user=user, dataset=dataset)
            if r["action"] == "HTTP:download"]


# --- fixtures -----------------------------------------------------------------

@pytest.fixture(scope="module")
def admin_flight(server) -> Iterator[FlightAdmin]:
    create_admin(server.data_dir)
    client = fl.FlightClient(server.url)
    opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token("admin", ADMIN_PASSWORD)])
    yield FlightAdmin(client, opts)
    client.close()


@pytest.fixture(scope="module")
def admin(http_url, admin_flight) -> Caller:
    return Caller(http_url, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def demo(http_url) -> Caller:
    return Caller(http_url, "demo", "demo")


@pytest.fixture(scope="module")
def restricted(http_url, admin_flight) -> Caller:
    """Reads demo.trips in Bergen only, vendor hashed, payment_type hidden."""
    name = admin_flight.new_user("httpview", [{
        "pattern": "demo.trips", "action": "read", "row_filter": "city = 'Bergen'",
        "column_masks": {"vendor": "hash", "payment_type": "hide"},
    }])
    return Caller(http_url, name, PASSWORD)


class DeltaTable(NamedTuple):
    """A Delta dataset and the user who wrote it (and may read it)."""
    name: str
    writer: Caller


@pytest.fixture(scope="module")
def delta(server, http_url, admin_flight) -> DeltaTable:
    """``<ns>.cities`` in a namespace of its own: a Delta table uploaded in
    two versions, ids 1-3 (version 0) then ids 4-5 (version 1)."""
    namespace = f"httpapi_{uuid.uuid4().hex[:8]}"
    admin_flight.action("create_namespace", {"name": namespace})
    name = admin_flight.new_user("httpwriter", [
        {"pattern": f"{namespace}.*", "action": "write"},
        {"pattern": f"{namespace}.*", "action": "read"}])
    client = fl.FlightClient(server.url)
    token = client.authenticate_basic_token(name, PASSWORD)
    versions = [
        ("create", pa.table({"id": pa.array([1, 2, 3], pa.int64()),
                             "city": ["Oslo", "Bergen", "Tromsø"]})),
        ("append", pa.table({"id": pa.array([4, 5], pa.int64()), "city": ["Bodø", "Molde"]})),
    ]
    for version, (mode, table) in enumerate(versions):
        opts = fl.FlightCallOptions(headers=[token, (b"x-laker-upload-mode", mode.encode())])
        writer, results = client.do_put(fl.FlightDescriptor.for_path(namespace, "cities"),
                                        table.schema, options=opts)
        writer.write_table(table)
        writer.done_writing()
        assert json.loads(results.read().to_pybytes())["version"] == version
        writer.close()
    client.close()
    return DeltaTable(f"{namespace}.cities", Caller(http_url, name, PASSWORD))
