"""Shared by the web console tests (test_console*.py): Debian's Chromium
driven through Playwright (never a downloaded browser), pages signed in
through the sign-in form, every console message and page error collected
(a test fails on a page error, a console error or a Content-Security-Policy
violation; only the "Failed to load resource … 4xx" lines that deliberate
4xx answers cause are expected), the preview grid read as text, links
fetched with the page's own cookies, and screenshots for docs/console.md
when LAKER_SCREENSHOTS names a directory.

Every wait is explicit (``expect``, ``wait_for_*``) and bounded by WAIT_MS."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import (
    Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright,
)

# Longest wait for anything the console shows (a debug server scanning
# demo.trips with a sort and a filter takes seconds, not minutes).
WAIT_MS = 60_000
VIEWPORT = {"width": 1366, "height": 768}
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# What a deliberate 4xx answer (a refused filter, a dataset one may not see)
# prints in the browser's console; nothing else is expected there.
EXPECTED_NOISE = re.compile(
    r"^Failed to load resource: the server responded with a status of 4\d\d\b")
# Reports every Content-Security-Policy violation as a console error, so
# none goes unnoticed (injected by the browser, exempt from the policy).
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""

expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium ($LAKER_CHROMIUM, default /usr/bin/chromium)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("LAKER_CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_ARGS,
        )
        try:
            yield browser
        finally:
            browser.close()


class Browsing:
    """The browser contexts of one test (one per person signed in) and what
    their pages printed: ``problems`` lists page errors, console errors and
    CSP violations."""

    def __init__(self, browser: Browser, base: str):
        self.browser = browser
        self.base = base
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []

    def page(self) -> Page:
        """A page in a fresh context (no cookies) at 1366×768, watched."""
        context = self.browser.new_context(base_url=self.base, viewport=VIEWPORT)
        context.set_default_timeout(WAIT_MS)
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        return page

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        csp = "Content Security Policy" in text or text.startswith("CSP violation")
        if csp or (message.type == "error" and not EXPECTED_NOISE.search(text)):
            self.problems.append(f"console {message.type}: {text} ({message.location.get('url')})")

    def signed_in(self, user: str, password: str, shot: str | None = None) -> Page:
        """A new page signed in as ``user`` through the sign-in form."""
        page = self.page()
        sign_in(page, user, password, shot)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture()
def browsing(chromium: Browser, http_url: str) -> Iterator[Browsing]:
    """Pages for one test; after it, nothing may have gone wrong in them."""
    session = Browsing(chromium, http_url)
    try:
        yield session
    finally:
        session.close()
    assert session.problems == [], "the console reported problems:\n" + "\n".join(session.problems)


def sign_in(page: Page, user: str, password: str, shot: str | None = None) -> None:
    """Opens the console, signs in with the form and waits for the header
    to name ``user``. ``shot`` names a screenshot of the empty form."""
    page.goto("/")
    expect(page.locator("#login-user")).to_be_focused()
    screenshot(page, shot)
    page.locator("#login-user").fill(user)
    page.locator("#login-password").fill(password)
    page.locator("#login-submit").click()
    expect(page.locator("#current-user")).to_have_text(user)


def open_dataset(page: Page, name: str) -> None:
    """Goes to the dataset page of ``name`` (a hash route)."""
    page.goto(f"/#/datasets/{name}")
    expect(page.locator("#dataset-name")).to_have_text(name)


def preview(page: Page) -> tuple[list[str], list[list[str]]]:
    """The preview grid's column names and rows, as the text shown, once
    the newest preview asked for has been drawn."""
    expect(page.locator("#preview-body")).to_have_attribute("aria-busy", "false")
    return page.evaluate("""() => {
      const grid = document.getElementById('preview-grid');
      const names = [...grid.querySelectorAll('thead .col-name')].map((e) => e.textContent);
      const rows = [...grid.querySelectorAll('tbody tr')]
        .map((r) => [...r.cells].map((c) => c.textContent));
      return [names, rows];
    }""")


def column(page: Page, name: str) -> list[str]:
    """One column of the preview grid, as shown."""
    names, rows = preview(page)
    assert name in names, f"the preview has no column {name!r}: {names}"
    index = names.index(name)
    return [row[index] for row in rows]


def fetch_link(page: Page, selector: str = "#download-link"):
    """GETs the address a link points at with the page's cookies (what
    following it in this browser sends); returns the APIResponse."""
    href = page.locator(selector).get_attribute("href")
    assert href, f"{selector} has no address"
    return page.request.get(href, timeout=WAIT_MS)


def content_type(response) -> str:
    """The media type of a Playwright response (no parameters)."""
    return response.headers["content-type"].split(";")[0].strip()


def screenshot(page: Page, name: str | None) -> None:
    """Saves the viewport (1366×768) as ``<LAKER_SCREENSHOTS>/<name>.png``
    when that variable is set; does nothing otherwise."""
    where = os.environ.get("LAKER_SCREENSHOTS")
    if not where or not name:
        return
    Path(where).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(where) / f"{name}.png"), animations="disabled", caret="hide")
