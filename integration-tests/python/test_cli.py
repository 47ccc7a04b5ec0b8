"""The ``laker`` CLI, run as a built binary against a real server: login,
ls, describe (tables for people, JSON for scripts), get (files compared
with the dataset's rows; versions, order, compression; resumed across cut
connections and across a killed process; its progress bar in a real
pseudo-terminal), put, sql, admin, and errors that fit on one line."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import stat
import struct
import subprocess
import termios
import time
import uuid
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.flight as fl
import pyarrow.parquet as pq
import pytest

from conftest import ADMIN_PASSWORD, DEMO_ROWS, cli_binary, create_admin
from proxy import CuttingProxy, StallingProxy


@pytest.fixture()
def home(tmp_path) -> Path:
    d = tmp_path / "config"
    return d


def cli_env(home: Path, env: dict | None = None) -> dict:
    """The environment of a ``laker`` run: none of the caller's LAKER_*
    settings, the config (stored login) in ``home``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LAKER_")}
    environment["LAKER_CONFIG_DIR"] = str(home)
    environment.update(env or {})
    return environment


def laker(home: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([cli_binary(), *args], capture_output=True, text=True, timeout=300,
                          input=stdin, env=cli_env(home, env))


def stored_token(home: Path) -> dict:
    """``LAKER_TOKEN`` set to the login stored in ``home``, for a run through
    a proxy: the stored token itself is sent only to the server it was
    stored for."""
    return {"LAKER_TOKEN": json.loads((home / "credentials.json").read_text())["token"]}


def one_line(result: subprocess.CompletedProcess) -> str:
    """The failed run's message, checked to be a single line."""
    assert result.returncode != 0 and result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


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
    assert names[0] == "DATASET" and "demo.zones" in names
    nothing = ok(laker(home, "ls", "no-such-thing"))
    assert nothing.stdout == "" and "no dataset you may read matches 'no-such-thing'" in nothing.stderr
    described = json.loads(ok(laker(home, "describe", "demo.zones", "--json")).stdout)
    assert described["name"] == "demo.zones"
    assert [c["name"] for c in described["schema"]][:3] == ["zone_id", "name", "city"]


def test_describe_and_ls_read_as_tables(server, home):
    ok(laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="demo\n"))
    zones = ok(laker(home, "describe", "demo.zones")).stdout
    assert zones.startswith("demo.zones\n  Taxi zones referenced by demo.trips"), zones
    assert re.search(r"^format +parquet$", zones, re.M), zones
    assert re.search(r"^rows +(about )?60$", zones, re.M), zones
    assert re.search(r"^size +[\d.]+ (B|KiB|MiB) in \d+ files?$", zones, re.M), zones
    assert re.search(r"^partitions +none$", zones, re.M), zones
    schema = zones[zones.index("\nSchema\n"):]
    assert re.search(r"^ +# +column +type +nullable +masked$", schema, re.M), zones
    assert re.search(r"^ +1 +zone_id +Int32 +(yes|no)$", schema, re.M), zones
    assert re.search(r"^ +3 +city +Utf8 +(yes|no)$", schema, re.M), zones
    assert "{" not in zones  # no JSON for people

    trips = ok(laker(home, "describe", "demo.trips")).stdout
    assert re.search(r"^rows +(about )?2,000,000$", trips, re.M), trips
    assert re.search(r"^partitions +month \(", trips, re.M), trips
    assert re.search(r"^size +[\d.]+ MiB in 24 files$", trips, re.M), trips
    stats = trips[trips.index("\nStatistics"):]
    assert re.search(r"^ +column +nulls +min +max +distinct$", stats, re.M), trips
    assert re.search(r"^ +trip_id +0 +\d+ +\d+", stats, re.M), trips

    listed = ok(laker(home, "ls")).stdout.splitlines()
    assert re.match(r"DATASET +FORMAT +COLUMNS +DESCRIPTION +TAGS$", listed[0]), listed
    row = next(line for line in listed if line.startswith("demo.trips "))
    assert re.match(r"demo\.trips +parquet +\d+ +Taxi trips in Norwegian", row), row
    # Columns line up under their headers.
    assert row.index("parquet") == listed[0].index("FORMAT")
    as_json = json.loads(ok(laker(home, "ls", "--json")).stdout)
    trips_json = next(d for d in as_json if d["name"] == "demo.trips")
    assert trips_json["schema"][0] == {"name": "trip_id", "type": "Int64", "nullable": False}


