"""The ``laker`` Python package (clients/python) against a real server:
every API, resuming across cut connections, token refresh, progress off
when not a terminal, and errors as exceptions with the server's message."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest

import laker
from conftest import ADMIN_PASSWORD, create_admin, start_server, stop_server
from proxy import CuttingProxy


@pytest.fixture()
def lake(server):
    with laker.connect(server.url, user="demo", password="demo") as client:
        yield client


@pytest.fixture(scope="module")
def writer(server):
    create_admin(server.data_dir)
    admin = laker.connect(server.url, user="admin", password=ADMIN_PASSWORD)
    admin.action("create_namespace", {"name": "pyclient"})
    admin.action("create_user", {"name": "pyclient", "password": "pyclient-password"})
    for action in ("read", "write"):
        admin.action("grant", {"user": "pyclient", "pattern": "pyclient.*", "action": action})
    admin.close()
    with laker.connect(server.url, user="pyclient", password="pyclient-password") as client:
        yield client


def test_discovery(lake):
    names = [d.name for d in lake.datasets()]
    assert {"demo.trips", "demo.zones"} <= set(names)
    zones = [d for d in lake.datasets("zones") if d.name == "demo.zones"][0]
    assert zones.description
    assert lake.datasets("no-such-thing") == []
    schema = lake.schema("demo.zones")
    assert schema.names[:3] == ["zone_id", "name", "city"]
    described = lake.describe("demo.zones")
    assert described["name"] == "demo.zones" and described["statistics"]["rows"]["value"] == 60


def test_download_slices_and_helpers(lake):
    table = lake.download("demo.zones")
    assert table.num_rows == 60
    sliced = lake.download("demo.trips", columns=["trip_id", "fare"], filter="fare > 30", limit=1000)
    assert sliced.column_names == ["trip_id", "fare"]
    assert sliced.num_rows == 1000 and pa.compute.min(sliced["fare"]).as_py() > 30
    ordered = lake.download("demo.zones", columns=["zone_id"], order_by=["zone_id DESC"], limit=3)
    assert ordered.column("zone_id").to_pylist() == [60, 59, 58]
    df = lake.to_pandas("demo.zones", columns=["zone_id", "city"], filter="city = 'Oslo'")
    assert isinstance(df, pd.DataFrame) and set(df["city"]) == {"Oslo"}
    frame = lake.to_polars("demo.zones", columns=["zone_id"])
    assert isinstance(frame, pl.DataFrame) and frame.height == 60


def test_download_to_streams_files(lake, tmp_path):
    expected = lake.download("demo.zones").sort_by("zone_id")
    for format, read in [("parquet", pq.read_table), ("arrow", feather.read_table),
                         ("csv", pacsv.read_csv)]:
        path = tmp_path / f"zones.{format}"
        assert lake.download_to(path, "demo.zones", format=format).rows == 60
        got = read(path).sort_by("zone_id")
        assert got.column("zone_id").to_pylist() == expected.column("zone_id").to_pylist()
        assert got.column("name").to_pylist() == expected.column("name").to_pylist()
    big = tmp_path / "trips.parquet"
    assert lake.download_to(big, "demo.trips", columns=["trip_id", "fare"],
                            resume=False).rows == 2_000_000
    assert pq.read_metadata(big).num_rows == 2_000_000
    with pytest.raises(laker.InvalidSpec, match="format must be one of"):
        lake.download_to(tmp_path / "x.xlsx", "demo.zones", format="xlsx")
    with pytest.raises(laker.NotFound, match="demo.nope"):
        lake.download_to(tmp_path / "nope.parquet", "demo.nope")
    assert not (tmp_path / "nope.parquet").exists()
    assert not (tmp_path / "nope.parquet.laker-partial").exists()


def test_sql(lake):
    result = lake.sql("SELECT city, count(*) AS zones FROM demo.zones GROUP BY city ORDER BY city")
    assert result.column("city").to_pylist() == sorted(set(lake.download("demo.zones")["city"].to_pylist()))
    assert sum(result.column("zones").to_pylist()) == 60
    with pytest.raises(laker.InvalidSpec, match="Line: 1"):
        lake.sql("SELEC 1")
    with pytest.raises(laker.NotFound):
        lake.sql("SELECT * FROM demo.nope")


def test_upload_pyarrow_pandas_polars(writer):
    answer = writer.upload("pyclient.items", pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]}),
                           mode="create", upload_id="items-1")
    assert (answer["version"], answer["rows"], answer["duplicate"]) == (0, 2, False)
    again = writer.upload("pyclient.items", pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]}),
                          upload_id="items-1")
    assert again["duplicate"] is True
    writer.upload("pyclient.items", pd.DataFrame({"id": [3], "name": ["c"]}))
    writer.upload("pyclient.items", pl.DataFrame({"id": [4], "name": ["d"]}))
    got = writer.download("pyclient.items").sort_by("id")
    assert got.column("id").to_pylist() == [1, 2, 3, 4]
    assert got.column("name").to_pylist() == ["a", "b", "c", "d"]
    with pytest.raises(laker.InvalidSpec, match="column 'id' is Int64"):
        writer.upload("pyclient.items", pa.table({"id": ["x"], "name": ["e"]}))
    with pytest.raises(laker.PermissionDenied):
        writer.upload("demo.zones", pa.table({"zone_id": pa.array([1], pa.int32())}))
    with pytest.raises(laker.InvalidSpec, match="cannot upload a list"):
        writer.upload("pyclient.items", [1, 2])


def test_errors_carry_the_servers_message(server, lake):
    with pytest.raises(laker.NotFound, match="dataset 'demo.nope' not found"):
        lake.download("demo.nope")
    with pytest.raises(laker.InvalidSpec, match="filter"):
        lake.download("demo.zones", filter="zone_id >")
    with pytest.raises(laker.InvalidSpec, match="namespace.dataset"):
        lake.download("zones")
    with pytest.raises(laker.PermissionDenied, match="admin"):
        lake.action("list_users")
    with pytest.raises(laker.Unauthenticated, match="invalid user name or password"):
        laker.connect(server.url, user="demo", password="wrong")
    assert issubclass(laker.NotFound, laker.LakerError)


def test_download_resumes_across_cut_connections(server):
    proxy = CuttingProxy(server.addr, cut_after=4 << 20, cuts=3)
    try:
        with laker.connect(proxy.url, user="demo", password="demo") as lake:
            table = lake.download("demo.trips", columns=["trip_id", "fare"])
        assert proxy.cuts_done == 3
    finally:
        proxy.close()
    assert table.num_rows == 2_000_000
    assert pa.compute.count_distinct(table["trip_id"]).as_py() == 2_000_000


def test_a_cut_sql_result_fails_instead_of_resuming(server):
    # A query run again may order its rows differently: skipping the rows
    # already received could duplicate some and lose others.
    proxy = CuttingProxy(server.addr, cut_after=4 << 20, cuts=1)
    try:
        with laker.connect(proxy.url, user="demo", password="demo") as lake:
            with pytest.raises(laker.LakerError):
                lake.sql("SELECT trip_id, fare FROM demo.trips")
        assert proxy.cuts_done == 1
    finally:
        proxy.close()


def test_tokens_are_refreshed_and_renewed(tmp_path):
    data = tmp_path / "short-tokens"
    data.mkdir()
    server = start_server(data, "--token-ttl-secs", "5", demo=False)
    create_admin(data)
    try:
        lake = laker.connect(server.url, user="admin", password=ADMIN_PASSWORD)
        tokens = lake._tokens
        visible = lake.datasets()
        assert visible
        # Within the last fifth of its life the token is swapped for a fresh one.
        deadline = tokens._issued + 5 * 0.85
        time.sleep(max(0.0, deadline - time.time()))
        assert lake.datasets() == visible
        assert tokens.refreshes == 1 and tokens.logins == 1
        # Once expired, the client logs in again with its credentials.
        time.sleep(max(0.0, tokens._expires + 0.5 - time.time()))
        assert lake.datasets() == visible
        assert tokens.logins == 2
        # A token alone cannot be renewed after it expires.
        bare = laker.connect(server.url, token=tokens._token)
        time.sleep(max(0.0, tokens._expires + 0.5 - time.time()))
        with pytest.raises(laker.Unauthenticated, match="expired"):
            bare.datasets()
    finally:
        stop_server(server)


def test_progress_is_off_when_not_a_terminal(lake, capsys):
    lake.download("demo.zones")
    assert capsys.readouterr().err == ""
    assert not laker.Client(lake.url, user="demo", password="demo")._progress(
        fl.FlightInfo(pa.schema([]), fl.FlightDescriptor.for_path("a"), [], 10, 0)).shown
    shown = laker.Client(lake.url, user="demo", password="demo", progress=True)
    bar = shown._progress(fl.FlightInfo(pa.schema([]), fl.FlightDescriptor.for_path("a"), [], 10, 0))
    assert bar.shown
    bar.close()
    assert json.dumps({"ok": True})


def test_quickstart_notebook_runs(server, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    create_admin(server.data_dir)
    admin = laker.connect(server.url, user="admin", password=ADMIN_PASSWORD)
    # Its own user, so the shared server's demo account sees nothing new.
    admin.action("create_namespace", {"name": "notebook"})
    admin.action("create_user", {"name": "nbanalyst", "password": "nbanalyst-password"})
    for pattern, action in [("demo.*", "read"), ("notebook.*", "read"), ("notebook.*", "write")]:
        admin.action("grant", {"user": "nbanalyst", "pattern": pattern, "action": action})
    admin.close()
    monkeypatch.setenv("LAKER_URL", server.url)
    monkeypatch.setenv("LAKER_USER", "nbanalyst")
    monkeypatch.setenv("LAKER_PASSWORD", "nbanalyst-password")
    monkeypatch.setenv("LAKER_UPLOAD_TO", "notebook.fares_by_city")
    path = Path(__file__).resolve().parents[2] / "clients/python/examples/quickstart.ipynb"
    notebook = nbformat.read(path, as_version=4)
    # Any cell that raises fails the run (CellExecutionError).
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert (tmp_path / "fares_by_city.png").stat().st_size > 1000
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "rows in notebook.fares_by_city" in printed
    assert "2,000,000 rows in " in printed
    with laker.connect(server.url, user="nbanalyst", password="nbanalyst-password") as lake:
        assert lake.download("notebook.fares_by_city").column_names == ["city", "avg_fare"]
