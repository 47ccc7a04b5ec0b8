"""Stateless replicas: three laker-server processes on different ports share
one PostgreSQL catalog, one data directory (signing secret and lake) and
nothing else. Tokens, tickets, Flight SQL statement and prepared-statement handles from one
replica are honoured by the others; datasets registered through one are seen
by all; a download cut by a killed replica completes on another.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import uuid

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest

from conftest import ADMIN_PASSWORD, DEMO_ROWS, _server_binary, start_server, stop_server

BASE_URL = os.environ.get("LAKER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def psql(sql: str) -> None:
    subprocess.run(["psql", BASE_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                   check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def catalog_url():
    name = f"laker_replicas_{uuid.uuid4().hex[:12]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield BASE_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, catalog_url):
    data_dir = tmp_path_factory.mktemp("shared")
    common = ("--catalog-url", catalog_url, "--advertise-url", "grpc://127.0.0.1:0")
    # The first replica creates the signing secret and the demo datasets.
    started = [start_server(data_dir, *common)]
    try:
        started += [start_server(data_dir, *common, demo=False) for _ in range(2)]
        subprocess.run(
            [_server_binary(), "--data-dir", str(data_dir), *common,
             "catalog", "create-admin", "--name", "admin"],
            env={**os.environ, "LAKER_ADMIN_PASSWORD": ADMIN_PASSWORD},
            check=True, capture_output=True, text=True,
        )
        yield started
    finally:
        for s in started:
            stop_server(s)


def connect(server, user="demo", password="demo"):
    client = fl.FlightClient(server.url)
    token = client.authenticate_basic_token(user, password)
    return client, token


def options(*headers):
    return fl.FlightCallOptions(headers=list(headers))


def test_tokens_and_tickets_from_one_replica_work_on_the_others(replicas):
    a, b, c = replicas
    client_a, token = connect(a)
    spec = {"dataset": "demo.trips", "columns": ["trip_id", "fare"], "filter": "trip_id < 30000"}
    info = client_a.get_flight_info(
        fl.FlightDescriptor.for_command(json.dumps(spec)), options(token))
    for other in (b, c):
        # The token A issued, used on another replica without logging in there.
        client = fl.FlightClient(other.url)
        tables = [client.do_get(e.ticket, options(token)).read_all() for e in info.endpoints]
        got = pa.concat_tables(tables)
        assert got.num_rows == 30_000
        assert sorted(got["trip_id"].to_pylist()) == list(range(30_000))
        client.close()
    client_a.close()


def test_statement_handles_move_between_replicas(replicas):
    a, b, _ = replicas
    client_a, token = connect(a)
    command = encode_statement_query("SELECT count(*) AS n FROM demo.trips WHERE trip_id < 1234")
    info = client_a.get_flight_info(fl.FlightDescriptor.for_command(command), options(token))
    client_b = fl.FlightClient(b.url)
    table = client_b.do_get(info.endpoints[0].ticket, options(token)).read_all()
    assert table.to_pylist() == [{"n": 1234}]


def test_prepared_statement_handles_move_between_replicas(replicas):
    a, b, c = replicas
    client_a, token = connect(a)
    request = packed("ActionCreatePreparedStatementRequest",
                     field(1, b"SELECT count(*) AS n FROM demo.trips WHERE trip_id < 777"))
    results = list(client_a.do_action(fl.Action("CreatePreparedStatement", request), options(token)))
    handle = fields(fields(results[0].body.to_pybytes())[2])[1]
    # Planned on B, run on C.
    command = packed("CommandPreparedStatementQuery", field(1, handle))
    info = fl.FlightClient(b.url).get_flight_info(fl.FlightDescriptor.for_command(command), options(token))
    table = fl.FlightClient(c.url).do_get(info.endpoints[0].ticket, options(token)).read_all()
    assert table.to_pylist() == [{"n": 777}]


def varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def packed(message: str, body: bytes) -> bytes:
    """A Flight SQL message packed in google.protobuf.Any."""
    type_url = f"type.googleapis.com/arrow.flight.protocol.sql.{message}".encode()
    return field(1, type_url) + field(2, body)


def fields(data: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a protobuf message (others skipped)."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        if key & 7 == 2:
            n, i = read_varint(data, i)
            out[key >> 3], i = data[i:i + n], i + n
        elif key & 7 == 0:
            _, i = read_varint(data, i)
        else:
            raise ValueError(f"unexpected wire type {key & 7}")
    return out


def read_varint(data: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, i


def encode_statement_query(sql: str) -> bytes:
    """A Flight SQL CommandStatementQuery packed in google.protobuf.Any."""
    return packed("CommandStatementQuery", field(1, sql.encode()))


def test_a_dataset_registered_on_one_replica_is_seen_by_all(replicas, tmp_path):
    a, b, c = replicas
    admin_c, token = connect(c, "admin", ADMIN_PASSWORD)
    lake = c.data_dir / "lake" / "shared" / "events"
    lake.mkdir(parents=True)
    pq.write_table(pa.table({"id": list(range(500)), "kind": ["x"] * 500}), lake / "part-0.parquet")
    for kind, body in [
        ("create_namespace", {"name": "shared"}),
        ("register_dataset", {"name": "shared.events", "format": "parquet",
                              "location": lake.as_uri() + "/"}),
        ("grant", {"user": "demo", "pattern": "shared.*", "action": "read"}),
    ]:
        list(admin_c.do_action(fl.Action(kind, json.dumps(body).encode()), options(token)))
    for other in (a, b):
        client, demo = connect(other)
        deadline = time.monotonic() + 5
        names = []
        while time.monotonic() < deadline:
            names = [f.descriptor.path for f in client.list_flights(options=options(demo))]
            if [b"shared", b"events"] in names:
                break
            time.sleep(0.1)
        assert [b"shared", b"events"] in names
        got = client.do_get(fl.Ticket(json.dumps({"dataset": "shared.events"})),
                            options(demo)).read_all()
        assert got.num_rows == 500
        client.close()


def test_a_download_cut_by_a_killed_replica_completes_on_another(replicas, catalog_url):
    a, b, c = replicas
    client_a, token = connect(a)
    info = client_a.get_flight_info(fl.FlightDescriptor.for_path("demo", "trips"), options(token))
    assert info.total_records == DEMO_ROWS
    # An extra replica, to be killed mid-stream.
    victim = start_server(a.data_dir, "--catalog-url", catalog_url, demo=False)
    ids: list[int] = []
    try:
        for n, endpoint in enumerate(info.endpoints):
            if n == 0:
                reader = fl.FlightClient(victim.url).do_get(endpoint.ticket, options(token))
                chunk = reader.read_chunk()
                ids += chunk.data.column("trip_id").to_pylist()
                victim.proc.kill()
                victim.proc.wait(timeout=10)
                with pytest.raises(fl.FlightError):
                    while True:
                        chunk = reader.read_chunk()
                        ids += chunk.data.column("trip_id").to_pylist()
                # The client retries on another replica, skipping what it has.
                have = sum(1 for _ in ids)
                resumed = fl.FlightClient(b.url).do_get(
                    endpoint.ticket, options(token, (b"x-laker-skip-rows", str(have).encode())))
                ids += resumed.read_all().column("trip_id").to_pylist()
            else:
                target = (b, c)[n % 2]
                table = fl.FlightClient(target.url).do_get(endpoint.ticket, options(token)).read_all()
                ids += table.column("trip_id").to_pylist()
    finally:
        stop_server(victim)
    assert len(ids) == DEMO_ROWS
    assert len(set(ids)) == DEMO_ROWS


def test_signing_keys_rotate_without_downtime(replicas, catalog_url, tmp_path):
    """Phase 1: replicas accept the new key but still sign with the old one.
    Phase 2: they sign with the new key and still accept the old one. At
    every step of a rolling update, every token in use is accepted."""
    a, _, _ = replicas
    old = a.data_dir / "secret.key"
    new = tmp_path / "new.key"
    new.write_text(base64.b64encode(os.urandom(48)).decode())
    common = ("--catalog-url", catalog_url)
    phase1 = start_server(a.data_dir, *common, "--previous-secret-file", str(new), demo=False)
    phase2 = start_server(a.data_dir, *common, "--secret-file", str(new),
                          "--previous-secret-file", str(old), demo=False)
    try:
        tokens = {s: connect(s)[1] for s in (a, phase1, phase2)}
        spec = fl.Ticket(json.dumps({"dataset": "demo.zones"}))
        # Old and phase-1 replicas sign with the old key, phase-2 with the new:
        # a phase-1 replica accepts both; a phase-2 replica accepts both.
        for server, accepted in [(phase1, (a, phase1, phase2)), (phase2, (a, phase1, phase2)),
                                 (a, (a, phase1))]:
            client = fl.FlightClient(server.url)
            for issuer in accepted:
                assert client.do_get(spec, options(tokens[issuer])).read_all().num_rows > 0
            client.close()
        # A server that has never heard of the new key refuses its tokens.
        with pytest.raises(fl.FlightUnauthenticatedError):
            fl.FlightClient(a.url).do_get(spec, options(tokens[phase2])).read_all()
    finally:
        stop_server(phase1)
        stop_server(phase2)


def test_endpoints_are_spread_over_the_live_replicas(replicas, catalog_url):
    a, b, c = replicas
    urls = {s.url for s in replicas}
    client_a, token = connect(a)
    info = client_a.get_flight_info(fl.FlightDescriptor.for_path("demo", "trips"), options(token))
    assert len(info.endpoints) == 8
    locations = [[loc.uri.decode() for loc in e.locations] for e in info.endpoints]
    assert all(len(loc) == 1 for loc in locations), locations
    assert {loc[0] for loc in locations} == urls
    ids = []
    for endpoint in info.endpoints:
        at = fl.FlightClient(endpoint.locations[0])
        ids += at.do_get(endpoint.ticket, options(token)).read_all().column("trip_id").to_pylist()
        at.close()
    assert len(ids) == len(set(ids)) == DEMO_ROWS

    # A replica that shuts down leaves the rotation before it stops serving.
    extra = start_server(a.data_dir, "--catalog-url", catalog_url,
                         "--advertise-url", "grpc://127.0.0.1:0", demo=False)
    def located() -> set[str]:
        info = client_a.get_flight_info(fl.FlightDescriptor.for_path("demo", "trips"), options(token))
        return {loc.uri.decode() for e in info.endpoints for loc in e.locations}
    assert located() == urls | {extra.url}
    stop_server(extra)
    assert located() == urls
