"""The ``laker`` package over TLS, against the server's TLS mode: a custom
CA (a file or PEM bytes), the system's roots by default, mutual TLS with a
client certificate alone, and plain :class:`laker.TLSError`\\ s for a CA or
host name that does not match."""

from __future__ import annotations

import pyarrow as pa
import pytest

import laker
from conftest import ADMIN_PASSWORD, create_admin, start_server, stop_server
from pki import CA

ANALYST = "tlsanalyst"
ANALYST_PASSWORD = "tls-analyst-password"


@pytest.fixture(scope="module")
def pki():
    return {"ca": CA("Laker Client TLS CA"), "rogue": CA("Rogue CA")}


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory, pki):
    path = tmp_path_factory.mktemp("client-tls-ca") / "ca.pem"
    path.write_bytes(pki["ca"].pem)
    return path


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, pki):
    """A TLS server trusting client certificates of the same CA, with a
    user who may read and write namespace ``tls``."""
    data_dir = tmp_path_factory.mktemp("laker-client-tls")
    cert, key = pki["ca"].issue("localhost", server=True)
    (data_dir / "server.pem").write_bytes(cert)
    (data_dir / "server.key").write_bytes(key)
    (data_dir / "clients-ca.pem").write_bytes(pki["ca"].pem)
    s = start_server(
        data_dir,
        "--tls-cert", str(data_dir / "server.pem"),
        "--tls-key", str(data_dir / "server.key"),
        "--tls-client-ca", str(data_dir / "clients-ca.pem"),
        demo=False,
    )
    try:
        create_admin(data_dir)
        with laker.connect(f"grpc+tls://{s.addr}", user="admin", password=ADMIN_PASSWORD,
                           ca_cert=pki["ca"].pem) as admin:
            admin.create_namespace("tls")
            admin.create_user(ANALYST, ANALYST_PASSWORD)
            for action in ("read", "write"):
                admin.grant("tls.*", action, user=ANALYST)
        yield s
    finally:
        stop_server(s)


def url(server) -> str:
    return f"grpc+tls://{server.addr}"


def test_a_custom_ca_as_a_file_or_as_bytes(tls_server, pki, ca_file):
    rows = pa.table({"id": pa.array([1, 2, 3], pa.int64())})
    with laker.connect(url(tls_server), ANALYST, ANALYST_PASSWORD, ca_cert=str(ca_file)) as lake:
        lake.upload("tls.numbers", rows, mode="create_replace")
        assert lake.download("tls.numbers", order_by=["id"])["id"].to_pylist() == [1, 2, 3]
    with laker.connect(url(tls_server), ANALYST, ANALYST_PASSWORD, ca_cert=pki["ca"].pem) as lake:
        assert lake.whoami().name == ANALYST
        assert [d.name for d in lake.datasets()] == ["tls.numbers"]


def test_the_system_roots_are_trusted_by_default(tls_server, ca_file, monkeypatch):
    # OpenSSL's SSL_CERT_FILE names the system bundle; here it holds the test CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with laker.connect(url(tls_server), ANALYST, ANALYST_PASSWORD) as lake:
        assert lake.whoami().name == ANALYST


def test_a_certificate_of_an_untrusted_ca_is_a_clear_error(tls_server, pki, tmp_path, monkeypatch):
    with pytest.raises(laker.TLSError, match="not signed by a CA this client trusts") as e:
        laker.connect(url(tls_server), ANALYST, ANALYST_PASSWORD, ca_cert=pki["rogue"].pem)
    assert e.value.reason == "untrusted_certificate"
    assert "ca_cert=" in str(e.value)
    assert isinstance(e.value, laker.Unavailable)
    # The system's roots do not hold the test CA either.
    rogue = tmp_path / "rogue.pem"
    rogue.write_bytes(pki["rogue"].pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(rogue))
    with pytest.raises(laker.TLSError, match="not signed by a CA this client trusts"):
        laker.connect(url(tls_server), ANALYST, ANALYST_PASSWORD)


