"""Directory sign-in: laker-server against a real OpenLDAP (a private slapd
that ``scripts/ldap.sh`` sets up and seeds: alice in sales and in group
``analysts``, itself in ``data-team``; bob in eng and ``engineers``; carol in
no group). Logins through pyarrow.flight, ADBC and the HTTP API; groups
mapped to roles whose grants hold a row filter on the directory's
``departmentNumber``; a membership change seen once the cache expires; the
directory stopped, or presented with the wrong CA; injection attempts in
user names; wrong passwords counted by the login limiter."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as fl
import pytest
import requests

from conftest import ADMIN_PASSWORD, REPO, create_admin, start_server, stop_server

LDAP_SH = REPO / "scripts" / "ldap.sh"
MAX_FAILURES = 3
TIMEOUT = 60

# staff.people as the admin sees it: (name, department, salary).
PEOPLE = [("ann", "sales", 100), ("sam", "sales", 110), ("eve", "eng", 120),
          ("ed", "eng", 130), ("hal", "hr", 140)]
SALES = ["ann", "sam"]
ENG = ["ed", "eve"]


class Directory:
    """A private slapd started by scripts/ldap.sh in ``path``."""

    def __init__(self, path: Path):
        self.path = path
        self.env: dict[str, str] = {}
        self.start()

    def start(self) -> None:
        done = subprocess.run([str(LDAP_SH), "start", str(self.path)], check=True,
                              capture_output=True, text=True, timeout=600)
        self.env = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

    def stop(self) -> None:
        subprocess.run([str(LDAP_SH), "stop", str(self.path)], check=True,
                       capture_output=True, text=True, timeout=120)

    def __getitem__(self, key: str) -> str:
        return self.env[key]

    def dn(self, rdn: str) -> str:
        return f"{rdn},{self['LDAP_BASE']}"

    def modify(self, ldif: str) -> None:
        subprocess.run(
            ["ldapmodify", "-x", "-ZZ", "-H", self["LDAP_URL"], "-D", self["LDAP_ADMIN_DN"],
             "-w", self["LDAP_ADMIN_PASSWORD"]],
            input=ldif, check=True, capture_output=True, text=True, timeout=TIMEOUT,
            env={**os.environ, "LDAPTLS_CACERT": self["LDAP_CA"], "LDAPTLS_REQCERT": "demand"})

    def move(self, uid: str, from_group: str, to_group: str) -> None:
        member = self.dn(f"uid={uid},ou=people")
        self.modify(
            f"dn: {self.dn(f'cn={from_group},ou=groups')}\nchangetype: modify\n"
            f"delete: member\nmember: {member}\n\n"
            f"dn: {self.dn(f'cn={to_group},ou=groups')}\nchangetype: modify\n"
            f"add: member\nmember: {member}\n")


def group_roles(d: Directory) -> list[str]:
    args = []
    for group, role in [("analysts", "analyst"), ("engineers", "engineer"),
                        ("data-team", "data_team")]:
        args += ["--ldap-group-role", f"{d.dn(f'cn={group},ou=groups')}={role}"]
    return args


def wait_until(what: str, probe, timeout: float = TIMEOUT):
    """Calls ``probe`` until it returns something truthy (returned)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def action(client: fl.FlightClient, opts: fl.FlightCallOptions, kind: str, body: dict) -> None:
    list(client.do_action(fl.Action(kind, json.dumps(body).encode()), options=opts))


def admin_client(server) -> tuple[fl.FlightClient, tuple[bytes, bytes]]:
    """A client and the admin's ``authorization`` header."""
    client = fl.FlightClient(server.url)
    return client, client.authenticate_basic_token("admin", ADMIN_PASSWORD)


