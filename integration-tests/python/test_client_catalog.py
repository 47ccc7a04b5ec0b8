"""The catalog from the ``laker`` package against a real server: typed
methods for datasets, namespaces, grants, roles, users, keys, onboarding
and access requests (the Flight actions), and the "adding your own
catalog items" notebook, run with its printed outputs checked."""

from __future__ import annotations

import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import laker
from conftest import ADMIN_PASSWORD, create_admin

PASSWORD = "catalog-test-password"
ROWS = 400


@pytest.fixture(scope="module")
def admin(server):
    create_admin(server.data_dir)
    with laker.connect(server.url, user="admin", password=ADMIN_PASSWORD) as client:
        yield client


def write_sales(folder: Path) -> None:
    """ROWS sales in two Parquet files: half EU, half US."""
    folder.mkdir(parents=True, exist_ok=True)
    half = ROWS // 2
    for part in range(2):
        ids = list(range(part * half, (part + 1) * half))
        pq.write_table(pa.table({
            "sale_id": pa.array(ids, pa.int64()),
            "region": ["EU" if i % 2 == 0 else "US" for i in ids],
            "email": [f"buyer{i}@example.com" for i in ids],
            "amount": pa.array([float(i) for i in ids]),
        }), folder / f"part-{part}.parquet")


@pytest.fixture(scope="module")
def sales(server, admin):
    """``pycat.sales``: Parquet files on the server's local store, registered."""
    folder = server.data_dir / "lake" / "pycat_files" / "sales"
    write_sales(folder)
    namespace = admin.create_namespace("pycat", "catalog tests")
    assert (namespace.name, namespace.description) == ("pycat", "catalog tests")
    assert namespace.created_at > 0
    location = folder.as_uri() + "/"
    registered = admin.register_dataset("pycat.sales", location, "parquet",
                                        description="Sales, one row per sale",
                                        tags=["sales", "test"], owner="sales@example.com")
    assert isinstance(registered, laker.Dataset)
    assert (registered.name, registered.format, registered.location) == (
        "pycat.sales", "parquet", location)
    assert registered.tags == ["sales", "test"] and registered.owner == "sales@example.com"
    assert [c.name for c in registered.schema] == ["sale_id", "region", "email", "amount"]
    assert registered.schema[0] == laker.Column("sale_id", "Int64", True, False)
    return "pycat.sales"


def user(admin, server, name: str) -> laker.Client:
    created = admin.create_user(name, PASSWORD, attributes={"team": "analytics"})
    assert (created.name, created.kind, created.disabled) == (name, "user", False)
    assert created.attributes == {"team": "analytics"}
    return laker.connect(server.url, user=name, password=PASSWORD)


def test_register_describe_and_update(admin, sales):
    assert admin.exists(sales)
    assert not admin.exists("pycat.nothing")
    info = admin.describe(sales)
    with pytest.raises(laker.AlreadyExists):
        admin.register_dataset(sales, info.location, "parquet")
    with pytest.raises(laker.NotFound, match="create_namespace"):
        admin.register_dataset("nonamespace.sales", info.location.replace("/sales/", "/other/"),
                               "parquet")

    assert isinstance(info, laker.DatasetDescription)
    assert (info.rows, info.rows_exact, info.files) == (ROWS, True, 2)
    assert info.size_bytes > 0
    assert info.version is None and info.versions == []
    assert info.description == "Sales, one row per sale"
    sale_id = next(c for c in info.columns if c.name == "sale_id")
    assert (sale_id.min, sale_id.max, sale_id.null_count) == ("0", str(ROWS - 1), 0)
    # The server's JSON document stays at hand.
    assert info["statistics"]["rows"] == {"value": ROWS, "exact": True}

    updated = admin.update_dataset(sales, description="Sales (test data)", tags=["sales"])
    assert (updated.description, updated.tags) == ("Sales (test data)", ["sales"])
    refreshed = admin.refresh_dataset(sales)
    assert refreshed.revision > updated.revision
    assert [c.name for c in refreshed.schema] == ["sale_id", "region", "email", "amount"]


