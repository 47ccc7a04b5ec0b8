"""Uploads from pyarrow (DoPut with a path descriptor) and ADBC
(``adbc_ingest``, Flight SQL's CommandStatementIngest) into Delta datasets."""

from __future__ import annotations

import json

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as fl
import pytest

from conftest import ADMIN_PASSWORD, create_admin

PASSWORD = "py-writer-password"


@pytest.fixture(scope="module")
def writer(server):
    create_admin(server.data_dir)
    client = fl.FlightClient(server.url)
    admin = fl.FlightCallOptions(headers=[client.authenticate_basic_token("admin", ADMIN_PASSWORD)])
    for kind, body in [
        ("create_namespace", {"name": "pyup"}),
        ("create_user", {"name": "pywriter", "password": PASSWORD}),
        ("grant", {"user": "pywriter", "pattern": "pyup.*", "action": "write"}),
        ("grant", {"user": "pywriter", "pattern": "pyup.*", "action": "read"}),
    ]:
        list(client.do_action(fl.Action(kind, json.dumps(body).encode()), options=admin))
    token = client.authenticate_basic_token("pywriter", PASSWORD)
    yield client, token
    client.close()


def put(writer, dataset: str, table: pa.Table, mode: str, upload_id: str | None = None) -> dict:
    client, token = writer
    headers = [token, (b"x-laker-upload-mode", mode.encode())]
    if upload_id:
        headers.append((b"x-laker-upload-id", upload_id.encode()))
    ns, name = dataset.split(".")
    stream, results = client.do_put(
        fl.FlightDescriptor.for_path(ns, name), table.schema, options=fl.FlightCallOptions(headers=headers))
    stream.write_table(table)
    stream.done_writing()
    answer = results.read()
    stream.close()
    return json.loads(answer.to_pybytes())


def rows_of(writer, dataset: str) -> pa.Table:
    client, token = writer
    opts = fl.FlightCallOptions(headers=[token])
    info = client.get_flight_info(
        fl.FlightDescriptor.for_command(json.dumps({"dataset": dataset})), options=opts)
    return pa.concat_tables(client.do_get(e.ticket, options=opts).read_all() for e in info.endpoints)


def test_pyarrow_do_put_one_row_empty_and_retry(writer):
    one = pa.table({"id": pa.array([1], pa.int64()), "city": ["Oslo"]})
    created = put(writer, "pyup.cities", one, "create")
    assert (created["version"], created["rows"]) == (0, 1)
    empty = put(writer, "pyup.cities", one.slice(0, 0), "append")
    assert empty["rows"] == 0
    more = pa.table({"id": pa.array([2, 3], pa.int64()), "city": ["Bergen", "Tromsø"]})
    first = put(writer, "pyup.cities", more, "append", upload_id="cities-2")
    again = put(writer, "pyup.cities", more, "append", upload_id="cities-2")
    assert first["duplicate"] is False and again["duplicate"] is True
    got = rows_of(writer, "pyup.cities").sort_by("id")
    assert got.column("id").to_pylist() == [1, 2, 3]
    assert got.column("city").to_pylist() == ["Oslo", "Bergen", "Tromsø"]


def test_wrong_schema_is_refused_and_changes_nothing(writer):
    put(writer, "pyup.shapes", pa.table({"id": pa.array([1], pa.int64())}), "create")
    wrong = pa.table({"id": ["not a number"]})
    with pytest.raises(pa.ArrowInvalid, match="column 'id' is Int64 in the dataset but the upload sends Utf8"):
        put(writer, "pyup.shapes", wrong, "append")
    assert rows_of(writer, "pyup.shapes").num_rows == 1


def test_adbc_ingest_create_append_and_replace(server, writer):
    data = pa.table({"zone": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})
    with flight_sql.connect(server.url, db_kwargs={"username": "pywriter", "password": PASSWORD},
                            autocommit=True) as conn, conn.cursor() as cur:
        assert cur.adbc_ingest("zones", data, mode="create", db_schema_name="pyup") == 3
        assert cur.adbc_ingest("zones", data, mode="append", db_schema_name="pyup") == 3
        cur.execute("SELECT count(*) AS n FROM pyup.zones")
        assert cur.fetch_arrow_table().column("n").to_pylist() == [6]
        assert cur.adbc_ingest("zones", data.slice(0, 1), mode="replace", db_schema_name="pyup") == 1
        cur.execute("SELECT zone, name FROM pyup.zones")
        assert cur.fetch_arrow_table().to_pylist() == [{"zone": 1, "name": "a"}]
        with pytest.raises(Exception, match="already exists"):
            cur.adbc_ingest("zones", data, mode="create", db_schema_name="pyup")


def test_ten_million_rows_stream_through(server, writer):
    """A large upload streams batch by batch; every row arrives once."""
    import pyarrow.compute as pc

    client, token = writer
    n, step = 10_000_000, 1_000_000
    schema = pa.schema([("id", pa.int64()), ("value", pa.float64())])
    headers = [token, (b"x-laker-upload-mode", b"create")]
    stream, results = client.do_put(
        fl.FlightDescriptor.for_path("pyup", "big"), schema, options=fl.FlightCallOptions(headers=headers))
    for start in range(0, n, step):
        ids = pa.array(range(start, start + step), pa.int64())
        stream.write_batch(pa.record_batch([ids, pc.multiply(ids, 0.5)], schema=schema))
    stream.done_writing()
    answer = json.loads(results.read().to_pybytes())
    stream.close()
    assert answer["rows"] == n
    with flight_sql.connect(server.url, db_kwargs={"username": "pywriter", "password": PASSWORD},
                            autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n, count(DISTINCT id) AS d, sum(id) AS s FROM pyup.big")
        got = cur.fetch_arrow_table().to_pylist()[0]
    assert got == {"n": n, "d": n, "s": n * (n - 1) // 2}