def prepare(server) -> None:
    """The admin, staff.people and staff.projects, and the roles directory
    groups map to: analysts read their own department's people, engineers
    the eng people, the data team (nested: analysts are in it) the projects."""
    create_admin(server.data_dir)
    client, token = admin_client(server)
    admin = fl.FlightCallOptions(headers=[token])
    for kind, body in [
        ("create_namespace", {"name": "staff"}),
        ("grant", {"user": "admin", "pattern": "staff.*", "action": "write"}),
        ("create_role", {"name": "analyst"}),
        ("create_role", {"name": "engineer"}),
        ("create_role", {"name": "data_team"}),
    ]:
        action(client, admin, kind, body)
    people = pa.table({"name": [p[0] for p in PEOPLE], "department": [p[1] for p in PEOPLE],
                       "salary": pa.array([p[2] for p in PEOPLE], pa.int64())})
    projects = pa.table({"project": ["atlas", "borealis"]})
    for name, table in [("people", people), ("projects", projects)]:
        headers = [token, (b"x-laker-upload-mode", b"create")]
        writer, results = client.do_put(fl.FlightDescriptor.for_path("staff", name), table.schema,
                                        options=fl.FlightCallOptions(headers=headers))
        writer.write_table(table)
        writer.done_writing()
        results.read()
        writer.close()
    for body in [
        {"role": "analyst", "pattern": "staff.people", "action": "read",
         "row_filter": "department = principal_attribute('department')"},
        {"role": "engineer", "pattern": "staff.people", "action": "read",
         "row_filter": "department = 'eng'"},
        {"role": "data_team", "pattern": "staff.projects", "action": "read"},
    ]:
        action(client, admin, "grant", body)
    client.close()


def rows(client: fl.FlightClient, opts: fl.FlightCallOptions, dataset: str) -> list[dict]:
    spec = {"dataset": dataset}
    info = client.get_flight_info(fl.FlightDescriptor.for_command(json.dumps(spec)), options=opts)
    return [r for e in info.endpoints
            for r in client.do_get(e.ticket, options=opts).read_all().to_pylist()]


def names(client: fl.FlightClient, opts: fl.FlightCallOptions) -> list[str]:
    return sorted(r["name"] for r in rows(client, opts, "staff.people"))


def names_now(client: fl.FlightClient, opts: fl.FlightCallOptions) -> list[str] | None:
    """``names``, or None while the caller may read none of them (between
    the two halves of a move)."""
    try:
        return names(client, opts)
    except pa.ArrowKeyError:
        return None


def login(server, user: str, password: str) -> fl.FlightCallOptions:
    client = fl.FlightClient(server.url)
    try:
        return fl.FlightCallOptions(headers=[client.authenticate_basic_token(user, password)])
    finally:
        client.close()


