"""Booking a video call from the pensioner's page in Chromium: times in the pensioner's own
zone (New Zealand, UTC+13) for an agent working in Shanghai (UTC+8), moving the booking after
switching the zone, cancelling it, and the consular certificate upload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from models.attempt import AttemptStatus
from models.consular import ConsularDocument, DocumentStatus
from models.video_call import AppointmentStatus, VideoAppointment
from tests.conftest import FIXTURES, Factory
from tests.web.conftest import Live, signed_in
from tests.web.worlds import abroad, video_agent

Shot = Callable[[Page, str], Path]


def test_a_pensioner_abroad_books_moves_and_cancels_a_call(
    page: Page, live: Live, seed: Factory, shot: Shot
) -> None:
    video_agent(seed, username="agent.booking")
    pensioner = abroad(seed, name="预约己")
    signed_in(page, seed, pensioner)
    expect(page.get_by_role("heading", name="视频认证")).to_be_visible()
    expect(page.locator("#appointments")).to_contain_text("您还没有预约。")
    shot(page, "01-home")

    page.get_by_role("button", name="预约视频认证").click()
    expect(page.get_by_role("heading", name="选择视频认证时间")).to_be_visible()
    expect(page.get_by_label("时间显示为")).to_have_value("Pacific/Auckland")
    # 09:00 in Shanghai (UTC+8) is 14:00 in Auckland in summer (UTC+13). The second day's
    # slot is always more than the 12 hours' change notice away, so it can still be moved.
    first = page.get_by_role("radio", name="14:00–14:20").nth(1)
    expect(first).to_be_visible()
    expect(page.get_by_role("radio", name="09:00–09:20")).to_have_count(0)
    shot(page, "02-slots-auckland")
    first.check()
    page.get_by_role("button", name="预约这个时间").click()
    expect(page.get_by_role("status")).to_contain_text("预约成功")
    booked = page.locator("#appointments li").filter(has_text="已预约")
    expect(booked).to_contain_text("14:00–14:20（Pacific/Auckland）")
    shot(page, "03-booked")

    booked.get_by_role("button", name="改时间").click()
    page.get_by_label("时间显示为").select_option("Asia/Shanghai")
    later = page.get_by_role("radio", name="09:20–09:40").nth(1)
    expect(later).to_be_visible()
    shot(page, "04-slots-shanghai")
    later.check()
    page.get_by_role("button", name="预约这个时间").click()
    moved = page.locator("#appointments li").filter(has_text="已预约")
    expect(moved).to_contain_text("09:20–09:40（Asia/Shanghai）")
    expect(page.locator("#appointments li").filter(has_text="已改期")).to_have_count(1)
    shot(page, "05-moved")

    page.once("dialog", lambda dialog: dialog.accept())
    moved.get_by_role("button", name="取消预约").click()
    expect(page.get_by_role("status")).to_have_text("已取消预约。")
    expect(page.get_by_role("button", name="预约视频认证")).to_be_visible()
    shot(page, "06-cancelled")

    with Session(live.test_engine) as db:
        rows = db.exec(
            select(VideoAppointment).where(VideoAppointment.pensioner_id == pensioner.id)
        ).all()
        assert sorted(r.status.value for r in rows) == ["cancelled", "rescheduled"]
        assert {r.timezone for r in rows} == {"Pacific/Auckland", "Asia/Shanghai"}
        new = next(r for r in rows if r.status is AppointmentStatus.cancelled)
        assert new.starts_at.minute == 20 and new.starts_at.hour == 1  # 09:20 Shanghai in UTC


def test_a_pensioner_abroad_uploads_a_consular_certificate(
    page: Page, live: Live, seed: Factory, shot: Shot
) -> None:
    pensioner = abroad(seed, name="证明庚")
    signed_in(page, seed, pensioner)
    page.get_by_role("button", name="上传领事馆证明").click()
    expect(page.get_by_role("heading", name="上传领事馆生存证明")).to_be_visible()
    page.get_by_role("button", name="上传").click()
    expect(page.get_by_role("alert")).to_have_text("请先选择文件。")
    page.get_by_label("证明文件").set_input_files(
        files=[{"name": "cert.pdf", "mimeType": "application/pdf", "buffer": b"not really a pdf"}]
    )
    page.get_by_role("button", name="上传").click()
    expect(page.get_by_role("alert")).to_contain_text("PDF、JPG 或 PNG")
    scan = FIXTURES / "faces" / "fr_biden" / "1.jpg"  # any real JPEG stands in for a scan
    page.get_by_label("证明文件").set_input_files(str(scan))
    page.get_by_label("出具的使领馆（例如：驻德国使馆）").fill("驻新西兰使馆")
    page.get_by_role("button", name="上传").click()
    expect(page.get_by_role("status")).to_have_text("已上传，工作人员核对后会通知您。")
    expect(page.locator("#consular-docs li")).to_contain_text("待核对")
    shot(page, "01-uploaded")
    with Session(live.test_engine) as db:
        document = db.exec(
            select(ConsularDocument).where(ConsularDocument.pensioner_id == pensioner.id)
        ).one()
        assert document.status is DocumentStatus.pending
        assert document.consulate == "驻新西兰使馆" and document.file_format == "jpeg"


def test_after_a_lockout_the_page_offers_a_video_call(
    page: Page, live: Live, seed: Factory, shot: Shot
) -> None:
    """Remote tries locked after failures: the page says so and offers the human routes, with
    booking a call right there (nobody is told to travel to an office)."""
    video_agent(seed, username="agent.lockout")
    pensioner = seed.pensioner("110105", name="锁定寅")
    seed.face(pensioner)
    for _ in range(live.settings.attempts_failed_limit):
        attempt = seed.attempt(pensioner)
        attempt.status = AttemptStatus.rejected  # type: ignore[attr-defined]
        seed.session.add(attempt)
    seed.session.commit()
    signed_in(page, seed, pensioner)
    page.get_by_role("button", name="开始认证").click()
    page.get_by_label("我已阅读并同意").check()
    page.get_by_role("button", name="下一步").click()
    page.get_by_role("button", name="打开摄像头").click()
    expect(page.get_by_role("heading", name="其他认证方式")).to_be_focused()
    expect(page.locator("#routes-why")).to_contain_text("手机认证暂时关闭")
    expect(page.get_by_text("您不需要回到参保地或跑到窗口办理。")).to_be_visible()
    shot(page, "01-routes")
    page.locator("#routes-book").click()
    expect(page.get_by_role("heading", name="选择视频认证时间")).to_be_visible()
    expect(page.get_by_label("时间显示为")).to_have_value("Asia/Shanghai")
    expect(page.get_by_role("radio").first).to_be_visible()
    shot(page, "02-slots")
