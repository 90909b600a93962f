"""The pensioner's page end to end in Chromium: log in with a texted code, consent, take the
selfie with live hints, record the challenge from the (fake) camera, upload, see the result."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from biometrics import DlibFaceEngine
from models.attempt import AttemptStatus, CertificationAttempt
from models.certification import Certification, CertificationMethod
from models.pensioner import Pensioner
from tests.app.attempts.clips import enrol_clip_person
from tests.conftest import Factory
from tests.web.conftest import Live

Shot = Callable[[Page, str], Path]


def log_in(page: Page, live: Live, pensioner: Pensioner, shot: Shot | None = None) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    if shot:
        shot(page, "01-login")
    page.get_by_label("身份证号码").fill(pensioner.national_id)
    sent_after = time.time() - 1
    page.get_by_role("button", name="获取验证码").click()
    code = live.login_code(pensioner.phone, after=sent_after)
    expect(page.get_by_label("短信验证码（6位数字）")).to_be_focused()
    page.get_by_label("短信验证码（6位数字）").fill(code)
    if shot:
        shot(page, "02-code")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_role("heading", name=f"您好，{pensioner.name}")).to_be_visible()


def test_a_pensioner_certifies_with_selfie_and_challenge_video(
    page: Page, live: Live, seed: Factory, face_engine: DlibFaceEngine, shot: Shot, cohort: None
) -> None:
    pensioner = enrol_clip_person(seed.session, seed, live.settings, face_engine, sole=True)
    live.reset_challenges()  # the clip blinks, then opens the mouth
    log_in(page, live, pensioner, shot)
    expect(page.locator("#cert-status")).to_contain_text("还没有做过资格认证")
    shot(page, "03-home")

    page.get_by_role("button", name="开始认证").click()
    expect(page.get_by_role("heading", name="开始前请阅读")).to_be_focused()
    expect(page.locator("#consent-keep")).to_contain_text(
        f"{live.settings.media_retention_days} 天后删除"
    )
    page.get_by_role("button", name="下一步").click()
    expect(page.get_by_role("alert")).to_have_text("请先勾选“我已阅读并同意”。")
    page.get_by_label("我已阅读并同意").check()
    page.get_by_label("有人在帮我操作").check()
    page.get_by_label("帮忙的人（例如：女儿 李娜）").fill("儿子 王强")
    shot(page, "04-consent")
    page.get_by_role("button", name="下一步").click()

    expect(page.get_by_role("heading", name="拍照前的准备")).to_be_visible()
    shot(page, "05-guide")
    page.get_by_role("button", name="打开摄像头").click()

    # The live check turns the outline green once the service finds a usable face.
    expect(page.get_by_role("heading", name="拍一张正脸照片")).to_be_visible()
    expect(page.locator("#oval")).to_have_class("good", timeout=30_000)
    expect(page.locator("#selfie-hint")).to_have_text("很好，请保持不动，然后点“拍照”。")
    shot(page, "06-selfie")
    page.get_by_role("button", name="拍照").click()

    expect(page.get_by_role("heading", name="按提示做动作")).to_be_visible()
    expect(page.locator("#action-list li")).to_have_text(["眨眨眼睛", "张开嘴巴，再合上"])
    shot(page, "07-before-recording")
    page.get_by_role("button", name="开始录像").click()
    expect(page.locator("#action-prompt")).to_have_text("第 1 步，共 2 步：眨眨眼睛")
    expect(page.locator("#recording-badge")).to_be_visible()
    shot(page, "08-recording-step-1")
    expect(page.locator("#action-prompt")).to_have_text("第 2 步，共 2 步：张开嘴巴，再合上")
    shot(page, "09-recording-step-2")

    expect(page.get_by_role("heading", name="正在上传")).to_be_visible(timeout=20_000)
    shot(page, "10-upload")
    expect(page.locator("#screen-result")).to_be_visible(timeout=120_000)
    shot(page, "11-result")
    with Session(live.test_engine) as db:
        attempt = db.exec(
            select(CertificationAttempt).where(CertificationAttempt.pensioner_id == pensioner.id)
        ).one()
        decision = json.dumps(attempt.decision)
        assert attempt.status is AttemptStatus.certified, (attempt.reasons, decision)
    expect(page.get_by_role("heading", name="认证成功")).to_be_visible()
    expect(page.locator("#result-steps")).to_contain_text("认证成功，有效期至")

    with Session(live.test_engine) as db:
        attempt = db.exec(
            select(CertificationAttempt).where(CertificationAttempt.pensioner_id == pensioner.id)
        ).one()
        assert attempt.operated_by == "儿子 王强"
        assert attempt.decision["video"]["codec"] in ("vp8", "vp9")
        certification = db.exec(
            select(Certification).where(Certification.pensioner_id == pensioner.id)
        ).one()
        assert certification.method is CertificationMethod.remote_self_service

    page.get_by_role("button", name="完成").click()
    expect(page.locator("#cert-status")).to_contain_text("您的资格认证有效")
    # English on request, remembered on this device.
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name=f"Hello, {pensioner.name}")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "12-home-english")


def test_the_login_works_with_the_keyboard_alone(page: Page, live: Live, seed: Factory) -> None:
    """The page starts on its heading; Tab reaches the ID field, Shift+Tab the language button
    and the skip link; Enter submits; focus follows each step."""
    pensioner = seed.pensioner("110105", name="键盘丑")
    assert isinstance(pensioner, Pensioner)
    page.goto("/")
    expect(page.get_by_role("heading", name="登录")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="English")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("link", name="跳到主要内容")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_label("身份证号码")).to_be_focused()
    page.keyboard.type(pensioner.national_id)
    sent_after = time.time() - 1
    page.keyboard.press("Enter")
    code = live.login_code(pensioner.phone, after=sent_after)
    expect(page.get_by_label("短信验证码（6位数字）")).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="您好，键盘丑")).to_be_focused()
