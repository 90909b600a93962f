"""The pensioner page is installable and opens offline: a web app manifest with its icons, a
service worker that keeps the app shell, both under the Content-Security-Policy the service
sends (`default-src 'self'`), and a page that says it has no network."""

from __future__ import annotations

import io

from PIL import Image
from playwright.sync_api import Page, expect

from tests.web.conftest import Live
from tests.web.waits import wait_until


def test_the_manifest_names_the_app_and_its_icons(page: Page, live: Live) -> None:
    page.set_default_navigation_timeout(60_000)  # a loaded test machine
    page.goto("/")
    href = page.locator("link[rel=manifest]").get_attribute("href")
    assert href == "/manifest.webmanifest"
    response = page.request.get(href)
    assert response.ok
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        image = page.request.get(icon["src"])
        assert image.ok, icon
        width, height = Image.open(io.BytesIO(image.body())).size
        assert f"{width}x{height}" == icon["sizes"]
        sizes.add(width)
    assert {192, 512} <= sizes  # what Chrome asks of an installable app


def test_the_page_opens_offline_from_its_service_worker_and_says_so(page: Page, live: Live) -> None:
    page.set_default_navigation_timeout(60_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/")
    csp = page.request.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in csp
    # The worker installs (it caches the shell) and takes the page over.
    assert wait_until(page, "() => navigator.serviceWorker.controller !== null")
    expect(page.locator("#offline")).to_be_hidden()

    page.context.set_offline(True)
    response = page.reload()
    assert response is not None and response.from_service_worker
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#offline")).to_contain_text("现在没有网络")
    page.context.set_offline(False)
    expect(page.locator("#offline")).to_be_hidden()
    # Nothing was refused by the Content-Security-Policy along the way.
    assert not [e for e in errors if "Content Security Policy" in e], errors
