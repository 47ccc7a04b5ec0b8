"""An external identity provider in front of Laker: RS256/ES256 tokens
verified against a JWKS served on loopback, issuer/audience/expiry checks,
and a claim mapped to Laker roles; an issuer whose keys are found through
its OpenID Connect discovery document, and rotated. Keys are generated
here."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time

import jwt
import pyarrow as pa
import pyarrow.flight as fl
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import ADMIN_PASSWORD, create_admin, start_server, stop_server

ISSUER = "https://sso.example.test/realms/bank"
AUDIENCE = "laker"


def _b64(n: int, length: int | None = None) -> str:
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class IdP:
    """Keys, a JWKS endpoint on 127.0.0.1, and a token factory."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        rsa_pub = self.rsa.public_key().public_numbers()
        ec_pub = self.ec.public_key().public_numbers()
        body = json.dumps({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
             "n": _b64(rsa_pub.n), "e": _b64(rsa_pub.e)},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
             "x": _b64(ec_pub.x, 32), "y": _b64(ec_pub.y, 32)},
        ]}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

    def token(self, user="alice", roles=("laker-readers",), alg="RS256", kid=None, key=None,
              iss=ISSUER, aud=AUDIENCE, exp_in=300, **extra) -> str:
        now = int(time.time())
        claims = {"sub": user, "iss": iss, "aud": aud, "iat": now, "exp": now + exp_in,
                  "realm_access": {"roles": list(roles)}, **extra}
        if key is None:
            key = self.rsa if alg == "RS256" else self.ec
        kid = kid or ("rsa-1" if alg == "RS256" else "ec-1")
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def idp():
    p = IdP()
    yield p
    p.httpd.shutdown()


@pytest.fixture(scope="module")
def sso(tmp_path_factory, idp):
    data_dir = tmp_path_factory.mktemp("laker-sso")
    s = start_server(
        data_dir,
        "--jwt-issuer", ISSUER,
        "--jwt-audience", AUDIENCE,
        "--jwks-url", idp.jwks_url,
        "--jwt-roles-claim", "realm_access.roles",
        "--jwt-role-map", "laker-readers=zone_readers",
        "--jwt-attribute-claim", "department",
    )
    try:
        create_admin(data_dir)
        client = fl.FlightClient(s.url)
        admin = fl.FlightCallOptions(
            headers=[client.authenticate_basic_token("admin", ADMIN_PASSWORD)])
        for kind, body in [
            ("create_role", {"name": "zone_readers"}),
            ("grant", {"role": "zone_readers", "pattern": "demo.zones", "action": "read",
                       "row_filter": "city = principal_attribute('department')"}),
        ]:
            list(client.do_action(fl.Action(kind, json.dumps(body).encode()), options=admin))
        client.close()
        yield s
    finally:
        stop_server(s)


def bearer(token: str) -> fl.FlightCallOptions:
    return fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])


def zone_rows(server, token: str) -> list[dict]:
    client = fl.FlightClient(server.url)
    try:
        info = client.get_flight_info(fl.FlightDescriptor.for_path("demo", "zones"),
                                      options=bearer(token))
        tables = [client.do_get(e.ticket, options=bearer(token)).read_all()
                  for e in info.endpoints]
        return [row for t in tables for row in t.to_pylist()]
    finally:
        client.close()


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_provider_tokens_map_to_roles_and_attributes(sso, idp, alg):
    token = idp.token(alg=alg, department="Bergen")
    client = fl.FlightClient(sso.url)
    names = [tuple(i.descriptor.path) for i in client.list_flights(options=bearer(token))]
    client.close()
    assert names == [(b"demo", b"zones")]
    rows = zone_rows(sso, token)
    assert len(rows) == 12, "Bergen has 12 of the 60 zones"
    assert {r["city"] for r in rows} == {"Bergen"}


def test_a_token_without_the_role_sees_nothing(sso, idp):
    token = idp.token(roles=["someone-else"])
    client = fl.FlightClient(sso.url)
    assert list(client.list_flights(options=bearer(token))) == []
    with pytest.raises(pa.ArrowKeyError, match="dataset 'demo.zones' not found"):
        client.get_flight_info(fl.FlightDescriptor.for_path("demo", "zones"),
                               options=bearer(token))
    client.close()


