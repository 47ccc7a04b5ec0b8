"""Flight SQL from the ADBC driver (what pandas, polars and BI tools use),
against the same server and port as plain Flight."""

from __future__ import annotations

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow.parquet as pq
import pytest


def connect(server, user="demo", password="demo"):
    return flight_sql.connect(
        server.url, db_kwargs={"username": user, "password": password}, autocommit=True)


def test_execute_and_fetch_arrow_table(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT city, count(*) AS zones FROM demo.zones GROUP BY city ORDER BY city")
        table = cur.fetch_arrow_table()
    expected = pq.read_table(server.data_dir / "lake" / "demo" / "zones").to_pandas()
    counts = expected.groupby("city").size().sort_index()
    assert table.column("city").to_pylist() == list(counts.index)
    assert table.column("zones").to_pylist() == list(counts.values)


def test_results_match_pyarrow_on_the_files(server):
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT sum(fare) AS fares, count(*) AS trips FROM demo.trips WHERE passengers >= 2")
        got = cur.fetch_arrow_table().to_pylist()[0]
    trips = pq.read_table(server.data_dir / "lake" / "demo" / "trips").to_pandas()
    subset = trips[trips["passengers"] >= 2]
    assert got["trips"] == len(subset)
    assert got["fares"] == pytest.approx(subset["fare"].sum(), rel=1e-9)


def test_get_info_and_objects(server):
    with connect(server) as conn:
        info = conn.adbc_get_info()
        assert info["vendor_name"] == "Laker"
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    assert [c["catalog_name"] for c in objects] == ["laker"]
    schemas = {s["db_schema_name"]: s for s in objects[0]["catalog_db_schemas"]}
    assert sorted(t["table_name"] for t in schemas["demo"]["db_schema_tables"]) == ["trips", "zones"]


def test_errors_reach_the_client(server):
    with connect(server) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.ProgrammingError, match="read-only"):
            cur.execute("DROP TABLE demo.zones")
        with pytest.raises(adbc_driver_manager.Error, match="not found"):
            cur.execute("SELECT * FROM demo.nope")
    with pytest.raises(adbc_driver_manager.Error):
        connect(server, password="wrong").cursor().execute("SELECT 1")


def test_prepared_statement_with_bound_parameters(server):
    zones = pq.read_table(server.data_dir / "lake" / "demo" / "zones").to_pylist()
    expected = sorted(z["zone_id"] for z in zones if z["city"] == "Bergen" and z["zone_id"] > 10)
    with connect(server) as conn, conn.cursor() as cur:
        sql = "SELECT zone_id FROM demo.zones WHERE city = $1 AND zone_id > $2 ORDER BY zone_id"
        cur.execute(sql, ("Bergen", 10))
        assert cur.fetch_arrow_table().column("zone_id").to_pylist() == expected
        # The same prepared statement, bound again.
        cur.execute(sql, ("Oslo", 50))
        oslo = cur.fetch_arrow_table().column("zone_id").to_pylist()
    assert oslo == sorted(z["zone_id"] for z in zones if z["city"] == "Oslo" and z["zone_id"] > 50)


def test_pandas_read_sql(server):
    import pandas as pd

    with connect(server) as conn:
        df = pd.read_sql("SELECT city, count(*) AS n FROM demo.zones GROUP BY city ORDER BY city", conn)
    assert list(df["n"]) == [12] * 5
    assert list(df["city"]) == sorted(df["city"])


def test_execute_partitions_reads_every_endpoint(server):
    from conftest import DEMO_ROWS

    with connect(server) as conn, conn.cursor() as cur:
        partitions, _schema = cur.adbc_execute_partitions("SELECT trip_id FROM demo.trips")
        assert len(partitions) > 1
        ids = []
        for p in partitions:
            cur.adbc_read_partition(p)
            ids.extend(cur.fetch_arrow_table().column("trip_id").to_pylist())
    assert len(ids) == DEMO_ROWS
    assert len(set(ids)) == DEMO_ROWS
