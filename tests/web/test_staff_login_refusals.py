"""The staff console says why a login is refused: a wrong password, a wait, a locked account."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from models.staff import StaffUser
from tests.conftest import PASSWORD, Factory
from tests.web.conftest import Live


def _try(page: Page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def test_a_locked_account_and_a_backoff_are_explained(
    page: Page, live: Live, seed: Factory
) -> None:
    locked = seed.staff("reviewer", scope="11", username="locked.web")
    assert isinstance(locked, StaffUser)
    locked.locked_at = datetime.now(UTC)
    locked.failed_logins = live.settings.staff_login_lock_after
    seed.session.add(locked)
    seed.session.commit()
    waiting = seed.staff("reviewer", scope="11", username="waiting.web")
    assert isinstance(waiting, StaffUser)
    waiting.failed_logins = live.settings.staff_login_backoff_after + 2  # a 4-second wait
    waiting.last_failed_login_at = datetime.now(UTC)
    seed.session.add(waiting)
    seed.session.commit()

    page.goto("/staff/")
    _try(page, "locked.web")
    expect(page.get_by_role("alert")).to_have_text(
        "密码输错次数太多，账号已锁定。请联系管理员解锁。"
    )
    _try(page, "waiting.web")
    expect(page.get_by_role("alert")).to_contain_text("请等")
    expect(page.get_by_role("alert")).to_contain_text("秒再试")
    _try(page, "nobody.web")
    expect(page.get_by_role("alert")).to_have_text("用户名或密码不对。")
