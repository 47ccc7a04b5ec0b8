"""TLS and client certificates, with a real pyarrow client over
``grpc+tls://`` and certificates generated here."""

from __future__ import annotations

import pyarrow.flight as fl
import pytest

from conftest import start_server, stop_server
from pki import CA


@pytest.fixture(scope="module")
def pki():
    return {"ca": CA("Laker Test CA"), "rogue": CA("Rogue CA")}


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, pki):
    data_dir = tmp_path_factory.mktemp("laker-tls")
    cert, key = pki["ca"].issue("localhost", server=True)
    (data_dir / "server.pem").write_bytes(cert)
    (data_dir / "server.key").write_bytes(key)
    (data_dir / "clients-ca.pem").write_bytes(pki["ca"].pem)
    s = start_server(
        data_dir,
        "--tls-cert", str(data_dir / "server.pem"),
        "--tls-key", str(data_dir / "server.key"),
        "--tls-client-ca", str(data_dir / "clients-ca.pem"),
    )
    yield s
    stop_server(s)


def tls_url(server) -> str:
    return f"grpc+tls://{server.addr}"


def test_password_login_over_tls(tls_server, pki):
    client = fl.FlightClient(tls_url(tls_server), tls_root_certs=pki["ca"].pem)
    opts = fl.FlightCallOptions(headers=[client.authenticate_basic_token("demo", "demo")])
    info = client.get_flight_info(fl.FlightDescriptor.for_path("demo", "zones"), options=opts)
    assert client.do_get(info.endpoints[0].ticket, options=opts).read_all().num_rows == 60
    client.close()


def test_client_certificate_authenticates_its_common_name(tls_server, pki):
    cert, key = pki["ca"].issue("demo", server=False)
    client = fl.FlightClient(tls_url(tls_server), tls_root_certs=pki["ca"].pem,
                             cert_chain=cert, private_key=key)
    # No handshake, no token: the certificate is the credential.
    names = sorted(tuple(i.descriptor.path) for i in client.list_flights())
    assert names == [(b"demo", b"trips"), (b"demo", b"zones")]
    info = client.get_flight_info(fl.FlightDescriptor.for_path("demo", "zones"))
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 60
    client.close()


def test_certificate_of_an_unknown_user_is_refused(tls_server, pki):
    cert, key = pki["ca"].issue("mallory", server=False)
    client = fl.FlightClient(tls_url(tls_server), tls_root_certs=pki["ca"].pem,
                             cert_chain=cert, private_key=key)
    with pytest.raises(fl.FlightUnauthenticatedError, match="can no longer log in"):
        list(client.list_flights())
    client.close()


def test_certificate_from_another_ca_is_refused(tls_server, pki):
    cert, key = pki["rogue"].issue("demo", server=False)
    client = fl.FlightClient(tls_url(tls_server), tls_root_certs=pki["ca"].pem,
                             cert_chain=cert, private_key=key)
    with pytest.raises(fl.FlightError):
        list(client.list_flights(options=fl.FlightCallOptions(timeout=20)))
    client.close()


def test_no_certificate_and_no_token_is_refused(tls_server, pki):
    client = fl.FlightClient(tls_url(tls_server), tls_root_certs=pki["ca"].pem)
    with pytest.raises(fl.FlightUnauthenticatedError):
        list(client.list_flights())
    client.close()


def test_plaintext_clients_cannot_talk_to_a_tls_server(tls_server):
    client = fl.FlightClient(f"grpc://{tls_server.addr}")
    with pytest.raises(fl.FlightError):
        client.authenticate_basic_token("demo", "demo", options=fl.FlightCallOptions(timeout=20))
    client.close()


def test_http_api_and_console_over_tls(tls_server, pki, tmp_path):
    """The HTTP port serves HTTPS with the server's certificate: the session
    cookies are marked Secure, the token works, and plain HTTP is not served."""
    import requests

    ca = tmp_path / "ca.pem"
    ca.write_bytes(pki["ca"].pem)
    base = f"https://{tls_server.http_addr}"
    r = requests.post(f"{base}/api/v1/login", json={"user": "demo", "password": "demo"},
                      verify=str(ca), timeout=30)
    assert r.status_code == 200, r.text
    cookies = r.headers["Set-Cookie"]
    assert "laker_session=" in cookies and "HttpOnly" in cookies
    assert cookies.count("Secure") == 2, cookies
    token = r.json()["token"]
    me = requests.get(f"{base}/api/v1/session", headers={"Authorization": f"Bearer {token}"},
                      verify=str(ca), timeout=30)
    assert me.status_code == 200 and me.json()["user"] == "demo"
    assert me.json()["flight_url"] == f"grpc+tls://{tls_server.addr}"
    page = requests.get(f"{base}/", verify=str(ca), timeout=30)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    # A client that does not trust the CA is refused at the handshake.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/healthz", timeout=30)
    # Plain HTTP on the TLS port gets no answer.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://{tls_server.http_addr}/healthz", timeout=10)
