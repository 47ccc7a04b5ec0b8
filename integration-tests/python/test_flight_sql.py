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


def test_qmark_parameters_as_the_dbapi_driver_sends_them(server):
    """ADBC's DB-API (paramstyle qmark), like JDBC and most BI tools, writes `?`."""
    assert flight_sql.paramstyle == "qmark"
    trips = pq.read_table(server.data_dir / "lake" / "demo" / "trips").to_pandas()
    with connect(server) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM demo.trips WHERE fare > ?", (10.0,))
        assert cur.fetch_arrow_table().column("n").to_pylist() == [int((trips["fare"] > 10.0).sum())]
        cur.execute(
            "SELECT count(*) AS n FROM demo.trips WHERE fare > ? AND passengers >= ?", (30.0, 2))
        expected = int(((trips["fare"] > 30.0) & (trips["passengers"] >= 2)).sum())
        assert cur.fetch_arrow_table().column("n").to_pylist() == [expected]
        with pytest.raises(adbc_driver_manager.Error, match="not both"):
            cur.execute("SELECT ? + $1", (1,))


def test_pandas_read_sql(server):
    import pandas as pd

    with connect(server) as conn:
        df = pd.read_sql("SELECT city, count(*) AS n FROM demo.zones GROUP BY city ORDER BY city", conn)
    assert list(df["n"]) == [12] * 5
    assert list(df["city"]) == sorted(df["city"])


def test_execute_partitions_reads_every_endpoint(server):
    from conftest import DEMO_ROWS

    # Partitioned endpoints are asked for with a header; ADBC sends it as a call header.
    with flight_sql.connect(
        server.url,
        db_kwargs={"username": "demo", "password": "demo",
                   "adbc.flight.sql.rpc.call_header.x-laker-endpoints": "partitioned"},
        autocommit=True,
    ) as conn, conn.cursor() as cur:
        partitions, _schema = cur.adbc_execute_partitions("SELECT trip_id FROM demo.trips")
        assert len(partitions) > 1
        ids = []
        for p in partitions:
            cur.adbc_read_partition(p)
            ids.extend(cur.fetch_arrow_table().column("trip_id").to_pylist())
    assert len(ids) == DEMO_ROWS
    assert len(set(ids)) == DEMO_ROWS


def test_statements_have_one_endpoint_unless_partitions_are_asked_for(server):
    with connect(server) as conn, conn.cursor() as cur:
        partitions, _schema = cur.adbc_execute_partitions("SELECT trip_id FROM demo.trips")
        assert len(partitions) == 1


def test_polars_read_database(server):
    import polars as pl

    with connect(server) as conn:
        df = pl.read_database(
            "SELECT city, count(*) AS n FROM demo.zones GROUP BY city ORDER BY city", conn)
    assert df.columns == ["city", "n"]
    assert df["n"].to_list() == [12] * 5
    assert df["city"].to_list() == sorted(df["city"].to_list())


def test_sqlalchemy_through_flightsql_dbapi(server):
    """What Superset does: a SQLAlchemy engine over flightsql-dbapi, which
    reads the first endpoint only and inspects tables through SQL."""
    import flightsql.sqlalchemy  # noqa: F401  (registers the datafusion+flightsql dialect)
    import sqlalchemy as sa

    host, port = server.addr.rsplit(":", 1)
    engine = sa.create_engine(f"datafusion+flightsql://demo:demo@{host}:{port}?insecure=true")
    try:
        inspector = sa.inspect(engine)
        assert "demo" in inspector.get_schema_names()
        assert sorted(inspector.get_table_names(schema="demo")) == ["trips", "zones"]
        columns = [c["name"] for c in inspector.get_columns("zones", schema="demo")]
        assert columns == pq.read_table(server.data_dir / "lake" / "demo" / "zones").schema.names
        with engine.connect() as conn:
            n = conn.execute(sa.text("SELECT count(*) FROM demo.trips")).scalar()
            ids = conn.execute(sa.text("SELECT trip_id FROM demo.trips")).fetchall()
            zones = conn.execute(
                sa.select(sa.Table("zones", sa.MetaData(), autoload_with=conn, schema="demo"))
            ).fetchall()
    finally:
        engine.dispose()
    from conftest import DEMO_ROWS

    assert n == DEMO_ROWS
    assert len(ids) == DEMO_ROWS, "one endpoint holds every row"
    assert len(set(ids)) == DEMO_ROWS
    assert len(zones) == pq.read_table(server.data_dir / "lake" / "demo" / "zones").num_rows


def test_key_commands_and_type_info(server):
    with connect(server) as conn:
        # ADBC's get_objects asks for constraints (GetPrimaryKeys and friends).
        objects = conn.adbc_get_objects(depth="all", catalog_filter="laker",
                                        db_schema_filter="demo", table_name_filter="zones")
        table = objects.read_all().to_pylist()[0]["catalog_db_schemas"][0]["db_schema_tables"][0]
        assert table["table_name"] == "zones"
        names = pq.read_table(server.data_dir / "lake" / "demo" / "zones").schema.names
        assert [c["column_name"] for c in table["table_columns"]] == names
        assert not table["table_constraints"]
