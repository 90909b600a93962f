"""Browser tests: the real service on a local port, a real headless Chromium (Debian's package,
driven by Playwright) whose fake camera plays a fixture clip, and screenshots of every step
under test-artifacts/web/."""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.attempts.service import make_rng
from app.config import Environment, Settings
from app.db import make_engine
from app.main import create_app
from app.migrate import upgrade
from biometrics import DlibFaceEngine
from tests.app.attempts.clips import SEED_BLINK_THEN_MOUTH, SELFIE_CLIP, enrol_cohort
from tests.conftest import REPO_ROOT, TEST_SECRET, Factory

CHROMIUM = Path("/usr/bin/chromium")
_SEED_BLOCKS = itertools.count(1)
ARTIFACTS = REPO_ROOT / "test-artifacts" / "web"
# Without these, Chromium keeps trying to reach Google's servers, which this network refuses.
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # WebRTC on one machine: offer plain host addresses rather than mDNS names.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def write_y4m(
    source: Path, target: Path, *, width: int, height: int, fps: int, seconds: float
) -> Path:
    """A raw YUV4MPEG2 clip for Chromium's fake camera, resampled to a steady frame rate."""
    with av.open(str(source)) as container, target.open("wb") as out:
        stream = container.streams.video[0]
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        next_t = 0.0
        for frame in container.decode(video=0):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else next_t
            if t + 1e-6 < next_t:
                continue
            if t > seconds:
                break
            next_t += 1.0 / fps
            yuv = frame.reformat(width=width, height=height, format="yuv420p")
            out.write(b"FRAME\n")
            for index, plane in enumerate(yuv.planes):
                cols = width if index == 0 else width // 2
                rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
                out.write(rows[:, :cols].tobytes())
    return target


@dataclass
class Live:
    url: str
    settings: Settings
    engine: Engine  # the service's own (SQLite writes take the lock at BEGIN)
    test_engine: Engine  # the tests' view: plain transactions that never hold the write lock
    app: FastAPI

    def reset_challenges(self) -> None:
        """Draw challenges from the seeded start again (the next one is blink, open_mouth)."""
        self.app.state.challenge_rng = make_rng(self.settings)

    def login_code(self, phone: str, *, after: float, timeout: float = 10.0) -> str:
        """The code of the newest text message to this phone in the outbox."""
        digits = "".join(c for c in phone if c.isdigit())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = sorted(
                p
                for p in self.settings.outbox_dir.glob(f"*-{digits}.txt")
                if p.stat().st_mtime >= after
            )
            if messages:
                match = re.search(r"\b(\d{6})\b", messages[-1].read_text(encoding="utf-8"))
                assert match, messages[-1].read_text(encoding="utf-8")
                return match.group(1)
            time.sleep(0.1)
        raise AssertionError(f"no login code was sent to {phone}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, face_engine: DlibFaceEngine) -> Iterator[Live]:
    """The whole service (embedded job pool included) on a free port, with its own database."""
    root = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{root / 'lifecert.db'}"
    upgrade(url)
    settings = Settings(
        env=Environment.test,
        data_dir=root / "var",
        database_url=url,
        secret_key=TEST_SECRET,
        challenge_seed=SEED_BLINK_THEN_MOUTH,
        inprocess_workers=1,
        upload_purge_seconds=2.0,  # the expiry test waits for a round, not a minute
    )
    engine = make_engine(settings)
    app = create_app(settings, engine=engine, face_engine=face_engine)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    test_engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    yield Live(f"http://127.0.0.1:{port}", settings, engine, test_engine, app)
    server.should_exit = True
    thread.join(timeout=30)
    engine.dispose()
    test_engine.dispose()


@pytest.fixture(scope="session")
def cohort(live: Live, face_engine: DlibFaceEngine) -> None:
    """Other enrolled people, once per session, so face scores can be normalised."""
    with Session(live.test_engine, expire_on_commit=False) as session:
        factory = Factory(session, live.settings)
        factory.born += timedelta(days=next(_SEED_BLOCKS))
        enrol_cohort(session, factory, face_engine)


@pytest.fixture
def seed(live: Live) -> Iterator[Factory]:
    """Rows written straight into the live service's database."""
    with Session(live.test_engine, expire_on_commit=False) as session:
        factory = Factory(session, live.settings)
        # One database for the whole session: each test's people get their own ID numbers.
        factory.born += timedelta(days=next(_SEED_BLOCKS))
        yield factory


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The phone selfie clip (blinks at 1.5 s, opens the mouth clearly at 6.4 s) at 360x640, 15 fps;
    # almost all of it, so the 9.5 s recording of a two-step challenge does not loop back.
    target = tmp_path_factory.mktemp("camera") / "selfie.y4m"
    return write_y4m(SELFIE_CLIP, target, width=360, height=640, fps=15, seconds=11.6)


# Per module, not per session: Playwright's sync API keeps an event loop running in this
# thread while it is open, and a worker (pytest -n) may run asyncio tests after a browser module.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
            "(`make test` installs it with apt-get; or run `apt-get install chromium`)."
        )
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright, fake_camera: Path) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[
            *QUIET,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={fake_camera}",
        ],
    )
    yield browser
    browser.close()


def new_context(
    browser: Browser, live: Live | str, *, width: int = 1280, height: int = 900
) -> BrowserContext:
    """A context on the live service, or on another base URL (the topology's hosts)."""
    context = browser.new_context(
        base_url=live if isinstance(live, str) else live.url,
        viewport={"width": width, "height": height},
        locale="zh-CN",
        permissions=["camera"],
    )
    context.set_default_timeout(15_000)
    return context


def open_page(
    browser: Browser,
    live: Live | str,
    *,
    width: int = 1280,
    height: int = 900,
    init_script: str | None = None,
) -> Iterator[Page]:
    """A page in a fresh context; fails the test if the page's JavaScript threw."""
    context = new_context(browser, live, width=width, height=height)
    if init_script is not None:  # run before the page's own scripts, in every page
        context.add_init_script(script=init_script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    yield from open_page(browser, live)


def signed_in(page: Page, seed: Factory, pensioner: object) -> Page:
    """Open the pensioner page already logged in (the login itself is tested elsewhere)."""
    page.goto("/")
    page.evaluate(
        "t => sessionStorage.setItem('lifecert.pensioner.token', t)",
        seed.token(pensioner, "pensioner"),
    )
    page.goto("/")
    return page


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Save a full-page screenshot under test-artifacts/web/<test>/<step>.png."""
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)

    def take(page: Page, step: str) -> Path:
        path = folder / f"{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
