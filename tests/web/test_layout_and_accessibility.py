"""Every page state at 360 px (a small phone) and 1280 px (a desktop): no horizontal scrolling,
every control at least 44 px, and no serious or critical axe-core finding."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.conftest import Factory
from tests.web.conftest import Live, open_page, signed_in
from tests.web.test_staff_console import staff_login
from tests.web.worlds import (
    abroad,
    call_now,
    certified_history,
    consular_document,
    review_case,
    video_agent,
)

Shot = Callable[[Page, str], Path]
AXE = Axe()
SERIOUS = {"serious", "critical"}

LAYOUT = """() => {
  const doc = document.documentElement;
  const small = [];
  const controls = document.querySelectorAll(
    'button, a.button, nav a, input, select, textarea, summary, [role=button]');
  for (const el of controls) {
    if (el.closest('[hidden]') || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.offsetParent === null && getComputedStyle(el).position !== 'fixed') continue;
    // A checkbox or radio button is operated through its whole label.
    const target = (el.type === 'checkbox' || el.type === 'radio') && el.closest('label')
      ? el.closest('label') : el;
    const r = target.getBoundingClientRect();
    if (r.width < 44 || r.height < 44) {
      const name = (el.textContent || el.getAttribute('aria-label') || el.id || '').trim();
      const size = `${Math.round(r.width)}x${Math.round(r.height)}`;
      small.push(`${el.tagName.toLowerCase()} "${name.slice(0, 40)}" ${size}`);
    }
  }
  return { overflow: doc.scrollWidth - doc.clientWidth, small };
}"""


def check(page: Page, shot: Shot, step: str) -> None:
    page.wait_for_timeout(150)  # let the focus move and the layout settle
    shot(page, step)
    layout: dict[str, Any] = page.evaluate(LAYOUT)
    assert layout["overflow"] <= 0, f"{step}: the page scrolls sideways by {layout['overflow']} px"
    assert layout["small"] == [], f"{step}: controls smaller than 44 px: {layout['small']}"
    violations = [v for v in AXE.run(page).response["violations"] if v.get("impact") in SERIOUS]
    summary = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
    ]
    assert summary == [], f"{step}: accessibility problems: {summary}"


@pytest.fixture(params=[360, 1280], ids=["360px", "1280px"])
def sized_page(request: pytest.FixtureRequest, browser: Browser, live: Live) -> Iterator[Page]:
    width = request.param
    yield from open_page(browser, live, width=width, height=760 if width == 360 else 900)


def test_pensioner_page(sized_page: Page, live: Live, seed: Factory, shot: Shot) -> None:
    page = sized_page
    page.goto("/")
    check(page, shot, "01-login")
    page.get_by_label("身份证号码").fill("123")
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_role("alert")).to_contain_text("身份证号码不对")
    check(page, shot, "02-login-error")

    pensioner = seed.pensioner("110105", name="布局丙")
    seed.face(pensioner)
    signed_in(page, seed, pensioner)
    expect(page.get_by_role("heading", name="您好，布局丙")).to_be_visible()
    check(page, shot, "03-home")
    page.get_by_role("button", name="开始认证").click()
    page.get_by_label("有人在帮我操作").check()
    check(page, shot, "04-consent")
    page.get_by_role("button", name="不同意，用其他方式").click()
    expect(page.get_by_role("heading", name="其他认证方式")).to_be_visible()
    check(page, shot, "05-other-ways")
    page.get_by_role("button", name="返回首页").click()
    page.get_by_role("button", name="开始认证").click()
    page.get_by_label("我已阅读并同意").check()
    page.get_by_role("button", name="下一步").click()
    check(page, shot, "06-guide")
    page.get_by_role("button", name="打开摄像头").click()
    expect(page.locator("#oval")).to_have_class("good", timeout=30_000)
    check(page, shot, "07-selfie")
    page.get_by_role("button", name="拍照").click()
    expect(page.get_by_role("heading", name="按提示做动作")).to_be_visible()
    check(page, shot, "08-record")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Follow the prompts")).to_be_visible()
    check(page, shot, "09-record-english")
    page.get_by_role("button", name="中文").click()


def test_pensioner_page_abroad(sized_page: Page, live: Live, seed: Factory, shot: Shot) -> None:
    page = sized_page
    width = page.viewport_size["width"] if page.viewport_size else 0
    agent = video_agent(seed, username=f"agent.layout.{width}")
    pensioner = abroad(seed, name=f"境外壬{width}")
    call_now(seed, pensioner, agent)
    signed_in(page, seed, pensioner)
    expect(page.locator("#appointments li").filter(has_text="已预约")).to_have_count(1)
    check(page, shot, "01-home-abroad")
    page.get_by_role("button", name="上传领事馆证明").click()
    check(page, shot, "02-consular")
    page.get_by_role("button", name="返回首页").click()
    page.get_by_role("button", name="进入视频").click()
    expect(page.locator("#call-state")).to_have_text("正在等待工作人员进入……")
    check(page, shot, "03-call-waiting")
    page.get_by_role("button", name="离开视频").click()
    expect(page.get_by_role("button", name="进入视频")).to_be_visible()


def test_staff_console(
    sized_page: Page, live: Live, seed: Factory, face_engine: Any, shot: Shot
) -> None:
    page = sized_page
    width = page.viewport_size["width"] if page.viewport_size else 0
    case = review_case(seed, face_engine, name=f"布局丁{width}")
    person = certified_history(seed, name=f"布局戊{width}")
    seed.staff("admin", scope="11", username=f"admin.layout.{width}")
    page.goto("/staff/")
    check(page, shot, "01-login")
    staff_login(page, f"admin.layout.{width}")
    expect(page.get_by_role("heading", name="待核对")).to_be_visible()
    check(page, shot, "02-queue")
    page.goto(f"/staff/#/reviews/{case.id}")
    expect(page.get_by_role("img", name=f"布局丁{width} 本次自拍")).to_be_visible()
    check(page, shot, "03-case")
    page.goto("/staff/#/pensioners")
    page.get_by_label("身份证号码、姓名或电话").fill(f"布局戊{width}")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_text("共 1 人")).to_be_visible()
    check(page, shot, "04-search")
    page.goto(f"/staff/#/pensioners/{person.id}")
    expect(page.get_by_role("heading", name=f"布局戊{width}")).to_be_visible()
    expect(page.locator("#pensioner-history tbody tr")).to_have_count(2)
    check(page, shot, "05-record")
    page.goto("/staff/#/dashboard")
    expect(page.locator("#dash-table tbody tr")).to_have_count(12)
    check(page, shot, "06-dashboard")
    document = consular_document(seed, abroad(seed, name=f"证明癸{width}"))
    page.goto("/staff/#/consular")
    expect(page.get_by_role("link", name=f"核对 证明癸{width}")).to_be_visible()
    check(page, shot, "07-consular-queue")
    page.goto(f"/staff/#/consular/{document.id}")
    expect(page.get_by_role("img", name=f"证明癸{width} 的领事证明扫描件")).to_be_visible()
    check(page, shot, "08-consular-document")


def test_agent_console(sized_page: Page, live: Live, seed: Factory, shot: Shot) -> None:
    page = sized_page
    width = page.viewport_size["width"] if page.viewport_size else 0
    agent = video_agent(seed, username=f"agent.console.{width}")
    call = call_now(seed, abroad(seed, name=f"通话子{width}"), agent)
    staff_login(page, f"agent.console.{width}")
    expect(page.get_by_role("heading", name="我的视频认证")).to_be_visible()
    check(page, shot, "01-calls")
    page.goto(f"/staff/#/calls/{call.id}")
    expect(page.get_by_role("heading", name=f"视频认证：通话子{width}")).to_be_visible()
    check(page, shot, "02-call")
    page.get_by_role("link", name="工作时间").click()
    expect(page.locator("#av-weekly .av-row")).to_have_count(7)
    page.get_by_role("button", name="增加例外").click()
    check(page, shot, "03-working-hours")


def test_the_checks_catch_what_they_look_for(sized_page: Page, live: Live, shot: Shot) -> None:
    """The layout and axe checks above fail on a page built to break each rule."""
    page = sized_page
    # A blank page: the service's Content-Security-Policy would block the inline styles this
    # broken page is built from.
    page.goto("about:blank")
    page.set_content(
        '<html lang="en"><body><main><h1>x</h1>'
        '<button style="width:20px;height:20px;padding:0">x</button>'
        '<input id="unlabelled">'
        '<div style="width:3000px;height:10px"></div>'
        '<p style="color:#aaa;background:#fff">faint text</p></main></body></html>'
    )
    with pytest.raises(AssertionError, match="sideways"):
        check(page, shot, "broken-overflow")
    page.evaluate("document.querySelector('div').remove()")
    with pytest.raises(AssertionError, match="smaller than 44 px"):
        check(page, shot, "broken-small")
    page.evaluate("document.querySelector('button').style.cssText='width:60px;height:60px'")
    with pytest.raises(AssertionError, match="label|color-contrast"):
        check(page, shot, "broken-axe")
