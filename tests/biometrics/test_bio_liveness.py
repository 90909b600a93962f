"""Video liveness on the real fixture clips and on attacks made from them (see attacks.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from biometrics import (
    Action,
    ActionEvent,
    DlibFaceEngine,
    FrameObservation,
    LivenessPolicy,
    LivenessReason,
    LivenessResult,
    MatchPolicy,
    Thresholds,
    VideoLimits,
    analyze_liveness,
    build_template,
    verify,
)
from biometrics.liveness import detect_actions, match_challenge
from biometrics.quality import head_pose
from tests.biometrics import attacks

Analyse = Callable[..., LivenessResult]
LIVE_CLIPS = [
    ("liveportrait_driving_d0.mp4", "open_mouth"),
    ("liveportrait_driving_d3.mp4", "blink"),
    ("liveportrait_driving_d6.mp4", "blink"),
    ("liveportrait_driving_d13.mp4", "blink"),
    ("liveportrait_driving_d14.mp4", "blink"),
]


@pytest.fixture(scope="module")
def analyse(engine: DlibFaceEngine) -> Analyse:
    def run(video: Path | bytes, challenge: str, **kwargs: object) -> LivenessResult:
        return analyze_liveness(
            video,
            challenge=challenge.split(","),
            engine=engine,
            limits=VideoLimits(),
            policy=LivenessPolicy(),
            **kwargs,  # type: ignore[arg-type]
        )

    return run


@pytest.fixture(scope="module")
def live(fixtures_dir: Path) -> Path:
    return fixtures_dir / "videos" / "live"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attacks")


@pytest.fixture(scope="module")
def photo(fixtures_dir: Path) -> np.ndarray:
    return attacks.load_photo(fixtures_dir / "faces" / "fr_obama" / "1.jpg")


# --- genuine clips ----------------------------------------------------------------------------


@pytest.mark.parametrize(("clip", "challenge"), LIVE_CLIPS)
def test_fixture_live_clip_passes_its_labelled_challenge(
    analyse: Analyse, live: Path, clip: str, challenge: str
) -> None:
    result = analyse(live / clip, challenge)
    assert result.live, (result.reasons, result.checks)
    assert [e.action.value for e in result.matched] == [challenge]
    assert result.score == 1.0
    assert result.frames_analyzed > 0 and result.ms > 0
    assert 2 <= len(result.embeddings) <= LivenessPolicy().embed_frames
    for name in (
        "still_image",
        "planar_motion",
        "screen_replay",
        "screen_like",
        "printed_photo",
        "injected_or_edited",
        "irregular_timing",
    ):
        check = result.checks[name]
        assert check.passed and check.threshold > 0, name
    assert result.passive_reasons == ()
    assert 0.0 < result.attack_score < 1.0


def test_low_resolution_clip_is_refused_as_face_too_small(analyse: Analyse, live: Path) -> None:
    """The 96x128 crop holds a 93 px face: below the 100 px floor of the selfie photo gate.

    Refused rather than passed on purpose: at that size an eyelid spans 3 to 4 pixels, so a
    blink is a few pixels of landmark movement, and the passive checks have almost nothing to
    work with (the moire spectrum needs 96 px of face texture, micro-motion is sub-pixel).
    Passing it would accept an attacker's downscaled replay the same way. The person is asked
    to hold the phone closer, exactly as for a photo; nothing else is wrong with the clip.
    """
    result = analyse(live / "lowres_talking_crop_96x128.mp4", "blink")
    assert not result.live
    assert result.reasons == (LivenessReason.FACE_TOO_SMALL,)
    assert result.checks["face_size"].value < 100


def test_frame_embeddings_verify_against_the_same_person(analyse: Analyse, live: Path) -> None:
    """The caller matches the clip's frame embeddings with the selfie or enrolled template."""
    result = analyse(live / "liveportrait_driving_d14.mp4", "blink")
    other = analyse(live / "liveportrait_driving_d3.mp4", "blink")
    probe = [f.embedding for f in result.embeddings]
    cohort = np.stack([f.embedding.vector for f in other.embeddings] * 8)
    template = build_template(probe[:1], cohort=cohort, policy=MatchPolicy(min_cohort_size=20))
    # The distance does not depend on the decision's bars; none are set.
    result = verify(
        probe[1:],
        template=template,
        policy=MatchPolicy(),
        thresholds=Thresholds(match=None, no_match=None),
    )
    assert result.distance < 0.45


