"""TPC-H through Flight SQL: the 22 queries over generated TPC-H data
(``tpchgen-cli``, Parquet) return through ADBC exactly what DataFusion
returns when it runs them directly on the same files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import datafusion
import pyarrow.flight as fl
import pytest

from conftest import ADMIN_PASSWORD, create_admin, start_server, stop_server
from tpch_queries import QUERIES, TABLES

SCALE_FACTOR = "0.01"
ANALYST_PASSWORD = "analyst-password-1"


@pytest.fixture(scope="module")
def tpch(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tpch-data")
    lake = data_dir / "lake" / "tpch"
    lake.mkdir(parents=True)
    tpchgen = Path(sys.executable).with_name("tpchgen-cli")
    subprocess.run(
        [str(tpchgen), "parquet", "-s", SCALE_FACTOR, "--parts", "2", "--output-dir", str(lake)],
        check=True, capture_output=True)
    s = start_server(data_dir, demo=False)
    try:
        create_admin(data_dir)
        client = fl.FlightClient(s.url)
        admin = fl.FlightCallOptions(
            headers=[client.authenticate_basic_token("admin", ADMIN_PASSWORD)])

        def act(kind, body):
            list(client.do_action(fl.Action(kind, json.dumps(body).encode()), options=admin))

        act("create_namespace", {"name": "tpch"})
        for table in TABLES:
            act("register_dataset", {"name": f"tpch.{table}", "location": (lake / table).as_uri() + "/",
                                     "format": "parquet"})
        act("create_user", {"name": "analyst", "password": ANALYST_PASSWORD})
        act("grant", {"user": "analyst", "pattern": "tpch.*", "action": "read"})
        client.close()
        yield s, lake
    finally:
        stop_server(s)


@pytest.fixture(scope="module")
def direct(tpch):
    """DataFusion on the files, without Laker."""
    _, lake = tpch
    ctx = datafusion.SessionContext()
    ctx.sql("CREATE SCHEMA tpch").collect()
    for table in TABLES:
        ctx.register_parquet(f"tpch.{table}", str(lake / table) + "/")
    return ctx


def canonical(value):
    if isinstance(value, float):
        return ("f", round(value, 6) if math.isfinite(value) else value)
    if isinstance(value, Decimal):
        return ("d", value)
    return (type(value).__name__, value)


def rows(table) -> list[tuple]:
    return [tuple(row[c] for c in table.column_names) for row in table.to_pylist()]


@pytest.mark.parametrize("number", sorted(QUERIES))
def test_query_matches_datafusion_on_the_files(tpch, direct, number):
    server, _ = tpch
    sql = QUERIES[number]
    expected = direct.sql(sql).to_arrow_table()
    with flight_sql.connect(server.url, db_kwargs={"username": "analyst", "password": ANALYST_PASSWORD},
                            autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(sql)
        got = cur.fetch_arrow_table()
    assert got.column_names == expected.column_names
    assert got.num_rows == expected.num_rows
    assert expected.num_rows > 0, "the scale factor is large enough for every query to match rows"
    got_rows, expected_rows = rows(got), rows(expected)
    # Ties in ORDER BY may come in either order; the rows themselves must agree.
    key = lambda r: [canonical(v) if v is not None else ("", "") for v in r]  # noqa: E731
    for g, e in zip(sorted(got_rows, key=key), sorted(expected_rows, key=key)):
        for gv, ev in zip(g, e):
            if isinstance(ev, float):
                assert gv == pytest.approx(ev, rel=1e-9), (number, g, e)
            else:
                assert gv == ev, (number, g, e)
