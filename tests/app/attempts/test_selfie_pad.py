"""The selfie's print and screen cues as the attempt job measures them (decode, main face, cues)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.attempts.processing import selfie_presentation_cues
from app.config import Environment, Settings
from app.faces import service as faces
from biometrics import DlibFaceEngine
from biometrics.pad import SCREEN_CUES
from tests.conftest import FIXTURES, TEST_SECRET


@pytest.fixture(scope="module")
def plain_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # No database is touched: only the photo limits are read.
    return Settings(
        env=Environment.test,
        data_dir=tmp_path_factory.mktemp("var"),
        database_url="sqlite://",
        secret_key=TEST_SECRET,
    )


def test_screens_held_up_for_the_selfie_are_flagged(
    face_engine: DlibFaceEngine, plain_settings: Settings
) -> None:
    """The first ten real screen replays of attacks/ (iPad and iPhone), in the labels' order:
    over the 70 the cues catch 60 (scripts/measure_pad.py)."""
    replays = sorted((FIXTURES / "attacks").glob("replay_msu_*.jpg"))[:10]
    flagged = 0
    for photo in replays:
        data = photo.read_bytes()
        analysis = faces.analyze(data, engine=face_engine, settings=plain_settings, gate="selfie")
        cues = selfie_presentation_cues(data, analysis=analysis, settings=plain_settings)
        assert cues is not None, photo.name
        flagged += bool(set(cues.fired) & SCREEN_CUES) and cues.score >= 1.0
    assert flagged >= 8


@pytest.mark.parametrize("photo", sorted((FIXTURES / "faces" / "compreface_A").glob("*.jpg")))
def test_full_resolution_phone_selfies_are_never_taken_for_a_screen(
    face_engine: DlibFaceEngine, plain_settings: Settings, photo: Path
) -> None:
    """12-36 MP phone photos, decoded the way the job decodes them (DCT-scaled)."""
    data = photo.read_bytes()
    analysis = faces.analyze(data, engine=face_engine, settings=plain_settings, gate="selfie")
    cues = selfie_presentation_cues(data, analysis=analysis, settings=plain_settings)
    assert cues is not None
    assert not set(cues.fired) & SCREEN_CUES
