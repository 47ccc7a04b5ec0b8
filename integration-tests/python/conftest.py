"""Starts a real laker-server (``--demo``) on 127.0.0.1:0 for the Python tests.

The server's JSON log lines are collected by a reader thread; the fixture
waits for the ``listening`` event (readiness), never for a fixed time. The
HTTP port (API, console, health) listens on 127.0.0.1:0 too unless a test
passes its own ``--http-listen``.

``moto`` (fixture) or ``start_moto`` starts a real S3-compatible server
(moto, from this Python's ``moto[server]``, through ``serial_moto.py``: one
request at a time, so its conditional writes are atomic as S3's are) on a
free loopback port, ready once it accepts connections.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import socket
import subprocess
import sys
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


MOTO_ACCESS_KEY_ID = "laker-test"
MOTO_SECRET_ACCESS_KEY = "laker-test-secret"
MOTO_START_TIMEOUT_S = 60


class Moto:
    """A running moto_server (S3) on a loopback port; it accepts any keys."""

    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc = proc
        self.endpoint = f"http://127.0.0.1:{port}"

    def client(self):
        """A boto3 S3 client (boto3 comes with ``moto[server]``)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=MOTO_ACCESS_KEY_ID, aws_secret_access_key=MOTO_SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "path"}))

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)

    def keys(self, bucket: str, prefix: str) -> list[str]:
        """Every key in ``bucket`` under ``prefix``, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def store_config(self, name: str, url: str, secrets_dir: Path) -> str:
        """The ``[stores.<name>]`` table of a server config for ``url`` on this
        server, its keys in a credentials file written into ``secrets_dir``."""
        credentials = secrets_dir / f"{name}-s3-credentials.toml"
        credentials.write_text(
            f'access_key_id = "{MOTO_ACCESS_KEY_ID}"\n'
            f'secret_access_key = "{MOTO_SECRET_ACCESS_KEY}"\n')
        return (f'[stores.{name}]\nurl = "{url}"\nendpoint = "{self.endpoint}"\n'
                f'region = "us-east-1"\nallow_http = true\ncredentials_file = "{credentials}"\n')

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _require_moto() -> None:
    """Fails the test, saying how to get them, unless moto, boto3 and
    werkzeug (all installed with ``moto[server]``) are in this Python."""
    missing = [m for m in ("moto", "boto3", "werkzeug") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed in {sys.executable}; run scripts/test.sh "
                    "(it installs integration-tests/python/requirements.txt, with moto[server], "
                    "into the virtualenv)", pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> Moto:
    """Starts moto (``serial_moto.py``) on a free loopback port; returns once
    the port accepts connections."""
    _require_moto()
    script = str(Path(__file__).with_name("serial_moto.py"))
    binary = f"{sys.executable} {script}"
    port = _free_port()
    proc = subprocess.Popen([sys.executable, script, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + MOTO_START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Moto(proc, port)
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"{binary} exited with {proc.returncode} before listening")
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError(f"{binary} did not listen on port {port} "
                                     f"within {MOTO_START_TIMEOUT_S} s")
            time.sleep(0.05)


@pytest.fixture()
def moto() -> Moto:
    m = start_moto()
    try:
        yield m
    finally:
        m.stop()