@pytest.mark.parametrize("case", [
    "wrong_issuer", "wrong_audience", "expired", "tampered", "alg_none", "unknown_kid",
    "untrusted_key", "hs256_with_public_key",
])
def test_bad_tokens_are_unauthenticated(sso, idp, case):
    if case == "wrong_issuer":
        token = idp.token(iss="https://evil.example.test")
    elif case == "wrong_audience":
        token = idp.token(aud="someone-else")
    elif case == "expired":
        token = idp.token(exp_in=-3600)
    elif case == "tampered":
        head, payload, sig = idp.token().split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["realm_access"]["roles"].append("admin")
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        token = ".".join([head, payload, sig])
    elif case == "alg_none":
        token = jwt.encode({"sub": "alice", "iss": ISSUER, "aud": AUDIENCE,
                            "exp": int(time.time()) + 60}, None, algorithm="none")
    elif case == "unknown_kid":
        token = idp.token(kid="rotated-away")
    elif case == "untrusted_key":
        token = idp.token(key=idp.other)
    else:
        public_pem = idp.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        # Algorithm confusion: an HMAC "signed" with the provider's public key.
        head = base64.urlsafe_b64encode(
            json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(json.dumps(
            {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60,
             "realm_access": {"roles": ["laker-readers"]}}).encode()).rstrip(b"=")
        import hashlib
        import hmac
        sig = base64.urlsafe_b64encode(
            hmac.new(public_pem, head + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
        token = b".".join([head, body, sig]).decode()
    client = fl.FlightClient(sso.url)
    with pytest.raises(fl.FlightUnauthenticatedError):
        list(client.list_flights(options=bearer(token)))
    client.close()


def test_provider_principals_are_audited(sso, idp):
    zone_rows(sso, idp.token(user="bob", department="Oslo"))
    client = fl.FlightClient(sso.url)
    admin = fl.FlightCallOptions(
        headers=[client.authenticate_basic_token("admin", ADMIN_PASSWORD)])
    spec = {"dataset": "system.audit", "columns": ["principal", "action", "dataset", "outcome"],
            "filter": "principal = 'sso:bob'"}
    info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(spec)), options=admin)
    rows = [r for e in info.endpoints
            for r in client.do_get(e.ticket, options=admin).read_all().to_pylist()]
    client.close()
    assert [(r["action"], r["dataset"], r["outcome"]) for r in rows] == [
        ("GetFlightInfo", "demo.zones", "ok"),
        ("DoGet", "demo.zones", "ok"),
    ]


class DiscoveringIdP:
    """An OpenID provider on 127.0.0.1 known by its issuer URL alone: a
    discovery document naming its JWKS, whose keys can be rotated."""

    def __init__(self) -> None:
        self.keys = {"rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.published = ["rsa-1"]
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                if self.path == "/realms/bank/.well-known/openid-configuration":
                    body = {"issuer": idp.issuer, "jwks_uri": f"{idp.issuer}/certs",
                            "token_endpoint": f"{idp.issuer}/token"}
                elif self.path == "/realms/bank/certs":
                    body = {"keys": [idp.jwk(kid) for kid in idp.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}/realms/bank"

    def jwk(self, kid: str) -> dict:
        public = self.keys[kid].public_key().public_numbers()
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": _b64(public.n), "e": _b64(public.e)}

    def rotate(self) -> str:
        """Publishes a new key beside the old one; returns its id."""
        kid = f"rsa-{len(self.keys) + 1}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published.append(kid)
        return kid

    def token(self, kid: str) -> str:
        now = int(time.time())
        claims = {"sub": "carol", "iss": self.issuer, "aud": AUDIENCE, "iat": now,
                  "exp": now + 300, "roles": []}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})


def keys_loaded(count: int):
    """Matches the log event of the server loading `count` provider keys."""
    def predicate(event: dict) -> bool:
        fields = event.get("fields", {})
        return (fields.get("message") == "identity provider keys loaded"
                and fields.get("keys") == count)
    return predicate


def test_an_issuer_alone_finds_its_keys_and_a_rotated_key_after_a_refresh(tmp_path):
    provider = DiscoveringIdP()
    s = start_server(tmp_path, "--jwt-issuer", provider.issuer, "--jwt-audience", AUDIENCE)
    try:
        s.events(keys_loaded(1))
        client = fl.FlightClient(s.url)
        # A token of the published key is accepted (it maps to no role).
        assert list(client.list_flights(options=bearer(provider.token("rsa-1")))) == []
        # The provider rotates: the server still holds the old key only.
        rotated = provider.token(provider.rotate())
        with pytest.raises(fl.FlightUnauthenticatedError, match="does not publish"):
            list(client.list_flights(options=bearer(rotated)))
        # That unknown key id made the server look again; then it is accepted.
        s.events(keys_loaded(2))
        assert list(client.list_flights(options=bearer(rotated))) == []
        assert list(client.list_flights(options=bearer(provider.token("rsa-1")))) == []
        client.close()
    finally:
        stop_server(s)
        provider.httpd.shutdown()