# --- attacks ----------------------------------------------------------------------------------


def test_still_photo_as_video_is_not_live(analyse: Analyse, photo: np.ndarray, made: Path) -> None:
    """A photo injected as the camera feed: nothing moves."""
    result = analyse(attacks.still_photo_as_video(photo, made / "still.mp4"), "blink")
    assert not result.live
    assert LivenessReason.STILL_IMAGE in result.reasons
    assert LivenessReason.MISSING_ACTION in result.reasons


@pytest.mark.parametrize("source", ["faces/fr_obama/1.jpg", "spoof/attack/print_poster.jpg"])
def test_handheld_print_is_planar(
    analyse: Analyse, fixtures_dir: Path, made: Path, source: str
) -> None:
    """A printed photo moved, tilted and turned by hand: it moves, but as one flat sheet."""
    picture = attacks.load_photo(fixtures_dir / source)
    path = attacks.handheld_print(picture, made / f"print_{Path(source).stem}.mp4")
    result = analyse(path, "blink")
    assert not result.live
    assert LivenessReason.PLANAR_MOTION in result.reasons
    assert LivenessReason.STILL_IMAGE not in result.reasons  # it does move


def test_recording_with_the_blinks_cut_out_is_not_live(
    analyse: Analyse, live: Path, made: Path
) -> None:
    """A genuine recording with the asked-for action removed by a lossless trim."""
    path = attacks.without_spans(
        live / "liveportrait_driving_d3.mp4", made / "cut.mp4", spans=attacks.BLINK_SPANS_D3
    )
    result = analyse(path, "blink")
    assert not result.live
    assert LivenessReason.MISSING_ACTION in result.reasons
    # The trim left a hole in the timestamps: irregular, but a slow phone leaves holes too,
    # so it is not by itself an attack reason.
    assert LivenessReason.IRREGULAR_TIMING in result.reasons
    assert LivenessReason.INJECTED_OR_EDITED not in result.reasons
    assert result.checks["irregular_timing"].details["largest_gap_s"] > 0.5


def test_recording_made_for_another_challenge_is_in_the_wrong_order(
    analyse: Analyse, live: Path
) -> None:
    """A pre-recorded clip that opens the mouth and then blinks, replayed for blink-then-mouth."""
    result = analyse(live / "liveportrait_driving_d0.mp4", "blink,open_mouth")
    assert not result.live
    assert result.reasons == (LivenessReason.WRONG_ORDER,)


def test_clip_replayed_on_a_phone_screen_is_not_live(
    analyse: Analyse, live: Path, made: Path
) -> None:
    """A genuine clip (with real blinks) played on a phone held up to the camera."""
    path = attacks.on_a_screen(live / "liveportrait_driving_d14.mp4", made / "screen.mp4")
    result = analyse(path, "blink")
    assert not result.live
    assert LivenessReason.SCREEN_REPLAY in result.reasons
    assert result.matched  # the blinks were there: only the screen cues catch it
    details = result.checks["screen_replay"].details
    assert details["moire_peak"] > LivenessPolicy().max_moire_peak
    assert details["bezel_share"] >= 0.5


def test_duplicated_frames_are_reported_not_held_against_the_person(
    analyse: Analyse, live: Path, made: Path
) -> None:
    """Each frame twice at 30 fps: a phone in low light at 15 fps whose encoder fills a 30 fps
    stream (or a virtual camera). Repeats hide no action, so the clip is judged on its
    content; the share is kept in the checks."""
    path = attacks.duplicated_frames(live / "liveportrait_driving_d0.mp4", made / "dup.mp4")
    result = analyse(path, "open_mouth")
    assert result.live, (result.reasons, result.checks)
    assert result.checks["irregular_timing"].details["duplicate_share"] > 0.4