def test_grant_a_colleague_with_a_row_filter_and_a_mask(server, admin, sales):
    colleague = user(admin, server, "pycatreader")
    assert not colleague.exists(sales)
    with pytest.raises(laker.NotFound):
        colleague.download(sales)

    grant = admin.grant(sales, "read", user="pycatreader", row_filter="region = 'EU'",
                        column_masks={"email": "hash"})
    assert grant == laker.Grant("pycatreader", "user", sales, "read", "region = 'EU'",
                                {"email": "hash"})
    assert grant in admin.grants(user="pycatreader")
    assert colleague.exists(sales)
    got = colleague.download(sales, order_by=["sale_id"])
    assert got.num_rows == ROWS // 2 and set(got["region"].to_pylist()) == {"EU"}
    assert all(len(e) == 64 and "@" not in e for e in got["email"].to_pylist())
    seen = colleague.describe(sales)
    assert seen.rows is None and seen.statistics_withheld
    assert [c.masked for c in seen.schema] == [False, False, True, False]
    with pytest.raises(laker.PermissionDenied):
        colleague.grant(sales, "read", user="pycatreader")

    admin.revoke(sales, "read", user="pycatreader")
    assert admin.grants(user="pycatreader") == []
    with pytest.raises(laker.NotFound):
        colleague.download(sales)
    colleague.close()


def test_roles_users_and_keys(server, admin, sales):
    member = user(admin, server, "pycatmember")
    role = admin.create_role("pycatrole", "readers of pycat")
    assert (role.name, role.description, role.members) == ("pycatrole", "readers of pycat", [])
    admin.grant("pycat.*", "read", role="pycatrole")
    assert admin.add_role_member("pycatrole", "pycatmember").members == ["pycatmember"]
    listed = {r.name: r for r in admin.roles()}["pycatrole"]
    assert listed.members == ["pycatmember"]
    assert [(g.grantee_kind, g.pattern, g.action) for g in listed.grants] == [
        ("role", "pycat.*", "read")]
    assert member.download(sales).num_rows == ROWS
    assert admin.remove_role_member("pycatrole", "pycatmember").members == []
    admin.delete_role("pycatrole")
    assert "pycatrole" not in {r.name for r in admin.roles()}
    with pytest.raises(laker.NotFound):
        member.download(sales)

    # (No failed logins here: the shared server counts them per address.)
    assert admin.disable_user("pycatmember").disabled is True
    assert {u.name: u.disabled for u in admin.users()}["pycatmember"] is True
    assert admin.disable_user("pycatmember", disabled=False).disabled is False
    assert admin.set_user_attributes("pycatmember", {"team": "ops"}).attributes == {"team": "ops"}
    admin.set_password("pycatmember", "another-password-1")
    laker.connect(server.url, user="pycatmember", password="another-password-1").close()
    assert "pycatmember" in {u.name for u in admin.users()}

    account = admin.create_service_account("pycatetl")
    assert (account.name, account.kind) == ("pycatetl", "service")
    key = admin.create_api_key("pycatetl", "nightly job", expires_in_secs=3600)
    assert key.principal == "pycatetl" and key.api_key and key.expires_at > 0
    with laker.connect(server.url, api_key=key.api_key) as etl:
        assert etl.whoami().name == "pycatetl"
    (listed_key,) = admin.api_keys("pycatetl")
    assert (listed_key.key_id, listed_key.description, listed_key.revoked_at) == (
        key.key_id, "nightly job", 0)
    admin.revoke_api_key(key.key_id)
    assert admin.api_keys("pycatetl")[0].revoked_at > 0
    admin.delete_user("pycatetl")
    admin.delete_user("pycatmember")
    assert {"pycatetl", "pycatmember"}.isdisjoint(u.name for u in admin.users())
    member.close()


def test_onboard_a_client(server, admin, sales):
    onboarded = admin.onboard("pycatclient", read=[sales], description="a client")
    assert isinstance(onboarded, laker.Onboarding)
    assert (onboarded.namespace, onboarded.service_account) == ("pycatclient", "pycatclient")
    assert {"namespace", "service_account", "api_key"} <= set(onboarded.created)
    assert {(g.pattern, g.action) for g in onboarded.grants} == {
        ("pycatclient.*", "write"), ("pycatclient.*", "read"), (sales, "read")}
    assert onboarded.api_key and onboarded.api_key not in repr(onboarded)
    with laker.connect(server.url, api_key=onboarded.api_key) as client:
        assert client.download(sales).num_rows == ROWS
        client.upload("pycatclient.uploads", pa.table({"x": [1, 2]}), mode="create")
        assert client.exists("pycatclient.uploads")
    again = admin.onboard("pycatclient", read=[sales])
    assert (again.api_key, again.created, again.key_id) == (None, [], onboarded.key_id)