def test_describe_shows_masked_columns_and_withheld_statistics(server, tmp_path):
    create_admin(server.data_dir)
    admin_home, home = tmp_path / "admin", tmp_path / "reader"
    ok(laker(admin_home, "login", f"http://{server.addr}", "--as", "admin", stdin=ADMIN_PASSWORD + "\n"))
    reader = f"clireader_{uuid.uuid4().hex[:8]}"
    ok(laker(admin_home, "admin", "action", "create_user",
             json.dumps({"name": reader, "password": "reader-password"})))
    ok(laker(admin_home, "admin", "action", "grant", json.dumps({
        "user": reader, "pattern": "demo.trips", "action": "read",
        "row_filter": "city = 'Bergen'", "column_masks": {"vendor": "hash"}})))
    ok(laker(home, "login", f"http://{server.addr}", "--as", reader, stdin="reader-password\n"))
    text = ok(laker(home, "describe", "demo.trips")).stdout
    assert re.search(r"^ +2 +vendor +\S+ +(yes|no) +masked$", text, re.M), text
    assert re.search(r"^ +1 +trip_id +Int64 +(yes|no)$", text, re.M), text
    assert re.search(r"^rows +withheld", text, re.M), text
    assert "Statistics withheld: your grants filter rows or mask columns" in text


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


def test_a_stored_login_is_sent_only_to_its_own_server(server, home):
    ok(laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="demo\n"))
    proxy = StallingProxy(server.addr, stall_after=None)
    try:
        elsewhere = f"http://{proxy.addr}"
        refused = one_line(laker(home, "ls", "--url", elsewhere))
        assert refused == (
            f"laker: the stored login is for http://{server.addr}, not {elsewhere}, and is sent "
            f"only to its own server: run `laker login {elsewhere} --as NAME`, or pass --user "
            "and --password")
        assert refused == one_line(laker(home, "ls", env={"LAKER_URL": elsewhere}))
        # Credentials given for that server are used.
        listed = ok(laker(home, "ls", "--url", elsewhere, "--user", "demo", "--password", "demo"))
        assert "demo.zones" in listed.stdout
    finally:
        proxy.close()
    # The stored server, however spelled, gets it.
    assert "demo.zones" in ok(laker(home, "ls", "--url", f"grpc://{server.addr}")).stdout


class DeltaCli(NamedTuple):
    """An admin's CLI config (``home``) and a namespace of its own."""
    home: Path
    namespace: str


@pytest.fixture(scope="module")
def delta_cli(server, tmp_path_factory) -> DeltaCli:
    """An admin logged in with the CLI, a namespace it writes, and in it
    ``items``: a Delta table of ids 1-5 (version 0), then 6-7 (version 1)."""
    create_admin(server.data_dir)
    home = tmp_path_factory.mktemp("cli-admin")
    ok(laker(home, "login", f"http://{server.addr}", "--as", "admin", stdin=ADMIN_PASSWORD + "\n"))
    namespace = f"cli{uuid.uuid4().hex[:8]}"
    ok(laker(home, "admin", "action", "create_namespace", json.dumps({"name": namespace})))
    ok(laker(home, "admin", "action", "grant",
             json.dumps({"user": "admin", "pattern": f"{namespace}.*", "action": "write"})))
    files = tmp_path_factory.mktemp("cli-items")
    pq.write_table(pa.table({"id": pa.array([1, 2, 3, 4, 5], pa.int64()),
                             "grp": pa.array([1, 2, 1, 2, 1], pa.int64()),
                             "name": ["a", "b", "c", "d", "e"]}), files / "v0.parquet")
    pq.write_table(pa.table({"id": pa.array([6, 7], pa.int64()), "grp": pa.array([2, 1], pa.int64()),
                             "name": ["f", "g"]}), files / "v1.parquet")
    ok(laker(home, "put", f"{namespace}.items", str(files / "v0.parquet"), "--mode", "create"))
    ok(laker(home, "put", f"{namespace}.items", str(files / "v1.parquet")))
    return DeltaCli(home, namespace)


