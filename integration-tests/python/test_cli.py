"""The ``laker`` CLI, run as a built binary against a real server: login,
ls, describe, get (files compared with the dataset's rows, resumed across
cut connections), put, sql, admin, and errors that fit scripts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest

from conftest import ADMIN_PASSWORD, cli_binary, create_admin
from proxy import CuttingProxy


@pytest.fixture()
def home(tmp_path) -> Path:
    d = tmp_path / "config"
    return d


def laker(home: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LAKER_")}
    environment["LAKER_CONFIG_DIR"] = str(home)
    environment.update(env or {})
    return subprocess.run([cli_binary(), *args], capture_output=True, text=True, timeout=300,
                          input=stdin, env=environment)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    return result


def zones(server) -> pa.Table:
    client = fl.FlightClient(server.url)
    opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token("demo", "demo")])
    info = client.get_flight_info(fl.FlightDescriptor.for_path("demo", "zones"), opts)
    table = pa.concat_tables(client.do_get(e.ticket, opts).read_all() for e in info.endpoints)
    client.close()
    return table.sort_by("zone_id")


def test_login_stores_a_private_token_that_later_commands_use(server, home):
    bad = laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="wrong\n")
    assert bad.returncode != 0 and "Unauthenticated" in bad.stderr and bad.stdout == ""
    ok(laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="demo\n"))
    stored = home / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["user"] == "demo"

    listed = ok(laker(home, "ls", "zone")).stdout
    names = [line.split()[0] for line in listed.splitlines()]
    assert "demo.zones" in names
    assert ok(laker(home, "ls", "no-such-thing")).stdout == ""
    described = json.loads(ok(laker(home, "describe", "demo.zones")).stdout)
    assert described["name"] == "demo.zones"
    assert [c["name"] for c in described["schema"]][:3] == ["zone_id", "name", "city"]


def test_get_writes_files_with_the_datasets_rows(server, home, tmp_path):
    ok(laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="demo\n"))
    expected = zones(server)
    for name, read in [
        ("z.parquet", pq.read_table),
        ("z.arrow", feather.read_table),
        ("z.csv", lambda p: pacsv.read_csv(p)),
    ]:
        out = tmp_path / name
        result = ok(laker(home, "get", "demo.zones", "-o", str(out)))
        assert f"60 rows written to {out}" in result.stderr
        # No progress bar when stderr is not a terminal.
        assert "ETA" not in result.stderr and "\r" not in result.stderr
        got = read(out).sort_by("zone_id")
        assert got.column("zone_id").to_pylist() == expected.column("zone_id").to_pylist()
        assert got.column("name").to_pylist() == expected.column("name").to_pylist()

    sliced = tmp_path / "oslo.parquet"
    ok(laker(home, "get", "demo.zones", "-c", "zone_id,city", "-f", "city = 'Oslo'", "-n", "5",
             "-o", str(sliced)))
    got = pq.read_table(sliced)
    assert got.column_names == ["zone_id", "city"]
    assert got.num_rows == 5 and set(got.column("city").to_pylist()) == {"Oslo"}

    printed = ok(laker(home, "get", "demo.zones", "-c", "zone_id", "-n", "3")).stdout
    assert printed.count("\n") == 7  # a 3-row table: borders, header and rows


def test_get_resumes_across_cut_connections(server, home, tmp_path):
    proxy = CuttingProxy(server.addr, cut_after=4 << 20, cuts=3)
    try:
        ok(laker(home, "login", f"http://{proxy.addr}", "--as", "demo", stdin="demo\n"))
        out = tmp_path / "trips.parquet"
        result = ok(laker(home, "get", "demo.trips", "-c", "trip_id,fare", "-o", str(out)))
        assert proxy.cuts_done == 3, result.stderr
        assert result.stderr.count("resuming") >= 3
    finally:
        proxy.close()
    got = pq.read_table(out)
    ids = got.column("trip_id")
    assert got.num_rows == 2_000_000
    assert pa.compute.count_distinct(ids).as_py() == 2_000_000
    assert pa.compute.min(ids).as_py() == 0 and pa.compute.max(ids).as_py() == 1_999_999 or \
        pa.compute.min(ids).as_py() == 1 and pa.compute.max(ids).as_py() == 2_000_000


def test_put_sql_and_admin(server, home, tmp_path):
    create_admin(server.data_dir)
    ok(laker(home, "login", f"http://{server.addr}", "--as", "admin", stdin=ADMIN_PASSWORD + "\n"))
    ok(laker(home, "admin", "action", "create_namespace", '{"name": "clitest"}'))
    ok(laker(home, "admin", "action", "grant",
             '{"user": "admin", "pattern": "clitest.*", "action": "write"}'))
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})
    pq.write_table(table, tmp_path / "t.parquet")
    pacsv.write_csv(pa.table({"id": pa.array([4], pa.int64()), "name": ["d"]}), tmp_path / "t.csv")
    feather.write_feather(pa.table({"id": pa.array([5], pa.int64()), "name": ["e"]}), tmp_path / "t.arrow",
                          compression="uncompressed")

    created = json.loads(ok(laker(home, "put", "clitest.items", str(tmp_path / "t.parquet"),
                                  "--mode", "create", "--id", "items-1")).stdout)
    assert (created["version"], created["rows"]) == (0, 3)
    again = json.loads(ok(laker(home, "put", "clitest.items", str(tmp_path / "t.parquet"),
                                "--mode", "append", "--id", "items-1")).stdout)
    assert again["duplicate"] is True
    ok(laker(home, "put", "clitest.items", str(tmp_path / "t.csv")))
    ok(laker(home, "put", "clitest.items", str(tmp_path / "t.arrow")))

    csv_out = ok(laker(home, "sql", "SELECT id, name FROM clitest.items ORDER BY id", "--format", "csv")).stdout
    assert csv_out.splitlines() == ["id,name", "1,a", "2,b", "3,c", "4,d", "5,e"]
    lines = ok(laker(home, "sql", "SELECT count(*) AS n FROM clitest.items", "--format", "json")).stdout
    assert json.loads(lines.splitlines()[0]) == {"n": 5}
    pq_out = tmp_path / "q.parquet"
    ok(laker(home, "sql", "SELECT * FROM clitest.items WHERE id > 3", "--format", "parquet", "-o", str(pq_out)))
    assert sorted(pq.read_table(pq_out).column("id").to_pylist()) == [4, 5]
    assert "| 5 |" in ok(laker(home, "sql", "SELECT count(*) AS n FROM clitest.items")).stdout.replace("  ", " ")

    users = json.loads(ok(laker(home, "admin", "users")).stdout)
    assert "admin" in [u["name"] for u in users]
    audit = ok(laker(home, "admin", "audit", "-f", "action = 'DoPut'", "-n", "10")).stdout
    assert "clitest.items" in audit


def test_errors_give_a_nonzero_exit_and_a_message_on_stderr(server, home, tmp_path):
    not_logged_in = laker(home, "ls")
    assert not_logged_in.returncode != 0 and "not logged in" in not_logged_in.stderr
    ok(laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="demo\n"))
    missing = laker(home, "get", "demo.nope", "-o", str(tmp_path / "x.parquet"))
    assert missing.returncode != 0 and missing.stdout == ""
    assert "NotFound" in missing.stderr and "demo.nope" in missing.stderr
    bad_filter = laker(home, "get", "demo.zones", "-f", "zone_id >")
    assert bad_filter.returncode != 0 and "InvalidArgument" in bad_filter.stderr
    bad_ext = laker(home, "get", "demo.zones", "-o", str(tmp_path / "x.xlsx"))
    assert bad_ext.returncode != 0 and "cannot tell the format" in bad_ext.stderr
    denied = laker(home, "put", "demo.zones", str(tmp_path / "none.parquet"))
    assert denied.returncode != 0 and "cannot open" in denied.stderr
    unreachable = laker(home, "ls", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode != 0 and "cannot connect" in unreachable.stderr