def test_access_requests_over_flight(server, admin, sales):
    asker = user(admin, server, "pycatasker")
    admin.grant(sales, "discover", user="pycatasker")
    with pytest.raises(laker.InvalidSpec, match="reason"):
        asker.request_access(sales, "")
    request = asker.request_access(sales, "quarterly report")
    assert isinstance(request, laker.AccessRequest)
    assert (request.requester, request.dataset, request.need, request.status) == (
        "pycatasker", sales, None, "pending")
    assert request.reason == "quarterly report" and request.created_at > 0
    with pytest.raises(laker.AlreadyExists):
        asker.request_access(sales, "again")
    assert [r.id for r in asker.access_requests()] == [request.id]
    with pytest.raises(laker.PermissionDenied):
        asker.approve_access_request(request.id)
    with pytest.raises(laker.PermissionDenied):
        asker.access_requests(all=True)
    pending = admin.access_requests(all=True, status="pending")
    assert request.id in [r.id for r in pending] and {r.status for r in pending} == {"pending"}

    approved = admin.approve_access_request(request.id, row_filter="region = 'US'",
                                            note="US only")
    assert (approved.status, approved.decided_by, approved.note) == ("approved", "admin", "US only")
    assert approved.decided_at >= approved.created_at
    got = asker.download(sales)
    assert got.num_rows == ROWS // 2 and set(got["region"].to_pylist()) == {"US"}
    with pytest.raises(laker.FailedPrecondition, match="already approved"):
        admin.reject_access_request(request.id)

    need = asker.request_access(need="weather by city", reason="forecasting")
    assert (need.dataset, need.need) == (None, "weather by city")
    rejected = admin.reject_access_request(need.id, note="no such data yet")
    assert (rejected.status, rejected.note) == ("rejected", "no such data yet")
    mine = {r.id: r.status for r in asker.access_requests()}
    assert mine == {request.id: "approved", need.id: "rejected"}
    assert [r.id for r in asker.access_requests(status="rejected")] == [need.id]
    with pytest.raises(laker.FailedPrecondition, match="already read"):
        asker.request_access(sales, "more of it")
    asker.close()


def test_catalog_notebook_runs(server, admin, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    admin.create_user("nbcolleague", PASSWORD)
    folder = server.data_dir / "lake" / "nbcat_files" / "orders"
    monkeypatch.setenv("LAKER_URL", server.url)
    monkeypatch.setenv("LAKER_USER", "admin")
    monkeypatch.setenv("LAKER_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("LAKER_NAMESPACE", "nbcat")
    monkeypatch.setenv("LAKER_LOCATION", folder.as_uri() + "/")
    monkeypatch.setenv("LAKER_COLLEAGUE", "nbcolleague")
    monkeypatch.setenv("LAKER_COLLEAGUE_PASSWORD", PASSWORD)
    path = Path(__file__).resolve().parents[2] / "clients/python/examples/catalog.ipynb"
    notebook = nbformat.read(path, as_version=4)
    # Any cell that raises fails the run (CellExecutionError).
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    shown = "".join(o.get("data", {}).get("text/plain", "")
                    for c in notebook.cells for o in c.get("outputs", []))
    eu = [i for i in range(1000) if i % 4 in (0, 2)]
    total = sum((Decimal(i % 97) + Decimal("0.50") for i in eu), Decimal(0))
    for line in [
        "signed in as admin",
        f"wrote 1000 orders to {folder.as_uri()}/",
        "registered nbcat.orders (parquet): order_id, region, amount, ordered_at",
        "1000 rows in 2 files, ",
        "nbcolleague may read nbcat.orders where region = 'EU'",
        "listed for the colleague: ['nbcat.orders']",
        f"the colleague sees {len(eu)} rows, regions ['EU'], total {total}",
    ]:
        assert line in printed, (line, printed)
    assert "order_id" in shown and "ordered_at" in shown
    # What the notebook made is in the catalog, as it said.
    info = admin.describe("nbcat.orders")
    assert (info.rows, info.files, info.tags) == (1000, 2, ["sales", "orders"])
    first = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    with laker.connect(server.url, user="nbcolleague", password=PASSWORD) as colleague:
        got = colleague.download("nbcat.orders", order_by=["order_id"], limit=1)
        assert got["ordered_at"][0].as_py() == first