def test_get_reads_versions_in_order_and_compressed(delta_cli, tmp_path):
    home, items = delta_cli.home, f"{delta_cli.namespace}.items"
    v0 = tmp_path / "v0.csv"
    first = ok(laker(home, "get", items, "--version", "0", "-o", str(v0)))
    # The version read is reported, so a script can pin it.
    assert f"5 rows written to {v0} ({items} version 0)" in first.stderr
    assert sorted(pacsv.read_csv(v0)["id"].to_pylist()) == [1, 2, 3, 4, 5]
    latest = tmp_path / "latest.csv"
    assert f"7 rows written to {latest} ({items} version 1)" in ok(
        laker(home, "get", items, "-o", str(latest))).stderr
    future = tmp_path / "future.csv"
    assert f"({items} version 1)" in ok(
        laker(home, "get", items, "--as-of", "2999-01-01", "-o", str(future))).stderr
    assert sorted(pacsv.read_csv(future)["id"].to_pylist()) == [1, 2, 3, 4, 5, 6, 7]
    assert "has no version as of" in one_line(
        laker(home, "get", items, "--as-of", "2000-01-01", "-o", str(tmp_path / "x.csv")))
    assert "has no version 9" in one_line(laker(home, "get", items, "--version", "9"))
    both = laker(home, "get", items, "--version", "0", "--as-of", "2999-01-01")
    assert both.returncode != 0 and "cannot be used with" in both.stderr

    printed = ok(laker(home, "get", items, "--order-by", "id DESC", "-n", "3", "--format", "csv"))
    assert printed.stdout.splitlines() == ["id,grp,name", "7,1,g", "6,2,f", "5,1,e"]
    assert f"read {items} version 1" in printed.stderr
    two_keys = ok(laker(home, "get", items, "-c", "grp,id", "--order-by", "grp DESC",
                        "--order-by", "id", "--format", "csv")).stdout
    assert two_keys.splitlines() == ["grp,id", "2,2", "2,4", "2,6", "1,1", "1,3", "1,5", "1,7"]
    old_order = ok(laker(home, "get", items, "--version", "0", "--order-by", "id DESC",
                         "--format", "csv")).stdout
    assert old_order.splitlines()[1:] == ["5,1,e", "4,2,d", "3,1,c", "2,2,b", "1,1,a"]

    for codec in ("zstd", "lz4"):
        out = tmp_path / f"{codec}.arrow"
        ok(laker(home, "get", items, "--compression", codec, "-o", str(out)))
        got = feather.read_table(out).sort_by("id")
        assert got["id"].to_pylist() == [1, 2, 3, 4, 5, 6, 7]
        assert got["name"].to_pylist() == ["a", "b", "c", "d", "e", "f", "g"]


def test_compression_shrinks_what_the_server_sends(server, home, tmp_path):
    ok(laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="demo\n"))
    sent = {}
    for codec in ("none", "zstd", "lz4"):
        proxy = StallingProxy(server.addr, stall_after=None)
        out = tmp_path / f"{codec}.parquet"
        args = ["get", "demo.trips", "-c", "vendor,payment_type", "--url", f"http://{proxy.addr}",
                "-o", str(out)]
        try:
            ok(laker(home, *args, *(["--compression", codec] if codec != "none" else []),
                     env=stored_token(home)))
        finally:
            proxy.close()
        sent[codec] = proxy.from_server
        got = pq.read_table(out)
        assert got.num_rows == DEMO_ROWS
        assert got["vendor"].null_count == 0
    assert sent["zstd"] < 0.75 * sent["none"], sent
    assert sent["lz4"] < 0.75 * sent["none"], sent