def http_login(server, user: str, password: str) -> requests.Response:
    return requests.post(f"{server.http_url}/api/v1/login",
                         json={"user": user, "password": password}, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    d = Directory(tmp_path_factory.mktemp("ldap"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def laker(tmp_path_factory, directory):
    """StartTLS, search-then-bind as the service account, groups from
    memberOf (nested two levels), a one-second cache."""
    d = directory
    s = start_server(
        tmp_path_factory.mktemp("laker-ldap"),
        "--ldap-url", d["LDAP_URL"], "--ldap-starttls", "true", "--ldap-ca-cert", d["LDAP_CA"],
        "--ldap-search-base", d.dn("ou=people"),
        "--ldap-user-filter", "(&(objectClass=inetOrgPerson)(uid={user}))",
        "--ldap-service-dn", d["LDAP_SERVICE_DN"],
        "--ldap-service-password-file", d["LDAP_SERVICE_PASSWORD_FILE"],
        "--ldap-nested-groups", "2",
        *group_roles(d),
        "--ldap-attribute", "departmentNumber=department",
        "--ldap-cache-secs", "1",
        "--ldap-timeout-secs", "5", "--ldap-connect-timeout-secs", "5",
        "--login-max-failures", str(MAX_FAILURES),
        "--login-max-failures-per-address", "1000",
        demo=False,
    )
    try:
        prepare(s)
        yield s
    finally:
        stop_server(s)


def test_pyarrow_login_groups_roles_and_a_row_filter_on_the_department(laker):
    client = fl.FlightClient(laker.url)
    alice = login(laker, "alice", "alice-password")
    assert names(client, alice) == SALES, "analyst: her own department (sales)"
    bob = login(laker, "Bob", "bob-password")
    assert names(client, bob) == ENG, "engineer; the name is matched case-insensitively"
    # Nested: analysts are members of data-team.
    assert [r["project"] for r in rows(client, alice, "staff.projects")] == ["atlas", "borealis"]
    with pytest.raises(pa.ArrowKeyError, match="not found"):
        rows(client, bob, "staff.projects")
    carol = login(laker, "carol", "carol-password")
    assert list(client.list_flights(options=carol)) == [], "no group, no role, nothing"
    client.close()


def test_adbc_flight_sql_login(laker):
    with flight_sql.connect(laker.url, db_kwargs={"username": "alice", "password": "alice-password"},
                            autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, department FROM staff.people ORDER BY name")
        table = cur.fetch_arrow_table()
    assert table.column("name").to_pylist() == SALES
    assert set(table.column("department").to_pylist()) == {"sales"}
    with pytest.raises(adbc_driver_manager.Error):
        flight_sql.connect(laker.url, db_kwargs={"username": "bob", "password": "wrong"},
                           autocommit=True).cursor().execute("SELECT 1")


def test_http_api_login_session_and_logout(laker):
    r = http_login(laker, "alice", "alice-password")
    assert r.status_code == 200, r.text
    assert r.json()["user"] == "ldap:alice"
    bearer = {"Authorization": f"Bearer {r.json()['token']}"}
    session = requests.get(f"{laker.http_url}/api/v1/session", headers=bearer, timeout=TIMEOUT)
    assert session.status_code == 200 and session.json()["user"] == "ldap:alice"
    wrong = http_login(laker, "alice", "not-her-password")
    assert wrong.status_code == 401 and wrong.json()["code"] == "UNAUTHENTICATED"
    out = requests.post(f"{laker.http_url}/api/v1/logout", headers=bearer, timeout=TIMEOUT)
    assert out.status_code == 204, out.text
    after = requests.get(f"{laker.http_url}/api/v1/session", headers=bearer, timeout=TIMEOUT)
    assert after.status_code == 401 and "signed out" in after.json()["detail"]
    assert http_login(laker, "alice", "alice-password").status_code == 200, "a new session"


@pytest.mark.parametrize("name", [
    "*", "al*", "*ice", ")(uid=*", "admin)(|(uid=*", "alice)(uid=alice", "alice,ou=people",
    "a" * 300,
])
def test_injection_in_the_user_name_is_refused(laker, name):
    client = fl.FlightClient(laker.url)
    with pytest.raises(fl.FlightUnauthenticatedError, match="invalid user name or password"):
        client.authenticate_basic_token(name, "alice-password")
    client.close()


@pytest.mark.parametrize("name", ["alice\u0000", "ali\nce", "alice\u0000)(uid=*", "\u0007"])
def test_control_characters_in_the_user_name_are_refused(laker, name):
    r = http_login(laker, name, "alice-password")
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "UNAUTHENTICATED"


def test_empty_password_is_never_a_login(laker):
    client = fl.FlightClient(laker.url)
    with pytest.raises(fl.FlightUnauthenticatedError):
        client.authenticate_basic_token("alice", "")
    client.close()


def test_wrong_passwords_are_unauthenticated_and_counted(laker):
    client = fl.FlightClient(laker.url)
    for _ in range(MAX_FAILURES):
        with pytest.raises(fl.FlightUnauthenticatedError, match="invalid user name or password"):
            client.authenticate_basic_token("carol", "not-the-password")
    client.close()
    # The limiter refuses before the directory is asked: the right password too.
    r = http_login(laker, "carol", "carol-password")
    assert r.status_code == 429, r.text
    assert "too many failed logins for user 'carol'" in r.json()["detail"]


def test_a_moved_user_gets_the_new_rights_once_the_cache_expires(laker, directory):
    client = fl.FlightClient(laker.url)
    alice = login(laker, "alice", "alice-password")
    assert names(client, alice) == SALES
    directory.move("alice", "analysts", "engineers")
    try:
        # The same session: memberships are looked up again once a second old.
        wait_until("alice's rights to follow her to the engineers",
                   lambda: names_now(client, alice) == ENG)
        with pytest.raises(pa.ArrowKeyError, match="not found"):
            rows(client, alice, "staff.projects")  # no longer in data-team either
        fresh = login(laker, "alice", "alice-password")
        assert names(client, fresh) == ENG
    finally:
        directory.move("alice", "engineers", "analysts")
    wait_until("alice back among the analysts", lambda: names_now(client, alice) == SALES)
    client.close()


def test_ldaps_bind_dn_template_and_group_search_without_a_service_account(
        tmp_path_factory, directory):
    d = directory
    s = start_server(
        tmp_path_factory.mktemp("laker-ldaps"),
        "--ldap-url", d["LDAPS_URL"], "--ldap-ca-cert", d["LDAP_CA"],
        "--ldap-bind-dn-template", d.dn("uid={user},ou=people"),
        "--ldap-group-base", d.dn("ou=groups"),
        "--ldap-nested-groups", "1",
        *group_roles(d),
        "--ldap-attribute", "departmentNumber=department",
        demo=False,
    )
    try:
        prepare(s)
        client = fl.FlightClient(s.url)
        alice = login(s, "alice", "alice-password")
        assert names(client, alice) == SALES
        assert len(rows(client, alice, "staff.projects")) == 2, "data-team, found by a search"
        assert names(client, login(s, "bob", "bob-password")) == ENG
        with pytest.raises(fl.FlightUnauthenticatedError):
            client.authenticate_basic_token("bob", "alice-password")
        # The template escapes the name: no other entry can be bound.
        with pytest.raises(fl.FlightUnauthenticatedError):
            client.authenticate_basic_token("alice,ou=people", "alice-password")
        client.close()
    finally:
        stop_server(s)


def test_a_directory_with_an_untrusted_certificate_is_unavailable(tmp_path_factory, directory):
    d = directory
    s = start_server(
        tmp_path_factory.mktemp("laker-wrong-ca"),
        "--ldap-url", d["LDAPS_URL"], "--ldap-ca-cert", d["LDAP_OTHER_CA"],
        "--ldap-bind-dn-template", d.dn("uid={user},ou=people"),
        demo=False,
    )
    try:
        create_admin(s.data_dir)
        client = fl.FlightClient(s.url)
        with pytest.raises(fl.FlightUnavailableError, match="TLS certificate"):
            client.authenticate_basic_token("alice", "alice-password")
        client.close()
        r = http_login(s, "alice", "alice-password")
        assert r.status_code == 503 and r.json()["code"] == "UNAVAILABLE", r.text
        assert "directory (LDAP)" in r.json()["detail"]
        assert http_login(s, "admin", ADMIN_PASSWORD).status_code == 200, "local users log in"
    finally:
        stop_server(s)


def test_a_stopped_directory_is_unavailable_and_local_users_still_log_in(tmp_path_factory):
    # A directory of its own: this test stops it.
    d = Directory(tmp_path_factory.mktemp("ldap-stopped"))
    s = None
    try:
        s = start_server(
            tmp_path_factory.mktemp("laker-ldap-stopped"),
            "--ldap-url", d["LDAP_URL"], "--ldap-starttls", "true", "--ldap-ca-cert", d["LDAP_CA"],
            "--ldap-search-base", d.dn("ou=people"),
            "--ldap-service-dn", d["LDAP_SERVICE_DN"],
            "--ldap-service-password-file", d["LDAP_SERVICE_PASSWORD_FILE"],
            "--ldap-cache-secs", "1", "--ldap-connect-timeout-secs", "2",
            # A failure would lock alice out at once: unavailable is not one.
            "--login-max-failures", "1",
            demo=False,
        )
        create_admin(s.data_dir)
        client = fl.FlightClient(s.url)
        session = login(s, "alice", "alice-password")
        assert list(client.list_flights(options=session)) == []
        d.stop()
        with pytest.raises(fl.FlightUnavailableError, match=r"directory \(LDAP\) is unavailable"):
            client.authenticate_basic_token("alice", "alice-password")
        r = http_login(s, "alice", "alice-password")
        assert r.status_code == 503 and r.json()["code"] == "UNAVAILABLE", r.text
        # An open session needs its memberships looked up again after a second.
        wait_until("the session to need the directory", lambda: _unavailable(client, session))
        # Local users do not depend on the directory.
        admin = fl.FlightCallOptions(
            headers=[client.authenticate_basic_token("admin", ADMIN_PASSWORD)])
        names = [json.loads(f.app_metadata)["name"]
                 for f in client.list_flights(options=admin)]
        assert "system.audit" in names, names
        # Unavailable is not a failed login: alice is not locked out.
        d.start()
        wait_until("the directory to be back",
                   lambda: http_login(s, "alice", "alice-password").status_code == 200)
        client.close()
    finally:
        if s is not None:
            stop_server(s)
        d.stop()


def _unavailable(client: fl.FlightClient, opts: fl.FlightCallOptions) -> bool:
    try:
        list(client.list_flights(options=opts))
    except fl.FlightUnavailableError as e:
        return "directory (LDAP) is unavailable" in str(e)
    return False
