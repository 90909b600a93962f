"""The pages work under the service's Content-Security-Policy: nothing they do is blocked."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from models.pensioner import Pensioner
from tests.conftest import Factory
from tests.web.conftest import Live
from tests.web.test_pensioner_page import log_in
from tests.web.test_staff_console import staff_login
from tests.web.waits import wait_until
from tests.web.worlds import certified_history

# Installed before any page script runs (through the browser's debugging protocol, which the
# policy does not govern): collects every violation the page reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _violations(page: Page) -> list[str]:
    return list(page.evaluate("() => window.__cspViolations"))


def test_the_pensioner_page_logs_in_without_a_policy_violation(
    page: Page, live: Live, seed: Factory
) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    pensioner = seed.pensioner("110105", name="策略甲")
    assert isinstance(pensioner, Pensioner)
    response = page.goto("/")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]
    log_in(page, live, pensioner)
    assert _violations(page) == []


def test_the_staff_console_and_dashboard_run_without_a_policy_violation(
    page: Page, live: Live, seed: Factory
) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    certified_history(seed, name="策略乙")
    seed.staff("admin", scope="11", username="admin.csp")
    staff_login(page, "admin.csp")
    expect(page.get_by_role("heading", name="待核对")).to_be_visible()
    page.get_by_role("link", name="统计").click()
    expect(page.get_by_role("img", name="近12个月每月认证人数（按方式）")).to_be_visible()
    # The chart legend's colours are set through the CSSOM, which the policy allows.
    swatch = page.locator(".legend .swatch").first
    assert swatch.evaluate("s => s.style.background") != ""
    assert _violations(page) == []
    # The check can fail: a style attribute is exactly what the policy refuses.
    page.evaluate("() => document.body.setAttribute('style', 'outline: 1px solid red')")
    assert wait_until(page, "() => window.__cspViolations.length > 0")
    assert any("style-src" in v for v in _violations(page))