def saved_rows(state: Path) -> int:
    """Rows a download's resume state says the file holds (0 before it has one)."""
    try:
        return sum(json.loads(state.read_text())["rows"])
    except FileNotFoundError:
        return 0


def kill_mid_download(home: Path, args: list[str], proxy: StallingProxy, state: Path) -> int:
    """Runs ``laker *args`` through ``proxy`` (which stalls it mid-download),
    SIGKILLs it once its resume state shows rows; returns those rows."""
    proc = subprocess.Popen([cli_binary(), *args, "--url", f"http://{proxy.addr}"],
                            env=cli_env(home, stored_token(home)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while saved_rows(state) == 0:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the download never saved progress"
            time.sleep(0.05)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proxy.close()
    assert proc.returncode == -9
    return saved_rows(state)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_get_resumes_after_the_process_was_killed(server, home, tmp_path, suffix):
    ok(laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="demo\n"))
    out = tmp_path / f"trips.{suffix}"
    state = Path(f"{out}.laker-resume")
    args = ["get", "demo.trips", "-c", "trip_id,fare", "-o", str(out)]
    kept = kill_mid_download(home, args, StallingProxy(server.addr, stall_after=8 << 20), state)
    assert 0 < kept < DEMO_ROWS

    result = ok(laker(home, *args, "--resume"))
    written = re.search(r"(\d+) rows written to .* \(resumed after ([\d,]+) rows\)", result.stderr)
    assert written, result.stderr
    assert int(written.group(1)) == DEMO_ROWS
    assert int(written.group(2).replace(",", "")) >= kept
    assert not state.exists() and not Path(f"{out}.laker-partial").exists()

    got = (pacsv.read_csv(out) if suffix == "csv" else pq.read_table(out)).sort_by("trip_id")
    expected_path = tmp_path / "expected.parquet"
    ok(laker(home, *args[:-1], str(expected_path)))
    expected = pq.read_table(expected_path).sort_by("trip_id")
    # Every row exactly once, with its own values.
    assert got.num_rows == DEMO_ROWS
    assert got["trip_id"].equals(expected["trip_id"])
    assert pc.max(pc.abs(pc.subtract(got["fare"], expected["fare"]))).as_py() < 1e-9


def test_resume_refuses_a_table_that_changed(server, delta_cli, tmp_path):
    home, table = delta_cli.home, f"{delta_cli.namespace}.numbers"
    rows = 400_000
    pq.write_table(pa.table({"id": pa.array(range(rows), pa.int64())}), tmp_path / "numbers.parquet")
    ok(laker(home, "put", table, str(tmp_path / "numbers.parquet"), "--mode", "create"))
    out = tmp_path / "numbers.csv"
    state = Path(f"{out}.laker-resume")
    args = ["get", table, "-o", str(out)]
    kept = kill_mid_download(home, args, StallingProxy(server.addr, stall_after=1 << 20), state)
    assert 0 < kept < rows

    pq.write_table(pa.table({"id": pa.array([rows], pa.int64())}), tmp_path / "one.parquet")
    ok(laker(home, "put", table, str(tmp_path / "one.parquet")))
    refused = one_line(laker(home, *args, "--resume"))
    assert f"{table} changed since the download started (table version 0, now 1)" in refused
    assert "run without --resume to start over" in refused
    assert state.exists()

    again = ok(laker(home, *args))
    assert "starting over" in again.stderr
    assert f"{rows + 1} rows written to {out} ({table} version 1)" in again.stderr
    assert sorted(pacsv.read_csv(out)["id"].to_pylist()) == list(range(rows + 1))
    assert not state.exists()


def test_resume_refuses_a_file_dataset_that_changed(server, delta_cli, tmp_path):
    """Files have no table version: the catalog revision, which a refresh
    bumps, tells a resumed download that the rows may differ."""
    home, table = delta_cli.home, f"{delta_cli.namespace}.files"
    rows = 400_000
    folder = server.data_dir / "lake" / f"{delta_cli.namespace}_files"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"id": pa.array(range(rows), pa.int64())}), folder / "part-0.parquet")
    ok(laker(home, "admin", "action", "register_dataset", json.dumps(
        {"name": table, "location": folder.as_uri() + "/", "format": "parquet"})))
    out = tmp_path / "files.csv"
    state = Path(f"{out}.laker-resume")
    args = ["get", table, "-o", str(out)]
    kept = kill_mid_download(home, args, StallingProxy(server.addr, stall_after=1 << 20), state)
    assert 0 < kept < rows
    revision = json.loads(state.read_text())["revision"]
    assert isinstance(revision, int), state.read_text()

    # Other rows, as many, in one file as before: only the revision differs.
    pq.write_table(pa.table({"id": pa.array(range(rows, 2 * rows), pa.int64())}),
                   folder / "part-0.parquet")
    ok(laker(home, "admin", "action", "refresh_dataset", json.dumps({"name": table})))
    refused = one_line(laker(home, *args, "--resume"))
    assert (f"{table} changed since the download started (catalog revision {revision}, now "
            f"{revision + 1})") in refused, refused
    assert "run without --resume to start over" in refused
    assert state.exists()

    again = ok(laker(home, *args))
    assert "starting over" in again.stderr
    assert sorted(pacsv.read_csv(out)["id"].to_pylist()) == list(range(rows, 2 * rows))
    assert not state.exists()