def test_a_certificate_for_another_host_name_is_a_clear_error(tmp_path, pki):
    cert, key = pki["ca"].issue("db.internal", server=True, names=["db.internal"])
    (tmp_path / "server.pem").write_bytes(cert)
    (tmp_path / "server.key").write_bytes(key)
    s = start_server(tmp_path, "--tls-cert", str(tmp_path / "server.pem"),
                     "--tls-key", str(tmp_path / "server.key"), demo=False)
    try:
        with pytest.raises(laker.TLSError, match="does not name '127.0.0.1'") as e:
            laker.connect(url(s), "anyone", "any-password-at-all", ca_cert=pki["ca"].pem)
        assert e.value.reason == "name_mismatch"
    finally:
        stop_server(s)


def test_a_client_certificate_alone_authenticates(tls_server, pki):
    cert, key = pki["ca"].issue(ANALYST, server=False)
    with laker.connect(url(tls_server), ca_cert=pki["ca"].pem, client_cert=cert,
                       client_key=key) as lake:
        assert lake.whoami().name == ANALYST
        lake.upload("tls.numbers", pa.table({"id": pa.array([4], pa.int64())}))
        assert lake.download("tls.numbers", order_by=["id"])["id"].to_pylist() == [1, 2, 3, 4]


def test_client_certificates_that_cannot_work_are_refused(tls_server, pki, tmp_path):
    cert, key = pki["ca"].issue(ANALYST, server=False)
    _, other_key = pki["ca"].issue("someone", server=False)
    (tmp_path / "me.pem").write_bytes(cert)
    (tmp_path / "me.key").write_bytes(other_key)
    with pytest.raises(laker.TLSError, match="client_key does not belong to client_cert"):
        laker.connect(url(tls_server), ca_cert=pki["ca"].pem, client_cert=tmp_path / "me.pem",
                      client_key=tmp_path / "me.key")
    with pytest.raises(laker.InvalidSpec, match="client_cert and client_key go together"):
        laker.connect(url(tls_server), ca_cert=pki["ca"].pem, client_cert=cert)
    # Signed by a CA the server does not trust for clients: refused at the handshake
    # (a TLSError when the connection ends there, as it usually does).
    rogue_cert, rogue_key = pki["rogue"].issue(ANALYST, server=False)
    with pytest.raises(laker.LakerError):
        laker.connect(url(tls_server), ca_cert=pki["ca"].pem, client_cert=rogue_cert,
                      client_key=rogue_key)
    # A certificate of the right CA for a principal the catalog does not know.
    stranger_cert, stranger_key = pki["ca"].issue("mallory", server=False)
    with pytest.raises(laker.Unauthenticated):
        laker.connect(url(tls_server), ca_cert=pki["ca"].pem, client_cert=stranger_cert,
                      client_key=stranger_key)


def test_tls_settings_need_a_tls_url(server, tls_server, pki):
    with pytest.raises(laker.InvalidSpec, match="ca_cert needs a grpc\\+tls:// URL"):
        laker.connect(f"grpc://{tls_server.addr}", ANALYST, ANALYST_PASSWORD,
                      ca_cert=pki["ca"].pem)
    with pytest.raises(laker.InvalidSpec, match="not PEM"):
        laker.connect(url(tls_server), ANALYST, ANALYST_PASSWORD, ca_cert=b"not a certificate")
    with pytest.raises(laker.InvalidSpec, match="cannot read"):
        laker.connect(url(tls_server), ANALYST, ANALYST_PASSWORD, ca_cert="/no/such/ca.pem")
    # TLS to the plaintext test server: the handshake cannot succeed.
    with pytest.raises(laker.Unavailable):
        laker.connect(f"grpc+tls://{server.addr}", "demo", "demo", ca_cert=pki["ca"].pem)
