"""Passive presentation-attack detection on attacks made by biometrics.attacks, and no attack
reason on genuine clips as phones and messaging apps re-encode them.

Each generated clip is what a cheap webcam (640x480, 12-15 fps, noise, soft focus, strong
compression) sees of the attack named in the test. The prints are bent and tilted in 3-D, so
they are not a single plane: the checks must see them as flat anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from biometrics import DlibFaceEngine, LivenessPolicy, LivenessReason, LivenessResult, VideoLimits
from biometrics import attacks as gen
from biometrics.liveness import (
    PASSIVE_ATTACK_REASONS,
    Action,
    ActionEvent,
    PlanarPair,
    _PlanarProbe,
    analyze_liveness,
)

Analyse = Callable[[Path, str], LivenessResult]


@pytest.fixture(scope="module")
def analyse(engine: DlibFaceEngine) -> Analyse:
    def run(video: Path, challenge: str) -> LivenessResult:
        return analyze_liveness(
            video,
            challenge=challenge.split(","),
            engine=engine,
            # These tests are about what the checks see, not about time: a machine busy with
            # other work must not turn them into VideoDecodeTimeout (tested in test_bio_video).
            limits=VideoLimits(time_budget_s=600.0),
            policy=LivenessPolicy(),
        )

    return run


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pad")


@pytest.fixture(scope="module")
def live(fixtures_dir: Path) -> Path:
    return fixtures_dir / "videos" / "live"


@pytest.mark.parametrize(
    "photo", ["faces/fr_kit_harington/1.jpg", "spoof/live/silentface_image_T1.jpg"]
)
def test_print_tilted_to_fake_the_turns_is_planar(
    analyse: Analyse, fixtures_dir: Path, made: Path, photo: str
) -> None:
    """A printed photo, bent and held by hand, turned 35 degrees to each side for a
    turn_left,turn_right challenge: the way prints got through before. Caught by its own
    motion (one plane), not only by the missing turns. No turn was seen, so the plane is
    judged on the whole clip: a review, since a shaken phone could look the same."""
    picture = gen.load_photo(fixtures_dir / photo)
    path = gen.bent_print(picture, made / f"turned_{Path(photo).parent.name}.mp4", motion="turn")
    result = analyse(path, "turn_left,turn_right")
    assert not result.live
    assert not result.matched
    assert LivenessReason.PLANAR_LIKE in result.passive_reasons
    planar = result.checks["planar_motion"]
    assert planar.details["median_motion"] >= LivenessPolicy().planar_min_motion
    assert planar.details["residual_per_motion"] < LivenessPolicy().min_residual_per_motion
    assert result.attack_score >= 1.0


def test_swaying_bent_print_is_caught_passively(
    analyse: Analyse, fixtures_dir: Path, made: Path
) -> None:
    """A print bowed by 12 % of its width, swaying in the hand for a blink challenge."""
    picture = gen.load_photo(fixtures_dir / "faces/deepface_c05/1.jpg")
    path = gen.bent_print(picture, made / "sway.mp4", motion="sway", bend=0.12, seed=7)
    result = analyse(path, "blink")
    assert not result.live
    assert {
        LivenessReason.PLANAR_MOTION,
        LivenessReason.PLANAR_LIKE,
        LivenessReason.PRINTED_PHOTO,
    } & set(result.passive_reasons)


@pytest.mark.parametrize("still", ["print_msu_002.jpg", "print_msu_005.jpg"])
def test_real_print_still_moved_by_hand_is_caught(
    analyse: Analyse, fixtures_dir: Path, made: Path, still: str
) -> None:
    """A real printed photo as a camera saw it (attacks/), moved as a hand moves it."""
    picture = gen.load_photo(fixtures_dir / "attacks" / still, size=(720, 480))
    path = gen.recaptured_still(picture, made / f"msu_{still}.mp4", motion="turn", seed=3)
    result = analyse(path, "turn_left,turn_right")
    assert not result.live
    assert result.passive_reasons


@pytest.mark.parametrize("device", ["phone", "tablet"])
def test_replay_of_a_genuine_blink_is_a_screen(
    analyse: Analyse, live: Path, made: Path, device: str
) -> None:
    """The live clip, with its real blinks, played on a screen held up to the webcam: the
    challenge is met, so only the screen cues can refuse it."""
    path = gen.on_screen(
        live / "liveportrait_driving_d3.mp4",
        made / f"{device}.mp4",
        device=device,  # type: ignore[arg-type]
    )
    result = analyse(path, "blink")
    assert result.matched
    assert not result.live
    assert LivenessReason.SCREEN_REPLAY in result.passive_reasons


@pytest.mark.parametrize(
    ("clip", "action"),
    [("liveportrait_driving_d3.mp4", "blink"), ("liveportrait_driving_d0.mp4", "open_mouth")],
)
@pytest.mark.parametrize(
    "variant",
    ["12fps_dropped", "15fps_crf36", "rotated", "doubled"],
)
def test_re_encoded_live_clip_gets_no_attack_reason(
    analyse: Analyse, live: Path, made: Path, clip: str, action: str, variant: str
) -> None:
    """A genuine clip as a slow phone (12 fps, every 9th frame dropped), a messaging app
    (15 fps, CRF 36), a phone storing it upside down with rotation metadata, or an encoder
    doubling every frame leaves it: never an attack reason."""
    source = live / clip
    path = made / f"{Path(clip).stem}_{variant}.mp4"
    if variant == "12fps_dropped":
        gen.reencoded(source, path, fps=12, drop_every=9)
    elif variant == "15fps_crf36":
        gen.reencoded(source, path, fps=15, crf=36)
    elif variant == "rotated":
        frames = ((t, im[::-1, ::-1].copy()) for t, im in gen.read_frames(source))
        gen.write_clip(path, frames, rotation=180)
    else:
        pairs = list(gen.read_frames(source))[::2]
        gen.write_clip(path, ((i / 30.0, pairs[i // 2][1]) for i in range(2 * len(pairs))))
    result = analyse(path, action)
    assert not set(result.reasons) & PASSIVE_ATTACK_REASONS, (result.reasons, result.checks)
    assert result.live, (result.reasons, result.checks)
    assert result.attack_score < 1.0


def test_splice_next_to_the_action_is_injected(analyse: Analyse, live: Path, made: Path) -> None:
    """Five seconds cut from the middle of a talking clip and the ends joined with no gap: a
    recording edited to bring an action next to another. The picture jumps in one step."""
    path = gen.spliced(live / "liveportrait_driving_d14.mp4", made / "spliced.mp4", cut=(1.0, 6.0))
    result = analyse(path, "blink")
    check = result.checks["injected_or_edited"]
    assert check.details["cuts"] >= 1
    assert LivenessReason.INJECTED_OR_EDITED in result.passive_reasons


def _probe_with(residual: float, motion: float) -> _PlanarProbe:
    probe = _PlanarProbe(policy=LivenessPolicy())
    for i in range(12):
        probe.pairs.append(PlanarPair(residual=residual, median_residual=residual, motion=motion))
        probe.times.append(0.3 * i)
    return probe


def test_a_turn_performed_by_a_plane_refuses_and_a_plane_elsewhere_asks_for_review() -> None:
    """Pairs whose worst residual is above tracking noise but small for how far the face
    moved (0.15 of the motion): planar. Refusing only where a turn was performed."""
    flat = _probe_with(residual=0.03, motion=0.2)
    alone = flat.check()
    assert not alone.passed and alone.details["refusing"] == 0.0
    turned = flat.check([ActionEvent(Action.TURN_LEFT, 1.5)])
    assert not turned.passed and turned.details["refusing"] == 1.0
    assert turned.details["turn_residual_per_motion"] < LivenessPolicy().min_residual_per_motion
    # A face whose residual is of the order of its motion (relief, eyelids) is not a plane.
    relief = _probe_with(residual=0.12, motion=0.2).check([ActionEvent(Action.TURN_LEFT, 1.5)])
    assert relief.passed and relief.details["refusing"] == 0.0
    # Within tracking noise everywhere (no blink, no word in the clip): refusing on its own.
    frozen = _probe_with(residual=0.01, motion=0.2).check()
    assert not frozen.passed and frozen.details["refusing"] == 1.0
