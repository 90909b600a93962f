"""The pensioner page's capture sizes are enough for the face engine: the fixture selfies
scaled to at most 1600 px on the long side at JPEG quality 85, and the live clips re-encoded as
the page records them (VP8 WebM, at most 640 px a side, 1 Mbit/s), give the same face and
liveness outcomes as the originals (static/js/pensioner/selfie.js, page.js, attempt.js)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from biometrics import (
    DecodeLimits,
    DlibFaceEngine,
    LivenessPolicy,
    QualityPolicy,
    VideoLimits,
    analyze_liveness,
    analyze_photo,
)

SELFIE_MAX_SIDE = 1600
SELFIE_QUALITY = 85
RECORDING_MAX_SIDE = 640
RECORDING_BITS_PER_SECOND = 1_000_000
FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
# Every fixture photo larger than the page's selfie (phone photos up to 7360 px).
BIG_PHOTOS = sorted(
    p for p in (FIXTURES / "faces").glob("*/*.jpg") if max(Image.open(p).size) > SELFIE_MAX_SIDE
)
# d13 (720x1280) is scaled down and re-encoded; d0 and d3 (512 px) are only re-encoded at the
# page's bitrate. d6 (33.6 s, 480 px) and d14 (17.9 s, 512 px) are left out: longer than the
# page ever records (3 actions x 4.5 s, attempt.js) and already under 640 px, they would only
# repeat d0 and d3's re-encoding at three times the cost.
LIVE_CLIPS = [
    ("liveportrait_driving_d0.mp4", "open_mouth"),
    ("liveportrait_driving_d3.mp4", "blink"),
    ("liveportrait_driving_d13.mp4", "blink,open_mouth"),
]


def as_page_selfie(data: bytes) -> bytes:
    """What selfie.js sends: the frame scaled to 1600 px on its long side, JPEG 0.85."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    scale = min(1.0, SELFIE_MAX_SIDE / max(image.size))
    size = (round(image.width * scale), round(image.height * scale))
    out = io.BytesIO()
    image.resize(size, Image.Resampling.BILINEAR).save(out, "JPEG", quality=SELFIE_QUALITY)
    return out.getvalue()


def as_page_recording(source: Path) -> bytes:
    """What attempt.js records: VP8 WebM, at most 640 px a side, about 1 Mbit/s."""
    out = io.BytesIO()
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        scale = min(1.0, RECORDING_MAX_SIDE / max(stream.width, stream.height))
        width, height = (
            round(stream.width * scale) // 2 * 2,
            round(stream.height * scale) // 2 * 2,
        )
        rate = Fraction(stream.average_rate or 30)
        with av.open(out, "w", format="webm") as target:
            encoder = target.add_stream("libvpx", rate=rate)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.bit_rate = RECORDING_BITS_PER_SECOND
            for index, frame in enumerate(container.decode(video=0)):
                small = frame.reformat(width=width, height=height, format="yuv420p")
                small.pts, small.time_base = index, 1 / rate
                target.mux(encoder.encode(small))
            target.mux(encoder.encode(None))
    return out.getvalue()


# Measured: this photo's face, downscaled to 1600 px and saved at JPEG 85, falls just under
# the sharpness bar (too_blurry: the pensioner is asked to take the selfie again, nothing is
# refused). Kept as a known difference that fails the run if it ever goes away unnoticed.
SOFTER_AT_PAGE_SIZE = {"deepface_c04/4.jpg"}


def _photo_case(photo: Path) -> object:
    name = f"{photo.parent.name}/{photo.name}"
    if name in SOFTER_AT_PAGE_SIZE:
        why = "too_blurry at 1600 px, sharp enough at full size"
        return pytest.param(photo, id=name, marks=pytest.mark.xfail(strict=True, reason=why))
    return pytest.param(photo, id=name)


@pytest.mark.parametrize("photo", [_photo_case(p) for p in BIG_PHOTOS])
def test_a_selfie_at_the_page_size_has_the_same_outcome(
    photo: Path, engine: DlibFaceEngine, limits: DecodeLimits, selfie: QualityPolicy
) -> None:
    original = photo.read_bytes()
    small = as_page_selfie(original)
    assert max(Image.open(io.BytesIO(small)).size) == SELFIE_MAX_SIDE
    full = analyze_photo(original, engine=engine, limits=limits, policy=selfie)
    page = analyze_photo(small, engine=engine, limits=limits, policy=selfie)
    assert page.ok == full.ok
    assert page.quality.face_count == full.quality.face_count
    assert {f.issue for f in page.quality.findings} == {f.issue for f in full.quality.findings}
    if full.embedding is not None:
        assert page.embedding is not None
        distance = float(np.linalg.norm(page.embedding.vector - full.embedding.vector))
        assert distance < 0.2, distance  # the same face (dlib's same-person line is 0.6)


@pytest.mark.parametrize(("name", "challenge"), LIVE_CLIPS)
def test_a_recording_at_the_page_size_is_judged_live_as_the_original_is(
    name: str, challenge: str, engine: DlibFaceEngine
) -> None:
    """The originals are live with their challenge and no reason (test_bio_liveness's
    `test_fixture_live_clip_passes_its_labelled_challenge` keeps that); the page-size
    recording must be judged the same way.
    Compared with that known outcome rather than by analysing the original again, which
    doubled the test's time (the 34 s clip alone took a minute)."""
    source = FIXTURES / "videos" / "live" / name
    recording = as_page_recording(source)
    with av.open(str(source)) as container:
        seconds = float(container.duration or 0) / av.time_base
    # About the page's bitrate (VP8 overshoots a little on short clips), whatever the length.
    assert len(recording) * 8 / seconds < 1.3 * RECORDING_BITS_PER_SECOND
    result = analyze_liveness(
        recording,
        challenge=challenge.split(","),
        engine=engine,
        # Generous: a loaded machine must not fail a comparison of outcomes.
        limits=VideoLimits(time_budget_s=600.0),
        policy=LivenessPolicy(),
    )
    assert result.live, result.reasons
    assert [e.action.value for e in result.matched] == challenge.split(",")
    assert sorted(result.reasons) == []
