"""HTTP API authentication (docs/http-api.md): login and its cookies, API
keys as passwords, tokens shared with Flight, sessions, logout, CSRF,
login limits and expired sessions."""

from __future__ import annotations

import time
import uuid

import pyarrow.flight as fl
import pytest
import requests

from conftest import ADMIN_PASSWORD, create_admin, start_server, stop_server
from http_api import (  # noqa: F401 (admin_flight, demo: fixtures)
    PASSWORD, TIMEOUT, FlightAdmin, admin_flight, bearer, demo, login, problem, set_cookies,
    wait_for,
)

DEFAULT_TOKEN_TTL_S = 28800


def session(base: str, **kw) -> requests.Response:
    return requests.get(f"{base}/api/v1/session", timeout=TIMEOUT, **kw)


def test_login_answers_a_token_and_sets_both_cookies(http_url):
    before = time.time()
    r = login(http_url, "demo", "demo")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == "demo" and body["admin"] is False
    assert body["token"] and body["csrf_token"] and body["token"] != body["csrf_token"]
    assert before < body["expires_at"] <= time.time() + DEFAULT_TOKEN_TTL_S + 5
    cookies = set_cookies(r)
    token_cookie, csrf_cookie = cookies["laker_session"], cookies["laker_csrf"]
    assert token_cookie["value"] == body["token"]
    assert csrf_cookie["value"] == body["csrf_token"]
    assert "httponly" in token_cookie
    assert "httponly" not in csrf_cookie, "the page reads the CSRF cookie"
    for cookie in (token_cookie, csrf_cookie):
        assert cookie["samesite"].lower() == "strict"
        assert cookie["path"] == "/"
        assert "secure" not in cookie, "plain HTTP: no Secure flag"


def test_admin_login_says_admin(http_url, admin_flight):
    body = login(http_url, "admin", ADMIN_PASSWORD).json()
    assert body["user"] == "admin" and body["admin"] is True


def test_wrong_credentials_are_unauthenticated(http_url, admin_flight):
    name = admin_flight.new_user("httpwrong")
    for user in (name, "nobody_at_all"):
        body = problem(login(http_url, user, "not-the-password"), 401, "UNAUTHENTICATED")
        assert "invalid user name or password" in body["detail"]
    body = problem(requests.post(f"{http_url}/api/v1/login", json={"user": name},
                                 timeout=TIMEOUT), 400, "INVALID_ARGUMENT")
    assert "password" in body["detail"]


def test_an_api_key_works_as_the_password(http_url, admin_flight):
    account = f"httpsvc_{uuid.uuid4().hex[:8]}"
    admin_flight.action("create_service_account", {"name": account})
    admin_flight.action("grant", {"user": account, "pattern": "demo.zones", "action": "read"})
    key = admin_flight.action("create_api_key", {"principal": account})["api_key"]
    for user in (account, "key"):
        r = login(http_url, user, key)
        assert r.status_code == 200, r.text
        assert r.json()["user"] == account and r.json()["admin"] is False
        listed = requests.get(f"{http_url}/api/v1/datasets", timeout=TIMEOUT,
                              headers={"Authorization": f"Bearer {r.json()['token']}"})
        assert [d["name"] for d in listed.json()["datasets"]] == ["demo.zones"]


def test_api_tokens_work_on_flight_and_flight_tokens_on_the_api(server, http_url, demo):
    client = fl.FlightClient(server.url)
    try:
        paths = {tuple(f.descriptor.path) for f in client.list_flights(options=bearer(demo.token))}
        assert {(b"demo", b"trips"), (b"demo", b"zones")} <= paths
        name, value = client.authenticate_basic_token("demo", "demo")
    finally:
        client.close()
    assert name.lower() == b"authorization" and value.startswith(b"Bearer ")
    r = session(http_url, headers={"Authorization": value.decode()})
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "demo"


