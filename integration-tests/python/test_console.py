"""The web console in a real browser against a real laker-server: sign-in
with the keyboard, search, a dataset's preview and download widget (the
filter checked as typed, the server's message for a bad one, the link's
CSV and Parquet compared with the same slice over Flight), the
Content-Security-Policy and session cookies, and data shown as text, never
as markup. See console_ui.py for the browser and what fails a test."""

from __future__ import annotations

import io
import re
import urllib.parse

import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from playwright.sync_api import Browser, expect

from console_ui import (  # noqa: F401 (browsing, chromium: fixtures)
    REPORT_CSP_VIOLATIONS, Browsing, browsing, chromium, column, content_type, fetch_link,
    screenshot,
)
from http_api import (  # noqa: F401 (admin, admin_flight, delta, demo: fixtures)
    PASSWORD, admin, admin_flight, assert_same_rows, delta, demo, flight_table, problem,
)

# demo.trips' description and tags say "taxi" (flight-server/src/demo/mod.rs).
SEARCH = "taxi"
GOOD_FILTER = "fare > 30"
BAD_FILTER = "no_such_column > 1"
# Chosen in the widget, in schema order (the order the download keeps).
COLUMNS = ["trip_id", "passengers", "fare", "city"]
LIMIT = 100
XSS = '<img src=x onerror="window.__xss=1">'


def download_href(dataset: str, fmt: str) -> str:
    """The link the widget should build for the slice the test chooses
    (URLSearchParams encoding: spaces as '+', commas as %2C)."""
    query = urllib.parse.urlencode({
        "columns": ",".join(COLUMNS), "filter": GOOD_FILTER, "limit": LIMIT,
        "order_by": "trip_id", "format": fmt,
    })
    return f"/api/v1/datasets/{dataset}/download?{query}"


