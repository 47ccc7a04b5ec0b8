"""The ``laker`` CLI against the server's TLS mode, with certificates made
here (``test_tls.CA``): a custom CA, the stored login keeping it, mutual TLS
with a client certificate alone, and one clear line for a CA or name that
does not match."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from conftest import start_server, stop_server
from test_cli import laker, ok, one_line
from pki import CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """PEM files: the server's CA, a rogue CA, and client certificates."""
    ca, rogue = CA("Laker CLI Test CA"), CA("Rogue CA")
    d = tmp_path_factory.mktemp("cli-pki")
    files = {}

    def write(name: str, data: bytes) -> None:
        (d / name).write_bytes(data)
        files[name] = d / name

    write("ca.pem", ca.pem)
    write("rogue.pem", rogue.pem)
    server_cert, server_key = ca.issue("localhost", server=True)
    write("server.pem", server_cert)
    write("server.key", server_key)
    demo_cert, demo_key = ca.issue("demo", server=False)
    write("demo.pem", demo_cert)
    write("demo.key", demo_key)
    rogue_cert, rogue_key = rogue.issue("demo", server=False)
    write("rogue-demo.pem", rogue_cert)
    write("rogue-demo.key", rogue_key)
    return files


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, pki):
    data_dir = tmp_path_factory.mktemp("laker-cli-tls")
    s = start_server(
        data_dir,
        "--tls-cert", str(pki["server.pem"]),
        "--tls-key", str(pki["server.key"]),
        "--tls-client-ca", str(pki["ca.pem"]),
    )
    yield s
    stop_server(s)


def test_login_over_tls_with_a_custom_ca_is_remembered(tls_server, pki, tmp_path):
    home = tmp_path / "config"
    url = f"grpc+tls://{tls_server.addr}"
    ok(laker(home, "login", url, "--as", "demo", "--ca-cert", str(pki["ca.pem"]), stdin="demo\n"))
    # Later commands use the stored server and CA.
    listed = ok(laker(home, "ls")).stdout
    assert "demo.zones" in [line.split()[0] for line in listed.splitlines()]
    out = tmp_path / "zones.csv"
    assert "60 rows written" in ok(laker(home, "get", "demo.zones", "-o", str(out))).stderr
    assert pacsv.read_csv(out).num_rows == 60
    # https:// is the same as grpc+tls://.
    https = ok(laker(home, "describe", "demo.zones", "--url", f"https://{tls_server.addr}",
                     "--ca-cert", str(pki["ca.pem"]))).stdout
    assert https.startswith("demo.zones\n")


def test_the_system_roots_are_trusted_without_a_ca_option(tls_server, pki, tmp_path):
    # SSL_CERT_FILE names the system bundle (as OpenSSL reads it); here it
    # holds the test CA, so no --ca-cert is needed.
    home = tmp_path / "config"
    system = {"SSL_CERT_FILE": str(pki["ca.pem"])}
    url = f"grpc+tls://{tls_server.addr}"
    ok(laker(home, "login", url, "--as", "demo", stdin="demo\n", env=system))
    listed = ok(laker(home, "ls", env=system)).stdout
    assert "demo.zones" in [line.split()[0] for line in listed.splitlines()]
    # Without it, the same server is one clear line about its certificate.
    refused = one_line(laker(tmp_path / "other", "login", url, "--as", "demo", stdin="demo\n"))
    assert "certificate" in refused.lower(), refused


def test_a_ca_that_did_not_sign_the_server_is_one_clear_line(tls_server, pki, tmp_path):
    home = tmp_path / "config"
    url = f"grpc+tls://{tls_server.addr}"
    rogue = one_line(laker(home, "login", url, "--as", "demo", "--ca-cert", str(pki["rogue.pem"]),
                           stdin="demo\n"))
    assert rogue == (f"laker: the certificate of {url} is not trusted by --ca-cert {pki['rogue.pem']}: "
                     "check that --ca-cert is the CA that signed the server's certificate")
    system = one_line(laker(home, "login", url, "--as", "demo", stdin="demo\n"))
    # (A system without any CA certificate says so instead.)
    assert system in (f"laker: the certificate of {url} is not trusted by this system's CAs: "
                      "pass the server's CA with --ca-cert FILE",
                      "laker: this system has no trusted CA certificates: pass the server's CA "
                      "with --ca-cert FILE")
    assert not (home / "credentials.json").exists()


def test_a_certificate_for_another_name_is_one_clear_line(tls_server, pki, tmp_path):
    home = tmp_path / "config"
    url = f"grpc+tls://{tls_server.addr}"
    wrong = one_line(laker(home, "login", url, "--as", "demo", "--ca-cert", str(pki["ca.pem"]),
                           "--tls-name", "laker.example.com", stdin="demo\n"))
    assert wrong.startswith(f"laker: the certificate of {url} is for another name (")
    assert "laker.example.com" in wrong and wrong.endswith("or pass --tls-name NAME")
    # The name the certificate is for works.
    ok(laker(home, "login", url, "--as", "demo", "--ca-cert", str(pki["ca.pem"]),
             "--tls-name", "localhost", stdin="demo\n"))


def test_a_client_certificate_alone_authenticates(tls_server, pki, tmp_path):
    home = tmp_path / "config"
    mtls = ["--url", f"grpc+tls://{tls_server.addr}", "--ca-cert", str(pki["ca.pem"]),
            "--client-cert", str(pki["demo.pem"]), "--client-key", str(pki["demo.key"])]
    # No login, no token: the certificate's CN names the user.
    listed = ok(laker(home, "ls", *mtls)).stdout
    names = sorted(line.split()[0] for line in listed.splitlines()[1:])
    assert names == ["demo.trips", "demo.zones"]
    out = tmp_path / "zones.parquet"
    assert "60 rows written" in ok(laker(home, "get", "demo.zones", "-o", str(out), *mtls)).stderr
    # A key without its certificate is refused before connecting.
    half = one_line(laker(home, "ls", *mtls[:4], "--client-key", str(pki["demo.key"])))
    assert "--client-cert and --client-key go together" in half
    # Without a certificate or a login there is nothing to authenticate with.
    assert "not logged in" in one_line(laker(home, "ls", *mtls[:4]))


def test_a_client_certificate_from_another_ca_is_refused(tls_server, pki, tmp_path):
    home = tmp_path / "config"
    refused = laker(home, "ls", "--url", f"grpc+tls://{tls_server.addr}", "--ca-cert", str(pki["ca.pem"]),
                    "--client-cert", str(pki["rogue-demo.pem"]), "--client-key", str(pki["rogue-demo.key"]))
    assert refused.returncode != 0 and refused.stdout == ""
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
