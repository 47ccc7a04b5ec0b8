"""`laker admin onboard`: one command gives a client everything it needs;
running it again changes nothing. The snippet it prints connects."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess

import pyarrow.flight as fl

from conftest import ADMIN_PASSWORD, cli_binary, create_admin


def laker(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [cli_binary(), "--url", f"http://{server.addr}", "--user", "admin",
         "--password", ADMIN_PASSWORD, *args],
        capture_output=True, text=True, timeout=120,
    )


def test_cli_onboards_a_client_once(server):
    create_admin(server.data_dir)
    first = laker(server, "admin", "onboard", "globex", "--read", "demo.zones")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    key = result["api_key"]
    assert key.startswith("lk_")
    assert result["created"] == ["namespace", "service_account", "grant", "grant", "grant", "api_key"]

    # The snippet, pointed at this server, connects with the new key.
    snippet = result["python"].replace("<laker-host>:50051", server.addr)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet, {})  # noqa: S102 (the server's own snippet, tested)
    assert printed.getvalue().split() == ["[b'demo',", "b'zones']"]

    client = fl.FlightClient(server.url)
    opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token("key", key)])
    info = client.get_flight_info(fl.FlightDescriptor.for_path("demo", "zones"), opts)
    assert client.do_get(info.endpoints[0].ticket, opts).read_all().num_rows == 60
    client.close()

    again = laker(server, "admin", "onboard", "globex", "--read", "demo.zones")
    assert again.returncode == 0, again.stderr
    repeated = json.loads(again.stdout)
    assert repeated["created"] == [] and repeated["api_key"] is None
    assert repeated["key_id"] == result["key_id"]


def test_cli_errors_fit_scripts(server):
    create_admin(server.data_dir)
    bad = laker(server, "admin", "onboard", "initech", "--read", "demo.nope")
    assert bad.returncode != 0
    assert bad.stdout == ""
    assert "NotFound" in bad.stderr and "demo.nope" in bad.stderr
    listed = laker(server, "admin", "action", "list_users")
    assert listed.returncode == 0, listed.stderr
    assert "initech" not in listed.stdout, "nothing was created"
