"""Starts a real laker-server (``--demo``) on 127.0.0.1:0 for the Python tests.

The server's JSON log lines are collected by a reader thread; the fixture
waits for the ``listening`` event (readiness), never for a fixed time. The
HTTP port (API, console, health) listens on 127.0.0.1:0 too unless a test
passes its own ``--http-listen``.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

import pyarrow.flight as fl
import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_ROWS = 2_000_000
START_TIMEOUT_S = 300


class Server:
    """A running laker-server process and its log."""

    def __init__(self, proc: subprocess.Popen, data_dir: Path):
        self.proc = proc
        self.data_dir = data_dir
        self.lines: "queue.Queue[dict]" = queue.Queue()
        self.log: list[dict] = []
        self.addr: str | None = None
        self._http_addr: str | None = None

    @property
    def url(self) -> str:
        return f"grpc://{self.addr}"

    @property
    def http_addr(self) -> str:
        """host:port of the HTTP port, from its ``listening`` log event."""
        if self._http_addr is None:
            event = self.events(_is_http_listening, timeout=10)
            self._http_addr = event["fields"]["addr"]
        return self._http_addr

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP port (plain HTTP: servers without TLS)."""
        return f"http://{self.http_addr}"

    def events(self, predicate, timeout: float = 30.0) -> dict:
        """Returns the first log event (past or future) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        for event in self.log:
            if predicate(event):
                return event
        while time.monotonic() < deadline:
            try:
                event = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.log.append(event)
            if predicate(event):
                return event
        raise AssertionError("no matching log event; last lines: %s" % self.log[-5:])


def _server_binary() -> str:
    explicit = os.environ.get("LAKER_SERVER_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return str(Path(target) / "debug" / "laker-server")


def cli_binary() -> str:
    """The ``laker`` command-line client built next to the server."""
    return str(Path(_server_binary()).with_name("laker"))


def _is_http_listening(event: dict) -> bool:
    fields = event.get("fields", {})
    message = fields.get("message", "")
    return message.startswith("HTTP") and "listening" in message and "addr" in fields


def _pump(stream, sink: "queue.Queue[dict]") -> None:
    for line in stream:
        line = line.strip()
        if not line:
            continue
        try:
            sink.put(json.loads(line))
        except json.JSONDecodeError:
            sink.put({"raw": line})


def start_server(data_dir: Path, *extra: str, demo: bool = True) -> Server:
    """Starts laker-server on 127.0.0.1:0 with ``extra`` flags; returns once
    it logged ``listening``."""
    args = [
        _server_binary(),
        "--listen", "127.0.0.1:0",
        "--data-dir", str(data_dir),
        "--log-format", "json",
        *extra,
    ]
    if "--http-listen" not in extra:
        args += ["--http-listen", "127.0.0.1:0"]
    if demo:
        args += ["--demo", "--demo-rows", str(DEMO_ROWS)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    s = Server(proc, data_dir)
    threading.Thread(target=_pump, args=(proc.stderr, s.lines), daemon=True).start()
    try:
        ready = s.events(
            lambda e: e.get("fields", {}).get("message") == "listening", timeout=START_TIMEOUT_S
        )
    except BaseException:
        stop_server(s)
        raise
    s.addr = ready["fields"]["addr"]
    return s


def stop_server(s: Server) -> None:
    s.proc.terminate()
    try:
        s.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        s.proc.kill()


ADMIN_PASSWORD = "admin-password-for-tests"


def create_admin(data_dir: Path, name: str = "admin") -> None:
    """Runs ``laker-server catalog create-admin`` on the server's catalog."""
    subprocess.run(
        [_server_binary(), "--data-dir", str(data_dir), "catalog", "create-admin", "--name", name],
        env={**os.environ, "LAKER_ADMIN_PASSWORD": ADMIN_PASSWORD},
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    s = start_server(tmp_path_factory.mktemp("laker-data"))
    try:
        yield s
    finally:
        stop_server(s)


@pytest.fixture(scope="session")
def http_url(server: Server) -> str:
    """Base URL of the shared server's HTTP port (``http://127.0.0.1:port``)."""
    return server.http_url


@pytest.fixture()
def client(server: Server) -> fl.FlightClient:
    c = fl.FlightClient(server.url)
    yield c
    c.close()


@pytest.fixture()
def opts(client: fl.FlightClient) -> fl.FlightCallOptions:
    header = client.authenticate_basic_token("demo", "demo")
    return fl.FlightCallOptions(headers=[header])