def test_progress_bar_in_a_terminal(server, home, tmp_path):
    """Rows, bytes, rates and ETA drawn on a real pseudo-terminal while a
    download is held mid-way; then it completes."""
    ok(laker(home, "login", f"http://{server.addr}", "--as", "demo", stdin="demo\n"))
    proxy = StallingProxy(server.addr, stall_after=8 << 20)
    master, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    out = tmp_path / "trips.parquet"
    proc = subprocess.Popen(
        [cli_binary(), "get", "demo.trips", "-c", "trip_id,fare", "-o", str(out),
         "--url", f"http://{proxy.addr}"],
        env=cli_env(home, {"TERM": "xterm-256color", **stored_token(home)}),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    screen = b""
    frame = re.compile(r"[\d,]+/2,000,000 rows · [\d.]+ (KiB|MiB|GiB) · [\d.]+ (B|KiB|MiB|GiB)/s · "
                       r"[\d,.]+[kMG]?/s · ETA \S+")

    def text() -> str:
        # Without the terminal's control sequences.
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode("utf-8", "replace"))

    try:
        deadline = time.monotonic() + 120
        while not frame.search(text()):
            assert time.monotonic() < deadline, text()[-2000:]
            assert proc.poll() is None, text()[-2000:]
            if select.select([master], [], [], 0.5)[0]:
                screen += os.read(master, 65536)
        proxy.release()
        while True:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the process closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=120) == 0, text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        proxy.close()
        os.close(master)
    assert f"{DEMO_ROWS} rows written to {out}" in text()
    assert pq.read_table(out).num_rows == DEMO_ROWS


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
    # Each says what went wrong on one line, and what to do where it can.
    for result in (missing, bad_filter, bad_ext, denied, unreachable):
        one_line(result)
    assert "laker ls" in one_line(laker(home, "describe", "demo.nope"))
    assert "use http://HOST:PORT" in one_line(laker(home, "ls", "--url", "127.0.0.1:9"))
    assert "need a TLS URL" in one_line(
        laker(home, "ls", "--url", f"http://{server.addr}", "--ca-cert", str(tmp_path / "ca.pem")))
