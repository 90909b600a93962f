"""The staff console in Chromium: a reviewer decides a case with the photos side by side; an
administrator finds a person, reads their history and audit trail, and opens the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect
from sqlmodel import Session, select

from biometrics import DlibFaceEngine
from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase, ReviewStatus
from models.certification import Certification, CertificationMethod
from models.video_call import AvailabilityException, AvailabilityRule
from tests.conftest import PASSWORD, Factory
from tests.web.conftest import Live
from tests.web.waits import wait_until
from tests.web.worlds import certified_history, review_case

Shot = Callable[[Page, str], Path]


def _loaded(image: Locator, timeout: float = 10.0) -> bool:
    """Whether the image finished loading with pixels (visible is not loaded: the bytes of a
    decrypted photo may still be on their way)."""
    return wait_until(image, "img => img.complete && img.naturalWidth > 0", timeout_s=timeout)


def staff_login(page: Page, username: str) -> None:
    page.goto("/staff/")
    expect(page.get_by_role("heading", name="工作人员登录")).to_be_visible()
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()


def test_a_reviewer_decides_a_case(
    page: Page, live: Live, seed: Factory, face_engine: DlibFaceEngine, shot: Shot
) -> None:
    case = review_case(seed, face_engine, name="复核甲")
    seed.staff("reviewer", scope="11", username="reviewer.web")

    page.goto("/staff/")
    page.get_by_label("用户名").fill("reviewer.web")
    page.get_by_label("密码").fill("wrong password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("用户名或密码不对。")
    shot(page, "01-login-refused")
    staff_login(page, "reviewer.web")

    expect(page.get_by_role("heading", name="待核对")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="复核甲")
    expect(row).to_contain_text("可比对的人太少")  # the reason cohort_too_small, in words
    shot(page, "02-queue")
    row.get_by_role("link", name="打开 复核甲").click()

    expect(page.get_by_role("heading", name="核对：复核甲")).to_be_visible()
    for alt in ("复核甲 的登记照片 1", "复核甲 本次自拍", "视频关键帧 1", "视频关键帧 2"):
        image = page.get_by_role("img", name=alt)
        expect(image).to_be_visible()
        assert _loaded(image), alt
    expect(page.locator("#review-scores")).to_contain_text("3.1")
    expect(page.locator("#review-liveness")).to_contain_text("challenge")
    shot(page, "03-case")

    # A refusal needs a reason; the form says so before anything is sent.
    page.get_by_label("不是本人或有疑问，不通过").check()
    page.get_by_role("button", name="提交结论").click()
    expect(page.get_by_role("alert")).to_have_text("不通过或要求重新认证时，请填写理由。")
    page.get_by_label("是本人，通过").check()
    page.get_by_role("button", name="提交结论").click()
    expect(page.get_by_role("status")).to_contain_text("已提交：已通过")
    shot(page, "04-decided")

    with Session(live.test_engine) as db:
        decided = db.get(ReviewCase, case.id)
        assert decided is not None and decided.status is ReviewStatus.approved
        attempt = db.get(CertificationAttempt, case.attempt_id)
        assert attempt is not None and attempt.status is AttemptStatus.certified
        certification = db.exec(
            select(Certification).where(Certification.pensioner_id == case.pensioner_id)
        ).one()
        assert certification.method is CertificationMethod.remote_self_service

    page.get_by_role("link", name="返回列表").click()
    expect(page.get_by_role("row").filter(has_text="复核甲")).to_have_count(0)


def test_an_administrator_reads_a_record_and_the_dashboard(
    page: Page, live: Live, seed: Factory, shot: Shot
) -> None:
    pensioner = certified_history(seed, name="档案乙")
    seed.staff("admin", scope="11", username="admin.web")
    staff_login(page, "admin.web")
    expect(page.get_by_role("heading", name="待核对")).to_be_visible()

    page.get_by_role("link", name="查询人员").click()
    page.get_by_label("身份证号码、姓名或电话").fill("档案乙")
    page.get_by_role("button", name="查询").click()
    expect(page.get_by_text("共 1 人")).to_be_visible()
    shot(page, "01-search")
    page.get_by_role("link", name="查看 档案乙").click()

    expect(page.get_by_role("heading", name="档案乙")).to_be_visible()
    expect(page.locator("#pensioner-facts")).to_contain_text(pensioner.national_id)
    history = page.locator("#pensioner-history tbody tr")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("数据比对")
    expect(history.nth(1)).to_contain_text("社区走访")
    expect(page.locator("#pensioner-audit")).to_contain_text("certification.")
    shot(page, "02-record")

    page.get_by_role("link", name="统计").click()
    expect(page.get_by_role("heading", name="统计", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name="近12个月每月认证人数（按方式）")).to_be_visible()
    expect(page.locator("#dash-table tbody tr")).to_have_count(12)
    expect(page.locator("#dash-methods")).to_contain_text("数据比对")
    shot(page, "03-dashboard")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    shot(page, "04-dashboard-english")


def test_a_video_agent_publishes_working_hours(
    page: Page, live: Live, seed: Factory, shot: Shot
) -> None:
    agent = seed.staff("video_agent", scope="11", username="agent.hours")
    staff_login(page, "agent.hours")
    page.get_by_role("link", name="工作时间").click()
    expect(page.get_by_role("heading", name="我的视频认证工作时间")).to_be_visible()
    page.get_by_label("我的时区").select_option("Europe/Berlin")
    page.get_by_role("button", name="增加时段").click()
    first = page.locator("#av-weekly .av-row").nth(0)
    first.get_by_label("星期").select_option(label="星期三")
    first.get_by_label("结束").fill("11:00")
    page.get_by_role("button", name="增加时段").click()
    second = page.locator("#av-weekly .av-row").nth(1)
    second.get_by_label("星期").select_option(label="星期三")
    second.get_by_label("开始").fill("10:30")
    second.get_by_label("结束").fill("12:00")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("alert")).to_contain_text("Wednesday: 09:00-11:00 overlaps 10:30-12:00")
    second.get_by_label("开始").fill("14:00")
    second.get_by_label("结束").fill("17:00")
    page.get_by_role("button", name="增加例外").click()
    leave = page.locator("#av-exceptions .av-row").nth(0)
    leave.get_by_label("从").fill("2026-12-24")
    leave.get_by_label("到（含）").fill("2026-12-26")
    leave.get_by_label("说明").fill("圣诞假期")
    shot(page, "01-hours")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_have_text("已保存。已预约的视频不受影响。")

    page.reload()
    expect(page.locator("#av-weekly .av-row")).to_have_count(2)
    expect(page.get_by_label("我的时区")).to_have_value("Europe/Berlin")
    with Session(live.test_engine) as db:
        rules = db.exec(
            select(AvailabilityRule).where(AvailabilityRule.agent_id == agent.id)  # type: ignore[attr-defined]
        ).all()
        assert sorted((r.weekday, str(r.start_time), str(r.end_time)) for r in rules) == [
            (2, "09:00:00", "11:00:00"),
            (2, "14:00:00", "17:00:00"),
        ]
        assert {r.timezone for r in rules} == {"Europe/Berlin"}
        leave_row = db.exec(
            select(AvailabilityException).where(
                AvailabilityException.agent_id == agent.id  # type: ignore[attr-defined]
            )
        ).one()
        assert (str(leave_row.starts_on), str(leave_row.ends_on)) == ("2026-12-24", "2026-12-26")


def test_a_reviewer_checks_a_photo_another_staff_member_enrolled(
    page: Page, live: Live, seed: Factory, face_engine: DlibFaceEngine, shot: Shot
) -> None:
    from app.audit.service import Actor
    from app.faces import service as faces
    from models.face import EnrolledFace
    from tests.web.worlds import ENROLMENT_PHOTO

    pensioner = seed.pensioner("110105", name="照片乙")
    worker = seed.staff("community_worker", scope="110105")
    face = faces.enrol(
        session=seed.session,
        settings=seed.settings,
        engine=face_engine,
        pensioner=pensioner,  # type: ignore[arg-type]
        data=ENROLMENT_PHOTO,
        actor=Actor("staff", str(worker.id)),  # type: ignore[attr-defined]
    )
    seed.session.commit()
    assert face.pending
    seed.staff("reviewer", scope="11", username="photos.web")
    staff_login(page, "photos.web")
    page.get_by_role("link", name="待核对照片").click()
    expect(page.get_by_role("heading", name="待核对的登记照片")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="第一张照片")
    expect(row).to_have_count(1)
    photo = row.get_by_role("img")
    expect(photo).to_be_visible()
    assert _loaded(photo)
    shot(page, "05-photos-to-check")
    row.get_by_role("button", name="是本人，启用").click()
    expect(page.get_by_role("status")).to_contain_text("已处理")
    expect(page.get_by_text("没有待核对的照片。")).to_be_visible()
    with Session(live.test_engine) as db:
        stored = db.get(EnrolledFace, face.id)
        assert stored is not None and stored.active and not stored.pending
