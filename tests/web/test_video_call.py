"""A real two-party video call in headless Chromium: the pensioner's page (its fake camera
plays a fixture clip of a woman) and the agent's console (another browser, Chromium's own
test pattern as camera) connect through the service's signalling; the agent sees the pensioner,
captures a frame that the face engine matches to the enrolled photo, asks for a read-aloud
code that appears on the pensioner's screen, and records the certification."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect
from sqlmodel import Session, select

from app.audit.service import SYSTEM
from app.faces import service as faces
from biometrics import DlibFaceEngine
from models.certification import Certification, CertificationMethod
from models.pensioner import Pensioner, Residence
from models.video_call import AppointmentStatus, VideoAppointment
from tests.app.attempts.clips import LIVE, frame_jpeg
from tests.conftest import Factory
from tests.web.conftest import CHROMIUM, QUIET, Live, open_page, signed_in, write_y4m
from tests.web.test_staff_console import staff_login
from tests.web.waits import wait_until
from tests.web.worlds import call_now

Shot = Callable[[Page, str], Path]
PLAYING = "v => v.videoWidth > 0 && v.readyState >= 2 && !v.paused"


def _wait_playing(page: Page, selector: str, timeout_s: float = 30.0) -> None:
    assert wait_until(page.locator(selector), PLAYING, timeout_s=timeout_s), (
        f"{selector} never started playing"
    )


# A woman facing the camera, someone other than the man of the selfie-page tests.
CALLER_CLIP = LIVE / "liveportrait_driving_d6.mp4"


def launch_with_camera(playwright: Playwright, camera: Path | None, *args: str) -> Browser:
    """Chromium with a fake camera: the clip `camera` (a .y4m), or else Chromium's generated
    test pattern; `args` are further command-line switches."""
    played = [f"--use-file-for-fake-video-capture={camera}"] if camera else []
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[
            *QUIET,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            *played,
            *args,
        ],
    )


def caller_camera(folder: Path) -> Path:
    """CALLER_CLIP as the pensioner's fake camera."""
    return write_y4m(CALLER_CLIP, folder / "caller.y4m", width=480, height=480, fps=15, seconds=9)


@pytest.fixture(scope="module")
def agent_browser(playwright: Playwright) -> Iterator[Browser]:
    """A second browser: its camera is Chromium's generated test pattern, not the clip."""
    browser = launch_with_camera(playwright, None)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def caller_browser(
    playwright: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    """The pensioner's browser: its camera plays CALLER_CLIP."""
    browser = launch_with_camera(playwright, caller_camera(tmp_path_factory.mktemp("caller")))
    yield browser
    browser.close()


def pensioner_waits(home: Page) -> None:
    """The pensioner, abroad, joins the call from the home page and waits for the agent."""
    booking = home.locator("#appointments li").filter(has_text="Pacific/Auckland")
    expect(booking).to_contain_text("已预约")
    booking.get_by_role("button", name="进入视频").click()
    expect(home.locator("#call-state")).to_have_text("正在等待工作人员进入……")


def agent_connects(console: Page, home: Page, pensioner: Pensioner, username: str) -> None:
    """The agent opens the call beside the register data and connects; both videos play."""
    staff_login(console, username)
    expect(console.get_by_role("heading", name="我的视频认证")).to_be_visible()
    console.get_by_role("link", name=f"打开 {pensioner.name}").click()
    expect(console.get_by_role("heading", name=f"视频认证：{pensioner.name}")).to_be_visible()
    expect(console.get_by_role("img", name=f"{pensioner.name} 的登记照片 1")).to_be_visible()
    expect(console.locator("#call-facts")).to_contain_text(pensioner.national_id)
    console.get_by_role("button", name="连接视频").click()
    expect(console.locator("#call-state")).to_have_text("已接通", timeout=30_000)
    _wait_playing(console, "#call-remote")
    _wait_playing(home, "#remote-video")
    expect(home.locator("#call-state")).to_have_text("已接通。请看着屏幕，按工作人员的要求做。")


def read_aloud(console: Page, home: Page) -> str:
    """The agent asks for a read-aloud code; it appears on the pensioner's screen."""
    console.get_by_role("button", name="请对方念数字").click()
    expect(console.locator("#call-code")).to_contain_text("对方已收到")
    code = console.locator("#call-code").inner_text().split("：")[1][:4]
    expect(home.locator("#call-code-digits")).to_have_text(code)
    return code


@pytest.fixture
def console(agent_browser: Browser, live: Live) -> Iterator[Page]:
    yield from open_page(agent_browser, live)


@pytest.fixture
def caller(caller_browser: Browser, live: Live) -> Iterator[Page]:
    yield from open_page(caller_browser, live, width=390, height=844)


def test_an_agent_certifies_a_pensioner_abroad_on_a_video_call(
    caller: Page,
    console: Page,
    cohort: None,
    live: Live,
    seed: Factory,
    face_engine: DlibFaceEngine,
    shot: Shot,
) -> None:
    pensioner = seed.pensioner("110105")
    assert isinstance(pensioner, Pensioner)
    faces.enrol(
        session=seed.session,
        settings=seed.settings,
        engine=face_engine,
        pensioner=pensioner,
        data=frame_jpeg(CALLER_CLIP, 15),
        actor=SYSTEM,
    )
    pensioner.residence = Residence.overseas
    pensioner.overseas_country = "NZ"
    pensioner.overseas_timezone = "Pacific/Auckland"
    agent = seed.staff("video_agent", scope="11", username="agent.web")
    seed.session.add(pensioner)
    seed.session.commit()
    appointment = call_now(seed, pensioner, agent)  # type: ignore[arg-type]

    # The pensioner, in New Zealand, joins from the home page.
    home = signed_in(caller, seed, pensioner)
    shot(home, "pensioner-01-home")
    pensioner_waits(home)
    shot(home, "pensioner-02-waiting")

    # The agent opens the call beside the register data and the enrolled photo.
    agent_connects(console, home, pensioner, "agent.web")
    shot(console, "agent-01-connected")
    shot(home, "pensioner-03-connected")

    # The face check on a frame of the incoming video.
    console.get_by_role("button", name="截取画面比对").click()
    expect(console.locator("#call-frames tbody tr")).to_have_count(1, timeout=20_000)
    expect(console.locator("#call-frames tbody tr").first).to_contain_text("match")
    expect(console.get_by_role("status")).to_contain_text("结论: match")

    # The read-aloud code appears on the pensioner's screen.
    code = read_aloud(console, home)
    shot(home, "pensioner-04-code")
    shot(console, "agent-02-checked")

    console.get_by_label("认证通过", exact=True).check()
    console.get_by_role("button", name="记录结果").click()
    expect(console.get_by_role("status")).to_have_text("已记录：认证通过")
    expect(home.locator("#call-state")).to_have_text("认证成功，谢谢您！")
    shot(console, "agent-03-recorded")
    shot(home, "pensioner-05-certified")

    with Session(live.test_engine) as db:
        done = db.get(VideoAppointment, appointment.id)
        assert done is not None and done.status is AppointmentStatus.certified
        assert [c["code"] for c in done.read_codes] == [code]
        certification = db.exec(
            select(Certification).where(Certification.pensioner_id == pensioner.id)
        ).one()
        assert certification.method is CertificationMethod.video_call
        assert certification.evidence["frames"][0]["decision"] == "match"