def test_session_with_the_cookie_and_without(http_url, demo):
    r = session(http_url, cookies={"laker_session": demo.token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == "demo" and body["admin"] is False
    assert body["expires_at"] == demo.login["expires_at"]
    assert body["csrf_token"]
    body = problem(session(http_url), 401, "UNAUTHENTICATED")
    assert body["detail"]


@pytest.mark.parametrize("cookie", ["garbage", "a.b.c", ""])
def test_a_garbage_cookie_is_unauthenticated(http_url, cookie):
    problem(session(http_url, cookies={"laker_session": cookie}), 401, "UNAUTHENTICATED")


def test_logout_ends_every_token_on_the_api_and_flight(server, http_url, admin_flight):
    name = admin_flight.new_user("httplogout", [{"pattern": "demo.*", "action": "read"}])
    client = fl.FlightClient(server.url)
    handshake = fl.FlightCallOptions(headers=[client.authenticate_basic_token(name, PASSWORD)])
    r = login(http_url, name, PASSWORD)
    token, csrf = r.json()["token"], r.json()["csrf_token"]
    cookies = {"laker_session": token, "laker_csrf": csrf}
    assert session(http_url, cookies=cookies).status_code == 200

    out = requests.post(f"{http_url}/api/v1/logout", cookies=cookies,
                        headers={"X-CSRF-Token": csrf}, timeout=TIMEOUT)
    assert out.status_code == 204, out.text
    assert out.content == b""
    cleared = set_cookies(out)
    for cookie in ("laker_session", "laker_csrf"):
        assert cleared[cookie]["value"] == "" or cleared[cookie].get("max-age") == "0"

    problem(session(http_url, cookies=cookies), 401, "UNAUTHENTICATED")
    problem(requests.get(f"{http_url}/api/v1/datasets", timeout=TIMEOUT,
                         headers={"Authorization": f"Bearer {token}"}), 401, "UNAUTHENTICATED")
    try:
        with pytest.raises(fl.FlightUnauthenticatedError, match="revoked"):
            list(client.list_flights(options=bearer(token)))
        with pytest.raises(fl.FlightUnauthenticatedError, match="revoked"):
            list(client.list_flights(options=handshake))
    finally:
        client.close()


def test_cookie_posts_need_the_csrf_token_and_bearer_posts_do_not(http_url, admin_flight):
    r = login(http_url, "admin", ADMIN_PASSWORD)
    token, csrf = r.json()["token"], r.json()["csrf_token"]
    cookies = {"laker_session": token, "laker_csrf": csrf}

    def list_users(**kw) -> requests.Response:
        return requests.post(f"{http_url}/api/v1/admin/actions/list_users", json={},
                             timeout=TIMEOUT, **kw)

    body = problem(list_users(cookies=cookies), 403, "CSRF")
    assert "X-CSRF-Token" in body["detail"]
    problem(list_users(cookies=cookies, headers={"X-CSRF-Token": "not-the-token"}), 403, "CSRF")
    problem(list_users(cookies={"laker_session": token}, headers={"X-CSRF-Token": csrf + "x"}),
            403, "CSRF")
    done = list_users(cookies=cookies, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200, done.text
    assert "admin" in {u["name"] for u in done.json()}
    # The value GET /session reports works as well.
    reported = session(http_url, cookies=cookies).json()["csrf_token"]
    assert list_users(cookies=cookies, headers={"X-CSRF-Token": reported}).status_code == 200
    # A bearer header needs none.
    assert list_users(headers={"Authorization": f"Bearer {token}"}).status_code == 200


# --- login limits and token expiry: a server of their own ---------------------

MAX_FAILURES = 3
LOCKOUT_S = 120
TOKEN_TTL_S = 5


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """A server without demo data, with short tokens and a tight per-user
    login limit; users ``locked`` and ``expiring`` exist."""
    data_dir = tmp_path_factory.mktemp("laker-http-tight")
    s = start_server(data_dir, "--login-max-failures", str(MAX_FAILURES),
                     "--login-max-failures-per-address", "100",
                     "--login-lockout-secs", str(LOCKOUT_S),
                     "--token-ttl-secs", str(TOKEN_TTL_S), demo=False)
    try:
        create_admin(data_dir)
        client = fl.FlightClient(s.url)
        admin = FlightAdmin(client, fl.FlightCallOptions(
            headers=[client.authenticate_basic_token("admin", ADMIN_PASSWORD)]))
        for name in ("locked", "expiring"):
            admin.action("create_user", {"name": name, "password": PASSWORD})
        client.close()
        yield s
    finally:
        stop_server(s)


def test_repeated_wrong_passwords_are_rate_limited(tight):
    for _ in range(MAX_FAILURES):
        problem(login(tight.http_url, "locked", "not-the-password"), 401, "UNAUTHENTICATED")
    # Refused before the password is looked at: the right one too.
    for password in ("not-the-password", PASSWORD):
        r = login(tight.http_url, "locked", password)
        body = problem(r, 429, "RESOURCE_EXHAUSTED")
        assert "too many failed logins" in body["detail"]
        assert 0 < int(r.headers["Retry-After"]) <= LOCKOUT_S
    # Other users are not locked out.
    assert login(tight.http_url, "expiring", PASSWORD).status_code == 200


def test_an_expired_session_cookie_is_unauthenticated(tight):
    r = login(tight.http_url, "expiring", PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_at"] <= time.time() + TOKEN_TTL_S + 1
    cookies = {"laker_session": body["token"]}
    assert session(tight.http_url, cookies=cookies).status_code == 200

    def refused():
        answer = session(tight.http_url, cookies=cookies)
        return [answer] if answer.status_code == 401 else None

    (expired,) = wait_for("the session to expire", refused, timeout=TOKEN_TTL_S + 30)
    assert time.time() >= body["expires_at"] - 1
    problem(expired, 401, "UNAUTHENTICATED")
