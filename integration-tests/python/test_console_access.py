"""The web console for people with different grants, in a real browser
against a real laker-server: a restricted reader's preview (filtered rows,
masked values, a dataset it may not discover), an access request asked for
on the dataset page and approved by an administrator on the admin page (the
requester then downloads the rows), and the audit page's usage chart and
records. See console_ui.py for the browser and what fails a test."""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import pyarrow.csv as pacsv
from playwright.sync_api import expect

from conftest import ADMIN_PASSWORD
from console_ui import (  # noqa: F401 (browsing, chromium: fixtures)
    Browsing, browsing, chromium, column, content_type, fetch_link, open_dataset, preview,
    screenshot,
)
from http_api import (  # noqa: F401 (admin_flight, restricted: fixtures)
    PASSWORD, admin_flight, download_rows, flight_table, restricted, user_caller,
)

HEX_HASH = re.compile(r"[0-9a-f]{64}")


def test_restricted_reader_sees_filtered_masked_rows(browsing: Browsing, restricted):
    # `restricted` reads demo.trips in Bergen only, vendor hashed,
    # payment_type hidden, and may not discover demo.zones.
    page = browsing.signed_in(restricted.user, PASSWORD)
    open_dataset(page, "demo.trips")
    expect(page.locator("#preview-grid tbody tr")).to_have_count(50)
    names, _ = preview(page)
    assert "payment_type" not in names
    assert {"vendor", "city", "fare"} <= set(names)
    assert set(column(page, "city")) == {"Bergen"}
    vendors = column(page, "vendor")
    assert all(HEX_HASH.fullmatch(v) for v in vendors), vendors[:3]
    expect(page.locator("#stats-withheld")).to_be_visible()
    vendor_row = page.locator("#schema-table tbody tr").filter(
        has=page.locator("code", has_text=re.compile(r"^vendor$")))
    expect(vendor_row.locator(".badge")).to_have_text("masked")
    expect(page.locator("#schema-table")).not_to_contain_text("payment_type")
    expect(page.locator(".column-checkbox")).to_have_count(len(names))

    with page.expect_response(lambda r: r.url.endswith("/api/v1/datasets/demo.zones")) as answer:
        open_dataset(page, "demo.zones")
    assert answer.value.status == 404
    expect(page.locator("#dataset-not-found")).to_be_visible()
    expect(page.locator("#dataset-not-found")).to_contain_text("demo.zones")
    expect(page.locator("#preview-grid")).to_have_count(0)
    expect(page.locator("#download-widget")).to_have_count(0)


def test_access_request_approved_on_the_admin_page(server, browsing: Browsing, admin_flight):
    requester = admin_flight.new_user("consoleasker",
                                      [{"pattern": "demo.zones", "action": "discover"}])
    page = browsing.signed_in(requester, PASSWORD)
    card = page.locator('.dataset-card[data-name="demo.zones"]')
    expect(card).to_have_count(1)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/datasets/demo.zones")) as answer:
        card.locator("h2 a").click()
    assert answer.value.status == 403
    expect(page.locator("#dataset-not-found")).to_be_visible()
    page.locator("#request-access").click()
    page.locator("#request-reason").fill("route planning in Oslo")
    page.locator("#request-submit").click()
    sent = page.locator("#request-feedback-status")
    expect(sent).to_have_text(re.compile(r"^Request \d+ sent"))
    rid = re.match(r"Request (\d+) sent", sent.text_content()).group(1)

    page.locator("#nav-requests").click()
    mine = page.locator("#requests-table tbody tr")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("demo.zones")
    expect(mine.locator(".badge")).to_have_text("pending")
    screenshot(page, "requests")

    admin_page = browsing.signed_in("admin", ADMIN_PASSWORD)
    admin_page.locator("#nav-admin").click()
    request = admin_page.locator(f'.request-card[data-id="{rid}"]')
    expect(request).to_contain_text(requester)
    expect(request).to_contain_text("route planning in Oslo")
    expect(request.locator(".badge")).to_have_text("pending")
    screenshot(admin_page, "admin")
    request.locator(".approve-filter").fill("city = 'Oslo'")
    request.locator(".decision-note").fill("Oslo only")
    request.locator(".approve-button").click()
    expect(admin_page.locator("#admin-requests-feedback-status")).to_have_text(
        f"Approved request #{rid}: {requester} may now read demo.zones.")
    expect(request).to_have_count(0)

    open_dataset(page, "demo.zones")
    expect(page.locator("#preview-grid tbody tr").first).to_be_visible()
    assert set(column(page, "city")) == {"Oslo"}
    link = page.locator("#download-link")
    expect(link).to_have_attribute("href", "/api/v1/datasets/demo.zones/download?format=csv")
    got = fetch_link(page)
    assert got.status == 200, got.text()
    assert content_type(got) == "text/csv"
    rows = pacsv.read_csv(io.BytesIO(got.body())).sort_by("zone_id")
    oslo = flight_table(server.url, "admin", ADMIN_PASSWORD, {
        "dataset": "demo.zones", "filter": "city = 'Oslo'", "order_by": ["zone_id"]})
    assert 0 < rows.num_rows == oslo.num_rows < 60
    assert rows["zone_id"].to_pylist() == oslo["zone_id"].to_pylist()
    assert set(rows["city"].to_pylist()) == {"Oslo"}

    page.locator("#nav-requests").click()
    expect(mine.locator(".badge")).to_have_text("approved")
    expect(mine).to_contain_text("Oslo only")


def test_audit_page_charts_todays_downloads(browsing: Browsing, http_url, admin_flight):
    reader = user_caller(http_url, admin_flight, "consoleaudit")
    for _ in range(2):
        assert download_rows(reader, "demo.zones", {"filter": "zone_id <= 5"}).num_rows == 5
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")

    page = browsing.signed_in("admin", ADMIN_PASSWORD)
    page.locator("#nav-audit").click()
    bar = page.locator(f'#usage-chart-downloads rect.bar[data-label="{today}"]')
    expect(bar).to_have_count(1)
    assert int(bar.get_attribute("data-value")) >= 2
    downloads = page.locator("#audit-table tbody tr").filter(has_text="HTTP:download")
    expect(downloads.first).to_be_visible()
    screenshot(page, "audit")

    # One user's usage: exactly the two downloads, and their audit records.
    page.locator("#usage-user").fill(reader.user)
    page.locator("#usage-apply").click()
    expect(page.locator("#usage-status")).to_contain_text(f"by {reader.user}")
    expect(bar).to_have_attribute("data-value", "2")
    top_user = page.locator("#usage-chart-top-users rect.bar")
    expect(top_user).to_have_count(1)
    expect(top_user).to_have_attribute("data-label", reader.user)
    expect(top_user).to_have_attribute("data-value", "2")
    expect(downloads).to_have_count(2)
    for i in range(2):
        expect(downloads.nth(i)).to_contain_text(reader.user)
        expect(downloads.nth(i)).to_contain_text("demo.zones")
        expect(downloads.nth(i).locator(".outcome-ok")).to_have_text("ok")