def test_sign_in_with_the_keyboard(browsing: Browsing):
    page = browsing.page()
    page.goto("/")
    expect(page.locator("#login-user")).to_be_focused()
    # Tab from the user field goes round the page and comes back: the
    # password, the button, the skip link, nothing else.
    stops = []
    for _ in range(8):
        page.keyboard.press("Tab")
        stops.append(page.evaluate("document.activeElement.id"))
        if stops[-1] == "login-user":
            break
    expected = ["login-password", "login-submit", "skip-link", "login-user"]
    assert [s for s in stops if s] == expected, stops
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    expect(page.locator("#login-password")).to_be_focused()
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    expect(page.locator("#login-submit")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#login-password")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#current-user")).to_have_text("demo")
    expect(page).to_have_url(re.compile(r"#/datasets$"))
    expect(page.locator("#login-form")).to_have_count(0)


def test_search_preview_filter_and_download(server, browsing: Browsing, demo):
    page = browsing.signed_in("demo", "demo", shot="login")
    page.locator("#search").fill(SEARCH)
    found = [d["name"] for d in demo.ok("/api/v1/datasets", {"search": SEARCH})["datasets"]]
    assert "demo.trips" in found
    cards = page.locator(".dataset-card")
    expect(page.locator("#search-status")).to_have_text(
        f"{len(found)} dataset{'' if len(found) == 1 else 's'} matching “{SEARCH}”.")
    expect(cards).to_have_count(len(found))
    assert [c.get_attribute("data-name") for c in cards.all()] == found
    trips = page.locator('.dataset-card[data-name="demo.trips"]')
    expect(trips.locator(".description")).to_contain_text("Taxi trips")
    screenshot(page, "discover")

    trips.locator("h2 a").click()
    expect(page).to_have_url(re.compile(r"#/datasets/demo\.trips$"))
    expect(page.locator("#preview-grid tbody tr")).to_have_count(50)
    expect(page.locator("#schema-table tbody tr")).to_have_count(len(demo.ok(
        "/api/v1/datasets/demo.trips")["schema"]))
    status = page.locator("#filter-status")
    link = page.locator("#download-link")
    # The first check (the whole dataset) is done before the slice changes.
    expect(status).to_have_text(re.compile(r"^✓ Valid"))
    expect(link).to_have_attribute("href", "/api/v1/datasets/demo.trips/download?format=csv")
    screenshot(page, "dataset")

    page.locator("#filter-input").fill(GOOD_FILTER)
    expect(status).to_have_text(re.compile(r"^✓ Valid"))
    expect(status).to_have_class(re.compile(r"\bok\b"))
    expect(page.locator("#preview-status")).to_have_text(re.compile(r"matching the filter\.$"))
    assert all(float(fare) > 30 for fare in column(page, "fare"))

    page.locator("#filter-input").fill(BAD_FILTER)
    refused = problem(demo.get("/api/v1/datasets/demo.trips/check", {"filter": BAD_FILTER}),
                      400, "INVALID_ARGUMENT")
    assert "no_such_column" in refused["detail"]
    expect(status).to_have_text(refused["detail"])
    expect(status).to_have_class(re.compile(r"\berror\b"))
    expect(link).to_have_attribute("aria-disabled", "true")
    assert link.get_attribute("href") is None

    page.locator("#filter-input").fill(GOOD_FILTER)
    expect(status).to_have_text(re.compile(r"^✓ Valid"))
    page.locator("#columns-none").click()
    expect(status).to_have_text("Choose at least one column.")
    for name in COLUMNS:
        page.locator(f'.column-checkbox[value="{name}"]').check()
    page.locator("#order-by").select_option("trip_id")
    page.locator("#limit-input").fill(str(LIMIT))
    page.locator("#format-select").select_option("csv")
    expect(link).to_have_attribute("href", download_href("demo.trips", "csv"))
    expect(status).to_have_text(re.compile(r"^✓ Valid"))
    # The check that set the link asked for the slice's preview: wait for it.
    expect(page.locator("#preview-body")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#preview-grid thead .col-name")).to_have_text(COLUMNS)
    expect(page.locator("#preview-grid tbody tr")).to_have_count(50)
    page.locator("#preview-grid").scroll_into_view_if_needed()
    screenshot(page, "preview")

    expected = flight_table(server.url, "demo", "demo", {
        "dataset": "demo.trips", "columns": COLUMNS, "filter": GOOD_FILTER, "limit": LIMIT,
        "order_by": ["trip_id"]})
    assert expected.num_rows == LIMIT
    assert pc.min(expected["fare"]).as_py() > 30

    csv = fetch_link(page)
    assert csv.status == 200, csv.text()
    assert content_type(csv) == "text/csv"
    assert csv.headers["content-disposition"] == 'attachment; filename="demo.trips.csv"'
    assert_same_rows(pacsv.read_csv(io.BytesIO(csv.body())), expected)

    page.locator("#format-select").select_option("parquet")
    expect(link).to_have_attribute("href", download_href("demo.trips", "parquet"))
    parquet = fetch_link(page)
    assert parquet.status == 200, parquet.text()
    assert content_type(parquet) == "application/vnd.apache.parquet"
    assert parquet.headers["content-disposition"] == 'attachment; filename="demo.trips.parquet"'
    assert_same_rows(pq.read_table(io.BytesIO(parquet.body())), expected)


def test_csp_and_session_cookies(browsing: Browsing, chromium: Browser, http_url):
    page = browsing.page()
    response = page.goto("/")
    assert response is not None and response.status == 200
    policy = {}
    for directive in response.headers["content-security-policy"].split(";"):
        name, *values = directive.split()
        policy[name] = values
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert not any("unsafe" in v for values in policy.values() for v in values), policy
    module = page.request.get("/console/app.js")
    assert module.status == 200
    assert module.headers["content-security-policy"] == response.headers["content-security-policy"]
    assert module.headers["x-content-type-options"] == "nosniff"

    page.locator("#login-user").fill("demo")
    page.locator("#login-password").fill("demo")
    page.locator("#login-submit").click()
    expect(page.locator("#current-user")).to_have_text("demo")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["laker_session"]["httpOnly"] is True
    assert cookies["laker_session"]["sameSite"] == "Strict"
    assert cookies["laker_csrf"]["httpOnly"] is False
    assert cookies["laker_csrf"]["sameSite"] == "Strict"
    script_cookies = page.evaluate("document.cookie")
    assert "laker_csrf=" in script_cookies and "laker_session" not in script_cookies

    # The policy is enforced: a script added inline does not run, and the
    # browser reports the violation (a context of its own, since the
    # violation is deliberate here).
    context = chromium.new_context(base_url=http_url)
    try:
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        injected = context.new_page()
        injected.goto("/")
        expect(injected.locator("#login-user")).to_be_visible()
        with injected.expect_console_message(
                lambda m: m.text.startswith("CSP violation: script-src")) as violation:
            injected.evaluate("""() => {
              const s = document.createElement('script');
              s.textContent = 'window.__inline = 1';
              document.head.append(s);
            }""")
        assert "inline" in violation.value.text
        assert injected.evaluate("typeof window.__inline") == "undefined"
    finally:
        context.close()


def test_descriptions_are_shown_as_text(browsing: Browsing, admin, delta):
    changed = admin.post("/api/v1/admin/actions/update_dataset",
                         {"name": delta.name, "description": XSS})
    assert changed.status_code == 200, changed.text
    page = browsing.signed_in(delta.writer.user, PASSWORD)
    page.locator("#search").fill(delta.name)
    card = page.locator(f'.dataset-card[data-name="{delta.name}"]')
    expect(card).to_have_count(1)
    expect(card.locator(".description")).to_have_text(XSS)
    assert card.locator(".description").text_content() == XSS
    expect(card.locator("img")).to_have_count(0)

    card.locator("h2 a").click()
    expect(page.locator("#dataset-description")).to_have_text(XSS)
    expect(page.locator("#dataset-overview img")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.__xss") == "undefined"