def test_irregular_timestamps_are_not_live(analyse: Analyse, live: Path, made: Path) -> None:
    """Half-second holes in the timeline: frames dropped by a stalled phone or re-timed by an
    editor. Sent to a person, not refused as an attack."""
    path = attacks.irregular_timestamps(live / "liveportrait_driving_d3.mp4", made / "gaps.mp4")
    result = analyse(path, "blink")
    assert not result.live
    assert result.reasons == (LivenessReason.IRREGULAR_TIMING,)


def test_screen_recorder_tag_is_not_live(analyse: Analyse, live: Path, made: Path) -> None:
    """A screen recording of a video playing on the phone, submitted as camera video."""
    path = attacks.screen_recorder_tagged(live / "liveportrait_driving_d14.mp4", made / "rec.mp4")
    result = analyse(path, "blink")
    assert not result.live
    assert result.reasons == (LivenessReason.INJECTED_OR_EDITED,)
    assert result.checks["injected_or_edited"].details["editing_tag"] == 1.0
    assert "recorder" in result.metadata.tags["stream:handler_name"].lower()


# --- who is in the picture --------------------------------------------------------------------


def test_no_face(analyse: Analyse, made: Path) -> None:
    result = analyse(attacks.empty_room(made / "wall.mp4"), "blink")
    assert not result.live
    assert LivenessReason.NO_FACE in result.reasons
    assert result.embeddings == ()


def test_two_faces_side_by_side(analyse: Analyse, live: Path, made: Path) -> None:
    path = attacks.side_by_side(
        live / "liveportrait_driving_d0.mp4", live / "liveportrait_driving_d3.mp4", made / "two.mp4"
    )
    result = analyse(path, "blink")
    assert not result.live
    assert LivenessReason.MULTIPLE_FACES in result.reasons


def test_face_that_leaves_the_frame(analyse: Analyse, live: Path, made: Path) -> None:
    path = attacks.face_leaves(live / "liveportrait_driving_d14.mp4", made / "leaves.mp4")
    result = analyse(path, "blink")
    assert not result.live
    assert LivenessReason.FACE_LEFT_FRAME in result.reasons
    assert result.checks["presence"].value < LivenessPolicy().min_presence


# --- action logic on scripted faces -----------------------------------------------------------


def _turning_face(yaw_at: Callable[[float], float]) -> list[FrameObservation]:
    """Observations of a synthetic head whose nose moves sideways by sin(yaw)."""
    observations = []
    for i in range(60):
        t = i / 15
        points = np.zeros((68, 2))
        points[0], points[16] = (0.0, 50.0), (100.0, 50.0)
        points[36:42], points[42:48] = (30.0, 40.0), (70.0, 40.0)
        points[30] = (50.0 + 50.0 * np.sin(np.radians(yaw_at(t))), 60.0)
        yaw, roll = head_pose(points)
        observations.append(
            FrameObservation(
                t=t,
                present=True,
                detected=True,
                face_count=1,
                landmarks=points,
                eye_ratio=0.3,
                yaw_deg=yaw,
                roll_deg=roll,
                eye_distance=40.0,
            )
        )
    return observations


def test_turn_towards_picture_right_is_the_persons_left() -> None:
    """Unmirrored, the camera sees the person's left side on the picture's right."""
    seen = _turning_face(lambda t: 30.0 if 1.5 < t < 2.5 else 0.0)
    events = detect_actions(seen, policy=LivenessPolicy(), mirrored=False)
    assert [e.action for e in events] == [Action.TURN_LEFT]
    mirrored = detect_actions(seen, policy=LivenessPolicy(), mirrored=True)
    assert [e.action for e in mirrored] == [Action.TURN_RIGHT]


def test_challenge_order() -> None:
    events = [ActionEvent(Action.BLINK, 1.0), ActionEvent(Action.TURN_LEFT, 2.0)]
    matched, missing, disordered = match_challenge([Action.BLINK, Action.TURN_LEFT], events)
    assert (len(matched), missing, disordered) == (2, 0, 0)
    assert match_challenge([Action.TURN_LEFT, Action.BLINK], events)[1:] == (0, 1)
    assert match_challenge([Action.OPEN_MOUTH], events)[1:] == (1, 0)


def test_unknown_action_is_refused(analyse: Analyse, live: Path) -> None:
    with pytest.raises(ValueError):
        analyse(live / "liveportrait_driving_d0.mp4", "smile")
