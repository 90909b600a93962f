"""Video liveness: challenge actions in order, one person throughout, and passive spoof checks."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from biometrics.decode import RGBImage
from biometrics.engine import FaceEngine
from biometrics.face import DetectedFace, FaceBox, FaceEmbedding, FloatArray, stack_vectors
from biometrics.matching import cohort_distances
from biometrics.pad import (  # moire_peak and bezel_sides were defined here first
    SCREEN_CUES,
    PadCue,
    PadPolicy,
    PictureCues,
    picture_cues,
)
from biometrics.pad import (
    bezel_sides as bezel_sides,
)
from biometrics.pad import (
    moire_peak as moire_peak,
)
from biometrics.quality import eye_aspect_ratio, head_pose
from biometrics.video import (
    VideoFrame,
    VideoLimits,
    VideoMetadata,
    VideoSource,
    VideoTimeline,
    open_video,
)


class Action(StrEnum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    OPEN_MOUTH = "open_mouth"


class LivenessReason(StrEnum):
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_LEFT_FRAME = "face_left_frame"
    FACE_TOO_SMALL = "face_too_small"
    IDENTITY_CHANGED = "identity_changed"
    MISSING_ACTION = "missing_action"
    WRONG_ORDER = "wrong_order"
    STILL_IMAGE = "still_image"
    PLANAR_MOTION = "planar_motion"
    # The face moved as one plane, judged on the clip as a whole rather than on a performed
    # turn: a phone shaken in front of a still head moves the picture by one homography too.
    PLANAR_LIKE = "planar_like"
    SCREEN_REPLAY = "screen_replay"
    # Weaker evidence, from the look of the picture alone: a live person in harsh light or a
    # flat-lit room can show it too, so a person decides.
    SCREEN_LIKE = "screen_like"
    PRINTED_PHOTO = "printed_photo"
    INJECTED_OR_EDITED = "injected_or_edited"
    # Not an attack by itself: repeated frames or holes in the timeline are what slow phones,
    # variable frame rates and messaging apps' re-encoding leave. A person looks at the clip.
    IRREGULAR_TIMING = "irregular_timing"


# Reasons that are evidence of a presentation attack or an injected clip, measured passively
# (whatever the challenge), as opposed to a missing action or a capture problem.
PASSIVE_ATTACK_REASONS = frozenset(
    {
        LivenessReason.STILL_IMAGE,
        LivenessReason.PLANAR_MOTION,
        LivenessReason.PLANAR_LIKE,
        LivenessReason.SCREEN_REPLAY,
        LivenessReason.SCREEN_LIKE,
        LivenessReason.PRINTED_PHOTO,
        LivenessReason.INJECTED_OR_EDITED,
    }
)
# Of those, the ones whose evidence is only the picture's look (tone, glare, contrast), for
# which genuine photos show now and then (scripts/measure_pad.py), or planar motion of the whole
# clip, which a shaken phone can give a still live head: they call for a person's review rather
# than a refusal. The others are structural: a face that never leaves one plane by more than
# tracking noise, a turn performed by a plane, a device's edges or pixel grid, a frozen
# picture, an edit.
WEAK_PASSIVE_REASONS = frozenset(
    {LivenessReason.SCREEN_LIKE, LivenessReason.PRINTED_PHOTO, LivenessReason.PLANAR_LIKE}
)


# Substrings (lower case) of container tags written by screen recorders, virtual cameras and
# video editors. Plain transcoders (ffmpeg's Lavf, HandBrake) are not here: servers and
# messaging apps re-encode genuine clips with them.
DEFAULT_EDITING_MARKERS: tuple[str, ...] = (
    "screen",
    "recorder",
    "录屏",
    "屏幕录制",
    "obs",
    "bandicam",
    "camtasia",
    "sharex",
    "xrecorder",
    "mobizen",
    "manycam",
    "virtual cam",
    "virtualcam",
    "capcut",
    "jianying",
    "剪映",
    "快影",
    "inshot",
    "kinemaster",
    "premiere",
    "final cut",
    "imovie",
    "davinci",
    "filmora",
    "vivacut",
    "videoleap",
)

# iBUG 68-point indices: nose, eye corners and the top of the jaw move only with the head.
_RIGID_POINTS = np.array([0, 1, 15, 16, 27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45])
# iBUG 68-point indices for the parallax of a head turn: the outline beside the ears and the
# eye corners, which a homography between a frontal and a turned view maps as one surface ...
_PARALLAX_OUTER = np.array([0, 1, 2, 3, 13, 14, 15, 16, 36, 39, 42, 45])
# ... and the nose from its bridge to its tip, 2-3 cm in front of them on a real head.
_PARALLAX_CENTRAL = np.array([27, 28, 29, 30])
# iBUG 68-point indices: inner lip top and bottom pairs.
_INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))


@dataclass(frozen=True)
class LivenessPolicy:
    """Every threshold of the liveness decision, with the reason for its value."""

    # --- tracking ---
    # Full-frame detection this often counts faces (a second person) and re-finds a lost face.
    full_detect_every_s: float = 1.0
    # Detection near the last face this often checks the landmark tracker has not drifted.
    local_detect_every_s: float = 0.2
    # The local search scales the face to this width: dlib's HOG window is 80 px.
    search_face_px: float = 110.0
    search_margin: float = 0.5
    # A head turned past what HOG sees is followed by its landmarks for this long.
    max_coast_s: float = 0.7
    # Another face narrower than this share of the main one is a passer-by far behind.
    background_face_ratio: float = 0.5
    # --- who is in the clip ---
    # The face must be visible this share of the analysed time ("nearly the whole clip").
    min_presence: float = 0.85
    # Share of full-frame detections that may see a second face (a helper leaning in).
    max_multiple_face_share: float = 0.2
    # Face width in original pixels: the same floor as the selfie photo gate
    # (QualityPolicy.selfie().min_face_px); below it eyelids span a few pixels.
    min_face_px: float = 100.0
    # Share of the landmarks that may fall outside the picture before the face counts as gone.
    max_landmarks_outside: float = 0.1
    embed_frames: int = 3
    # Largest embedding distance between frames of one clip: 0.6 is the dlib model's own
    # same-person threshold. Same-clip distances of one person stay near 0.3 even with
    # grimaces; swaps between look-alikes below 0.6 are left to matching each frame embedding
    # against the enrolled template.
    max_identity_distance: float = 0.6
    # --- actions ---
    # Eyes count as closed below this share of the person's own open-eye ratio (robust to
    # narrow or hooded eyes, which have a low ratio when open).
    blink_closed_ratio: float = 0.7
    # ... and reopened above this share.
    blink_open_ratio: float = 0.85
    # A deliberate blink of an elderly person can be slow; longer is eyes-closed, not a blink.
    max_blink_s: float = 2.0
    # Eye landmarks are unreliable on a turned head.
    max_blink_yaw_deg: float = 25.0
    # Inner-lip gap over the distance between the eye centres (~62 mm in adults): opening by
    # 0.18 of it is about 11 mm over the person's own resting mouth, a gap no landmark noise
    # makes; speech reaches it on open vowels, which are live mouth movement too.
    mouth_open_ratio: float = 0.2
    mouth_open_rise: float = 0.18
    min_mouth_open_s: float = 0.15
    # Yaw from landmarks (quality.head_pose) relative to the person's own frontal pose.
    turn_deg: float = 20.0
    min_turn_s: float = 0.1
    # --- passive checks ---
    # still_image: median frame-to-frame landmark motion over eye distance. A live person
    # holding still still moves ~0.5 % of the eye distance per frame (breathing, tremor,
    # sensor noise moving the landmarks); a re-encoded photo moves < 0.1 %.
    min_micro_motion: float = 0.003
    # planar_motion: 90th-percentile distance of tracked face texture from the best homography,
    # over the eye distance, between frames planar_offset_s apart; the clip's value is the
    # planar_quantile of its pairs (a blink or a word in one pair out of 20 is enough).
    # Tracking noise on a moved photo stays < 1 % (< 1 px at a 100 px eye distance); eyelids,
    # lips and a real head's relief leave several pixels.
    min_nonrigid_residual: float = 0.02
    planar_quantile: float = 0.95
    # ... but a print tilted far (to fake a turn), bent, blurred by motion and compressed by a
    # webcam leaves more than that in its worst pairs, which is how real hand-held prints got
    # through. Hence a second, scale-free test: the median residual over the median motion of
    # the tracked points. Tracking a moved plane errs by a small fraction of the displacement
    # (blur, interpolation, the bend of the sheet): 0.06-0.16 on generated bent, tilted prints
    # seen by a 640x480 12 fps webcam. A live face's relief, eyelids and lips leave residuals of
    # the order of its motion: 0.54-1.6 on the fixture live clips and re-encodings first
    # measured. The operating point sits near the geometric middle (README, Presentation-attack
    # detection, has the bench figures).
    min_residual_per_motion: float = 0.3
    # Median motion per pair (over the eye distance) below which the ratio is not judged: a
    # face held nearly still tells nothing about its shape (the still-image check covers it).
    planar_min_motion: float = 0.03
    planar_offset_s: float = 0.3
    planar_every_frames: int = 3
    planar_min_pairs: int = 5
    # turn_parallax (head-turn challenges): on frames where the detector confirmed the face
    # turned at least parallax_min_yaw_deg from the person's frontal pose, a homography from
    # the nearest detected frontal frame (within parallax_frontal_deg, parallax_max_gap_s) is
    # fitted on _PARALLAX_OUTER and the nose points' distance from it is measured over the eye
    # distance; the clip's value is the median of at least parallax_min_frames frames. A real
    # head's nose leaves its outline by 0.18-0.22 (medians of the one fixture clip with real
    # turns and its four re-encodings; single frames from 0.09); a print tilted 50-65 degrees
    # and bent, where the landmarks fit it, stays at 0.07-0.09. 0.13 is near their geometric
    # middle. Frames where the landmarks only coasted are left out. Weak evidence: on a print
    # turned far the 68-point model also misfits detected frames and draws a turned head
    # (2 of 5 judged generated prints measured 0.25 and 0.38), so it sends to review and never
    # clears anything (README, Presentation-attack detection).
    min_turn_parallax: float = 0.13
    parallax_min_yaw_deg: float = 15.0
    parallax_frontal_deg: float = 6.0
    parallax_max_gap_s: float = 2.0
    parallax_min_frames: int = 2
    # screen_replay: moire peak over the local spectrum (natural log) in the face region.
    # Periodogram noise peaks stay near ln(10) in a Welch average; a screen's pixel grid
    # beating with the camera's gives a line several times stronger.
    max_moire_peak: float = 3.0
    # Straight edges enclosing the face on this many sides (a bezel) in half the detail frames.
    bezel_sides: int = 3
    bezel_min_length: float = 0.35
    # Share of the face region blown out by a reflection on glass.
    max_glare_share: float = 0.08
    # The picture cues of biometrics.pad (flat tone of a print; glare and contrast of a
    # screen) must fire on at least this share of the detail frames (one a second): a single
    # frame caught against a lamp is not a screen.
    picture_cue_share: float = 0.5
    pad: PadPolicy = field(default_factory=PadPolicy)
    # injected_or_edited and irregular_timing
    # 24->30 fps conversion duplicates 1 frame in 5 and 25->30 (as in transcoded clips) 1 in 6;
    # a 15 fps capture played at 30 duplicates every other one. Reported, no longer refused:
    # phones in low light do exactly that.
    max_duplicate_share: float = 0.3
    # Grey levels (of 255) of mean change: below it the frame is a repeat...
    duplicate_diff: float = 0.05
    # ... or below this share of both neighbouring changes.
    duplicate_ratio: float = 0.5
    # Phones in low light slow to 15 fps (67 ms); a longer gap means frames were removed.
    max_frame_gap_s: float = 0.25
    # A splice only counts where the timestamps step nearly regularly (at most this many
    # typical steps): a change across a hole of several frames is frames dropped during
    # motion (and the hole itself is irregular_timing). One missing frame only doubles the
    # change of real motion, far below cut_jump_ratio, so a splice that drops one is caught.
    cut_max_step_ratio: float = 2.5
    # A splice: one frame-to-frame change (mean grey level of the whole picture) this many
    # times the larger of its neighbours, and at least cut_min_change levels.
    cut_jump_ratio: float = 5.0
    cut_min_change: float = 3.0
    cut_noise_floor: float = 0.5
    # Only splices within this many seconds of the performed challenge fail the check: those
    # could have brought an action in from another recording. Others are reported.
    cut_near_action_s: float = 1.0
    editing_markers: tuple[str, ...] = DEFAULT_EDITING_MARKERS

    def __post_init__(self) -> None:
        if not 0.0 < self.blink_closed_ratio < self.blink_open_ratio <= 1.0:
            raise ValueError("need 0 < blink_closed_ratio < blink_open_ratio <= 1")
        if not 0.0 < self.min_presence <= 1.0:
            raise ValueError("min_presence must be in (0, 1]")
        if self.embed_frames < 1 or self.planar_every_frames < 1:
            raise ValueError("embed_frames and planar_every_frames must be at least 1")


@dataclass(frozen=True)
class ActionEvent:
    action: Action
    t: float


@dataclass(frozen=True)
class CheckResult:
    """One passive check: what was measured, against what, and whether it passed."""

    value: float
    threshold: float
    passed: bool
    details: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameObservation:
    """What was seen on one analysed frame; coordinates are in the working frame."""

    t: float
    present: bool
    detected: bool
    face_count: int | None
    box: FaceBox | None = None
    landmarks: FloatArray | None = None
    eye_ratio: float = 0.0
    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    mouth_ratio: float = 0.0
    eye_distance: float = 0.0
    # Width of the detector's box on frames where it ran, else 0.
    face_width_px: float = 0.0


@dataclass(frozen=True)
class FrameEmbedding:
    t: float
    embedding: FaceEmbedding
    # The upright working-size frame it came from: what a reviewer is shown.
    pixels: RGBImage


@dataclass(frozen=True)
class LivenessResult:
    live: bool
    score: float
    actions: tuple[ActionEvent, ...]
    # Actions matched to the challenge, in challenge order.
    matched: tuple[ActionEvent, ...]
    reasons: tuple[LivenessReason, ...]
    checks: Mapping[str, CheckResult]
    frames_analyzed: int
    ms: float
    embeddings: tuple[FrameEmbedding, ...]
    metadata: VideoMetadata
    timeline: VideoTimeline
    observations: tuple[FrameObservation, ...]
    # The passive checks' values over their own thresholds, the most attack-like of them:
    # 1.0 is the operating point (a passive reason fires at or above it).
    attack_score: float = 0.0

    @property
    def passive_reasons(self) -> tuple[LivenessReason, ...]:
        """Attack reasons found on the clip's own evidence, not from a missing action."""
        return tuple(r for r in self.reasons if r in PASSIVE_ATTACK_REASONS)

    @property
    def refusing_reasons(self) -> tuple[LivenessReason, ...]:
        """The passive reasons strong enough to refuse on: all but WEAK_PASSIVE_REASONS."""
        return tuple(r for r in self.passive_reasons if r not in WEAK_PASSIVE_REASONS)

    def actions_as_dicts(self) -> list[dict[str, float | str]]:
        return [{"action": e.action.value, "t": round(e.t, 3)} for e in self.actions]


def analyze_liveness(
    video: VideoSource,
    *,
    challenge: Sequence[str],
    mirrored: bool = False,
    engine: FaceEngine,
    limits: VideoLimits,
    policy: LivenessPolicy,
) -> LivenessResult:
    """Judge one challenge clip: were the actions done in order, live, by one person?

    `challenge` names actions (`blink`, `turn_left`, `turn_right`, `open_mouth`); turns are the
    person's own left and right in an unmirrored recording, `mirrored` says the clip was saved
    as the mirrored preview. Raises a biometrics.errors.VideoError subclass when the bytes are
    not an acceptable clip; every judgement about the content is a reason in the result.
    """
    wanted = tuple(Action(name) for name in challenge)
    if not wanted:
        raise ValueError("the challenge names no action")
    started = time.perf_counter()
    tracker = _Tracker(engine=engine, policy=policy)
    screen = _PictureProbe(policy=policy)
    picker = _EmbeddingPicker(every_s=1.0)
    planar = _PlanarProbe(policy=policy)
    with open_video(video, limits=limits) as reader:
        scale = 1.0
        for frame in reader.frames():
            scale = frame.scale
            seen = tracker.observe(frame)
            if seen.present and seen.box is not None and seen.landmarks is not None:
                if frame.detail is not None:
                    screen.add(frame, seen.box)
                planar.add(frame, seen)
                if seen.detected:
                    picker.offer(frame, seen)
        metadata, timeline = reader.metadata, reader.timeline
    observations = tuple(tracker.observations)
    embeddings = picker.embed(engine=engine, count=policy.embed_frames)
    present = [o for o in observations if o.present]

    reasons: list[LivenessReason] = []
    checks: dict[str, CheckResult] = {}
    checks["presence"] = _presence_check(observations, policy)
    counts = [o.face_count for o in observations if o.face_count is not None]
    checks["single_face"] = _single_face_check(counts, policy)
    widths = [o.face_width_px * scale for o in present if o.detected]
    checks["face_size"] = _face_size_check(widths, policy)
    checks["identity"] = _identity_check(embeddings, policy)
    if not present:
        reasons.append(LivenessReason.NO_FACE)
    elif not checks["presence"].passed:
        reasons.append(LivenessReason.FACE_LEFT_FRAME)
    if not checks["single_face"].passed:
        reasons.append(LivenessReason.MULTIPLE_FACES)
    if present and not checks["face_size"].passed:
        reasons.append(LivenessReason.FACE_TOO_SMALL)
    if not checks["identity"].passed:
        reasons.append(LivenessReason.IDENTITY_CHANGED)

    events = detect_actions(observations, policy=policy, mirrored=mirrored)
    matched, missing, disordered = match_challenge(wanted, events)
    checks["challenge"] = CheckResult(
        value=float(len(matched)),
        threshold=float(len(wanted)),
        passed=len(matched) == len(wanted),
        details={"missing": float(missing), "out_of_order": float(disordered)},
    )
    if present:
        if missing:
            reasons.append(LivenessReason.MISSING_ACTION)
        elif disordered:
            reasons.append(LivenessReason.WRONG_ORDER)
        checks["still_image"] = still_image_check(present, policy=policy)
        turns = [e for e in matched if e.action in (Action.TURN_LEFT, Action.TURN_RIGHT)]
        checks["planar_motion"] = planar.check(turns)
        checks["turn_parallax"] = turn_parallax_check(present, turns=turns, policy=policy)
        checks["screen_replay"] = screen.screen_check()
        checks["screen_like"] = screen.screen_like_check()
        checks["printed_photo"] = screen.print_check()
        span = (matched[0].t, matched[-1].t) if matched else None
        checks["injected_or_edited"] = injected_or_edited_check(
            timeline=timeline, metadata=metadata, action_span=span, policy=policy
        )
        checks["irregular_timing"] = irregular_timing_check(
            timeline=timeline, action_span=span, policy=policy
        )
        for name, reason in (
            ("still_image", LivenessReason.STILL_IMAGE),
            ("planar_motion", LivenessReason.PLANAR_MOTION),
            # A turn whose nose never left the outline: the face turned as one plane.
            ("turn_parallax", LivenessReason.PLANAR_LIKE),
            ("screen_replay", LivenessReason.SCREEN_REPLAY),
            ("screen_like", LivenessReason.SCREEN_LIKE),
            ("printed_photo", LivenessReason.PRINTED_PHOTO),
            ("injected_or_edited", LivenessReason.INJECTED_OR_EDITED),
            ("irregular_timing", LivenessReason.IRREGULAR_TIMING),
        ):
            if not checks[name].passed:
                # A screen seen structurally needs no second, weaker screen reason.
                if reason is LivenessReason.SCREEN_LIKE and not checks["screen_replay"].passed:
                    continue
                if reason is LivenessReason.PLANAR_MOTION and not checks[name].details.get(
                    "refusing"
                ):
                    reason = LivenessReason.PLANAR_LIKE
                if reason not in reasons:
                    reasons.append(reason)
    else:
        reasons.append(LivenessReason.MISSING_ACTION)
    score = sum(1.0 for c in checks.values() if c.passed) / len(checks)
    return LivenessResult(
        live=not reasons,
        score=round(score, 4),
        attack_score=round(attack_score(checks), 4),
        actions=tuple(events),
        matched=tuple(matched),
        reasons=tuple(reasons),
        checks=checks,
        frames_analyzed=len(observations),
        ms=(time.perf_counter() - started) * 1000.0,
        embeddings=embeddings,
        metadata=metadata,
        timeline=timeline,
        observations=observations,
    )


# ---------------------------------------------------------------------------------------------
# Tracking


def _mouth_ratio(landmarks: FloatArray, eye_distance: float) -> float:
    if eye_distance <= 0:
        return 0.0
    gaps = [float(np.linalg.norm(landmarks[a] - landmarks[b])) for a, b in _INNER_LIP_PAIRS]
    return float(np.mean(gaps)) / eye_distance


def _eye_distance(landmarks: FloatArray) -> float:
    return float(np.linalg.norm(landmarks[42:48].mean(axis=0) - landmarks[36:42].mean(axis=0)))


def _iou(a: FaceBox, b: FaceBox) -> float:
    w = min(a.right, b.right) - max(a.left, b.left)
    h = min(a.bottom, b.bottom) - max(a.top, b.top)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.width * a.height + b.width * b.height - inter)


def _moved(box: FaceBox, *, dx: float, dy: float, factor: float) -> FaceBox:
    cx, cy = box.center
    half_w, half_h = box.width * factor / 2.0, box.height * factor / 2.0
    return FaceBox(
        left=cx + dx - half_w,
        top=cy + dy - half_h,
        right=cx + dx + half_w,
        bottom=cy + dy + half_h,
        score=box.score,
    )


def _blend(old: FaceBox, new: FaceBox, *, weight: float) -> FaceBox:
    keep = 1.0 - weight
    return FaceBox(
        left=keep * old.left + weight * new.left,
        top=keep * old.top + weight * new.top,
        right=keep * old.right + weight * new.right,
        bottom=keep * old.bottom + weight * new.bottom,
        score=new.score,
    )


def _spread(landmarks: FloatArray) -> float:
    return float(np.sqrt(((landmarks - landmarks.mean(axis=0)) ** 2).sum(axis=1).mean()))


class _Tracker:
    """Follows one face: full detection now and then, local detection near the last box in
    between, and the 68 landmarks themselves from frame to frame (a few ms instead of tens)."""

    def __init__(self, *, engine: FaceEngine, policy: LivenessPolicy) -> None:
        self.engine = engine
        self.policy = policy
        self.observations: list[FrameObservation] = []
        self._box: FaceBox | None = None
        self._landmarks: FloatArray | None = None
        self._last_full = -math.inf
        self._last_local = -math.inf
        self._last_detected = -math.inf

    def observe(self, frame: VideoFrame) -> FrameObservation:
        obs = self._observe(frame)
        self.observations.append(obs)
        return obs

    def _observe(self, frame: VideoFrame) -> FrameObservation:
        p, t, pixels = self.policy, frame.t, frame.pixels
        face_count: int | None = None
        box: FaceBox | None = None
        detected = False
        if self._box is None or t - self._last_full >= p.full_detect_every_s - 1e-6:
            boxes = self.engine.detect(pixels)
            self._last_full = self._last_local = t
            face_count = _count_faces(boxes, p.background_face_ratio)
            box = self._pick(boxes)
            if box is None and self._box is not None:
                box = self._local_detect(pixels, self._box)
            detected = box is not None
        elif t - self._last_local >= p.local_detect_every_s - 1e-6:
            self._last_local = t
            box = self._local_detect(pixels, self._box)
            if box is None:
                boxes = self.engine.detect(pixels)
                self._last_full = t
                face_count = _count_faces(boxes, p.background_face_ratio)
                box = self._pick(boxes)
            detected = box is not None
        else:
            detected = False
        if detected:
            self._last_detected = t
        elif self._box is None or t - self._last_detected > p.max_coast_s:
            self._box = self._landmarks = None
            return FrameObservation(t=t, present=False, detected=False, face_count=face_count)
        landmarks = self._landmarks_for(pixels, box)
        assert self._box is not None
        # The detector's own box width, as the photo quality gate measures faces.
        face_width = box.width if box is not None else 0.0
        height, width = pixels.shape[:2]
        xs, ys = landmarks[:, 0], landmarks[:, 1]
        outside = float(((xs < 0) | (xs >= width) | (ys < 0) | (ys >= height)).mean())
        if outside > p.max_landmarks_outside:
            self._box = self._landmarks = None
            return FrameObservation(t=t, present=False, detected=False, face_count=face_count)
        yaw, roll = head_pose(landmarks)
        eyes = _eye_distance(landmarks)
        return FrameObservation(
            t=t,
            present=True,
            detected=detected,
            face_count=face_count,
            box=self._box,
            landmarks=landmarks,
            eye_ratio=eye_aspect_ratio(landmarks),
            yaw_deg=yaw,
            roll_deg=roll,
            mouth_ratio=_mouth_ratio(landmarks, eyes),
            eye_distance=eyes,
            face_width_px=face_width,
        )

    def _landmarks_for(self, pixels: RGBImage, detected: FaceBox | None) -> FloatArray:
        """Landmarks in a detected box, or in the last box moved the way the landmarks move."""
        if detected is not None or self._landmarks is None or self._box is None:
            box = detected if detected is not None else self._box
            assert box is not None
            if detected is not None and self._box is not None and _iou(detected, self._box) > 0.5:
                # HOG boxes of one face vary by a tenth from frame to frame, and the landmarks
                # follow the box: a detection only nudges the tracked box, or the jitter would
                # read as motion (and as a splice).
                box = _blend(self._box, detected, weight=0.3)
            landmarks = self.engine.landmarks(pixels, box=box)
            self._box, self._landmarks = box, landmarks
            return landmarks
        box, previous = self._box, self._landmarks
        landmarks = self.engine.landmarks(pixels, box=box)
        shift = landmarks.mean(axis=0) - previous.mean(axis=0)
        factor = _spread(landmarks) / max(_spread(previous), 1e-6)
        # The shape model fits best in the box the detector would draw, so refit after a move.
        if float(np.hypot(*shift)) > 0.04 * box.width or abs(factor - 1.0) > 0.04:
            box = _moved(box, dx=float(shift[0]), dy=float(shift[1]), factor=factor)
            landmarks = self.engine.landmarks(pixels, box=box)
        self._box, self._landmarks = box, landmarks
        return landmarks

    def _pick(self, boxes: list[FaceBox]) -> FaceBox | None:
        if not boxes:
            return None
        if self._box is not None:
            near = max(boxes, key=lambda b: _iou(b, self._box) if self._box else 0.0)
            if _iou(near, self._box) > 0.2:
                return near
        return max(boxes, key=lambda b: b.width)

    def _local_detect(self, pixels: RGBImage, last: FaceBox) -> FaceBox | None:
        p = self.policy
        height, width = pixels.shape[:2]
        margin = p.search_margin * last.width
        left, top = max(0, int(last.left - margin)), max(0, int(last.top - margin))
        right = min(width, int(math.ceil(last.right + margin)))
        bottom = min(height, int(math.ceil(last.bottom + margin)))
        if right - left < 8 or bottom - top < 8:
            return None
        crop: RGBImage = pixels[top:bottom, left:right]
        factor = min(1.0, p.search_face_px / max(last.width, 1.0))
        if factor < 1.0:
            size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
            crop = np.asarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), np.uint8)
        boxes = self.engine.detect(np.ascontiguousarray(crop, dtype=np.uint8))
        if not boxes:
            return None
        mapped = [
            FaceBox(
                left=left + b.left / factor,
                top=top + b.top / factor,
                right=left + b.right / factor,
                bottom=top + b.bottom / factor,
                score=b.score,
            )
            for b in boxes
        ]
        best = max(mapped, key=lambda b: _iou(b, last))
        return best if _iou(best, last) > 0.2 else None


def _count_faces(boxes: Sequence[FaceBox], ratio: float) -> int:
    if not boxes:
        return 0
    widest = max(b.width for b in boxes)
    return sum(1 for b in boxes if b.width >= ratio * widest)


class _EmbeddingPicker:
    """Keeps the best detected frame of each stretch of the clip, to embed a few at the end."""

    def __init__(self, *, every_s: float) -> None:
        self.every_s = every_s
        self._best: dict[int, tuple[float, float, RGBImage, DetectedFace]] = {}

    def offer(self, frame: VideoFrame, seen: FrameObservation) -> None:
        assert seen.box is not None and seen.landmarks is not None
        # Frontal, level, eyes open: the frames most like an enrolment photo.
        goodness = (
            seen.eye_ratio * 100.0
            - abs(seen.yaw_deg)
            - 0.5 * abs(seen.roll_deg)
            - 50.0 * seen.mouth_ratio
        )
        bucket = int(frame.t // self.every_s)
        current = self._best.get(bucket)
        if current is None or goodness > current[0]:
            face = DetectedFace(box=seen.box, landmarks=seen.landmarks)
            self._best[bucket] = (goodness, frame.t, frame.pixels, face)

    def embed(self, *, engine: FaceEngine, count: int) -> tuple[FrameEmbedding, ...]:
        buckets = sorted(self._best)
        if not buckets:
            return ()
        # Spread over the clip: a swap of people half-way must fall between two of them.
        picks = sorted(
            {
                buckets[round(i * (len(buckets) - 1) / max(count - 1, 1))]
                for i in range(min(count, len(buckets)))
            }
        )
        out = []
        for bucket in picks:
            _, t, pixels, face = self._best[bucket]
            out.append(
                FrameEmbedding(t=t, embedding=engine.embed(pixels, face=face), pixels=pixels)
            )
        return tuple(out)


# ---------------------------------------------------------------------------------------------
# Who is in the clip


def _presence_check(
    observations: Sequence[FrameObservation], policy: LivenessPolicy
) -> CheckResult:
    share = sum(o.present for o in observations) / max(len(observations), 1)
    return CheckResult(
        value=share, threshold=policy.min_presence, passed=share >= policy.min_presence
    )


def _single_face_check(counts: Sequence[int], policy: LivenessPolicy) -> CheckResult:
    share = sum(c > 1 for c in counts) / max(len(counts), 1)
    return CheckResult(
        value=share,
        threshold=policy.max_multiple_face_share,
        passed=share <= policy.max_multiple_face_share,
        details={"detections": float(len(counts)), "most_faces": float(max(counts, default=0))},
    )


def _face_size_check(widths: Sequence[float], policy: LivenessPolicy) -> CheckResult:
    median = float(np.median(widths)) if widths else 0.0
    return CheckResult(
        value=median, threshold=policy.min_face_px, passed=median >= policy.min_face_px
    )


def _identity_check(embeddings: Sequence[FrameEmbedding], policy: LivenessPolicy) -> CheckResult:
    if len(embeddings) < 2:
        return CheckResult(value=0.0, threshold=policy.max_identity_distance, passed=True)
    vectors = stack_vectors([e.embedding for e in embeddings])
    worst = float(cohort_distances(vectors, cohort=vectors).max())
    return CheckResult(
        value=worst,
        threshold=policy.max_identity_distance,
        passed=worst <= policy.max_identity_distance,
        details={"frames": float(len(embeddings))},
    )


# ---------------------------------------------------------------------------------------------
# Challenge actions


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, end) index pairs, end exclusive, of the True stretches of mask."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _rolling_quantile(
    t: FloatArray, values: FloatArray, *, q: float, half_window_s: float
) -> FloatArray:
    out = np.empty_like(values)
    for i, ti in enumerate(t):
        lo, hi = (
            np.searchsorted(t, ti - half_window_s),
            np.searchsorted(t, ti + half_window_s, "right"),
        )
        out[i] = np.quantile(values[lo:hi], q)
    return out


def _frontal_yaw(present: Sequence[FrameObservation]) -> float:
    """The person's own straight-ahead yaw: landmark yaw of a frontal face is rarely 0."""
    start = present[0].t
    first = [o.yaw_deg for o in present if o.t - start <= 1.0]
    return float(np.median(first))


def detect_actions(
    observations: Sequence[FrameObservation], *, policy: LivenessPolicy, mirrored: bool
) -> list[ActionEvent]:
    """Every blink, mouth opening and head turn seen, in time order."""
    present = [o for o in observations if o.present]
    if len(present) < 3:
        return []
    events = _blinks(present, policy) + _mouth_openings(present, policy)
    events += _turns(present, policy, mirrored=mirrored)
    return sorted(events, key=lambda e: e.t)


def _blinks(present: Sequence[FrameObservation], p: LivenessPolicy) -> list[ActionEvent]:
    frontal = _frontal_yaw(present)
    usable = [o for o in present if abs(o.yaw_deg - frontal) <= p.max_blink_yaw_deg]
    if len(usable) < 3:
        return []
    t = np.array([o.t for o in usable])
    ear = np.array([o.eye_ratio for o in usable])
    # The person's own open-eye ratio around each moment: looking down or squinting at the
    # screen lowers it for a while, and a blink is a dip below that, not below a constant.
    open_level = _rolling_quantile(t, ear, q=0.8, half_window_s=1.5)
    closed = ear < p.blink_closed_ratio * open_level
    reopened = ear >= p.blink_open_ratio * open_level
    events = []
    for start, end in _runs(closed):
        if t[end - 1] - t[start] > p.max_blink_s:
            continue
        before = np.flatnonzero(reopened[:start])
        after = np.flatnonzero(reopened[end:])
        # Open eyes on both sides, close in time: a closing, not the start of tracking.
        if not before.size or not after.size:
            continue
        if t[start] - t[before[-1]] > 0.5 or t[end + after[0]] - t[end - 1] > 0.5:
            continue
        lowest = start + int(np.argmin(ear[start:end]))
        events.append(ActionEvent(action=Action.BLINK, t=float(t[lowest])))
    return events


def _mouth_openings(present: Sequence[FrameObservation], p: LivenessPolicy) -> list[ActionEvent]:
    t = np.array([o.t for o in present])
    mouth = np.array([o.mouth_ratio for o in present])
    resting = float(np.quantile(mouth, 0.1))
    level = max(p.mouth_open_ratio, resting + p.mouth_open_rise)
    events = []
    for start, end in _runs(mouth >= level):
        # Still open on the next frame, or long enough: one noisy frame is not an action.
        if end - start >= 2 and t[end - 1] - t[start] >= p.min_mouth_open_s - 1e-6:
            events.append(ActionEvent(action=Action.OPEN_MOUTH, t=float(t[start])))
    return events


def _turns(
    present: Sequence[FrameObservation], p: LivenessPolicy, *, mirrored: bool
) -> list[ActionEvent]:
    t = np.array([o.t for o in present])
    # head_pose's yaw grows when the nose moves towards the picture's right: the person's own
    # left in an unmirrored recording.
    yaw = np.array([o.yaw_deg for o in present]) - _frontal_yaw(present)
    if mirrored:
        yaw = -yaw
    events = []
    for sign, action in ((1.0, Action.TURN_LEFT), (-1.0, Action.TURN_RIGHT)):
        for start, end in _runs(sign * yaw >= p.turn_deg):
            if end - start >= 2 and t[end - 1] - t[start] >= p.min_turn_s - 1e-6:
                events.append(ActionEvent(action=action, t=float(t[start])))
    return events


def match_challenge(
    wanted: Sequence[Action], events: Sequence[ActionEvent]
) -> tuple[list[ActionEvent], int, int]:
    """Match the challenge in order to the earliest possible events.

    Returns the matched events, how many wanted actions never happened, and how many
    happened only before the action that should precede them.
    """
    matched: list[ActionEvent] = []
    missing = disordered = 0
    after = -math.inf
    for action in wanted:
        later = [e for e in events if e.action == action and e.t > after]
        if later:
            matched.append(later[0])
            after = later[0].t
        elif any(e.action == action for e in events):
            disordered += 1
        else:
            missing += 1
    return matched, missing, disordered


# ---------------------------------------------------------------------------------------------
# Passive checks


def still_image_check(
    present: Sequence[FrameObservation], *, policy: LivenessPolicy
) -> CheckResult:
    """Median landmark motion between consecutive frames, over the eye distance."""
    motions = []
    for prev, cur in zip(present, present[1:], strict=False):
        if cur.t - prev.t > 0.2 or prev.landmarks is None or cur.landmarks is None:
            continue
        step = np.linalg.norm(cur.landmarks - prev.landmarks, axis=1).mean()
        motions.append(float(step) / max(cur.eye_distance, 1.0))
    value = float(np.median(motions)) if motions else 0.0
    return CheckResult(
        value=value,
        threshold=policy.min_micro_motion,
        passed=value >= policy.min_micro_motion,
        details={"pairs": float(len(motions))},
    )


def landmark_parallax(
    frontal: FloatArray, turned: FloatArray, *, eye_distance: float
) -> float | None:
    """How far the nose moves off the plane of the face's outline between two views, over the
    eye distance: a homography fitted on the outline beside the ears and the eye corners maps
    the frontal view's nose points, and their distance from the turned view's is measured.

    Any picture of a face on one plane (a print, tilted or not; a screen) maps onto itself by a
    homography, nose included; a real head turning moves its nose, which stands in front of
    that outline, by about its depth times the sine of the turn. None when no homography fits.
    """
    src = np.ascontiguousarray(frontal[_PARALLAX_OUTER], dtype=np.float32)
    dst = np.ascontiguousarray(turned[_PARALLAX_OUTER], dtype=np.float32)
    homography, _ = cv2.findHomography(src, dst, 0)
    if homography is None or eye_distance <= 0:
        return None
    nose = np.ascontiguousarray(frontal[_PARALLAX_CENTRAL], dtype=np.float32).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(nose, homography).reshape(-1, 2)
    offset = np.linalg.norm(mapped - turned[_PARALLAX_CENTRAL], axis=1).mean()
    return float(offset) / eye_distance


def turn_parallax_check(
    present: Sequence[FrameObservation],
    *,
    turns: Sequence[ActionEvent],
    policy: LivenessPolicy,
) -> CheckResult:
    """On a clip where a head turn was performed: does the nose leave the plane of the face's
    outline (landmark_parallax) on the frames where the detector saw the face turned?

    Not judged (value NaN, passed) without a performed turn or with fewer than
    parallax_min_frames confirmed turned frames."""
    p = policy
    nan = CheckResult(value=math.nan, threshold=p.min_turn_parallax, passed=True)
    if not turns or len(present) < 3:
        return nan
    frontal = _frontal_yaw(present)
    seen = [o for o in present if o.detected and o.landmarks is not None and o.eye_distance > 0]
    refs = [o for o in seen if abs(o.yaw_deg - frontal) <= p.parallax_frontal_deg]
    values: list[float] = []
    for obs in seen:
        if abs(obs.yaw_deg - frontal) < p.parallax_min_yaw_deg:
            continue
        ref = min(refs, key=lambda r: abs(r.t - obs.t), default=None)
        if ref is None or abs(ref.t - obs.t) > p.parallax_max_gap_s:
            continue
        assert ref.landmarks is not None and obs.landmarks is not None
        value = landmark_parallax(ref.landmarks, obs.landmarks, eye_distance=obs.eye_distance)
        if value is not None:
            values.append(value)
    if len(values) < p.parallax_min_frames:
        return CheckResult(
            value=math.nan,
            threshold=p.min_turn_parallax,
            passed=True,
            details={"frames": float(len(values))},
        )
    median = float(np.median(values))
    return CheckResult(
        value=median,
        threshold=p.min_turn_parallax,
        passed=median >= p.min_turn_parallax,
        details={"frames": float(len(values)), "lowest": float(min(values))},
    )


def nonrigid_residual(
    earlier: NDArray[np.uint8],
    later: NDArray[np.uint8],
    *,
    box: FaceBox,
    eye_distance: float,
    min_points: int = 12,
) -> float | None:
    """How far tracked face texture moves apart from the best plane-to-plane mapping.

    The first value of planar_pair; None when too little texture could be tracked.
    """
    pair = planar_pair(earlier, later, box=box, eye_distance=eye_distance, min_points=min_points)
    return None if pair is None else pair.residual


@dataclass(frozen=True)
class PlanarPair:
    """One pair of frames: how far the tracked face texture is from one plane, and how far it
    moved, both over the eye distance."""

    residual: float
    median_residual: float
    motion: float


def planar_pair(
    earlier: NDArray[np.uint8],
    later: NDArray[np.uint8],
    *,
    box: FaceBox,
    eye_distance: float,
    min_points: int = 12,
) -> PlanarPair | None:
    """Corners inside the face box are followed with pyramidal Lucas-Kanade (kept only when
    tracking back lands within half a pixel), a homography is fitted with RANSAC, and the
    points' distance from it is measured. A photo, however it is moved or tilted, maps onto
    itself by a homography, so only tracking noise remains; eyelids, lips and the 3-D nose and
    jaw of a real head do not. Landmarks are not used: the 68-point model bends a tilted flat
    face into a turned 3-D one and so hides exactly this. None when too little texture could
    be tracked.
    """
    height, width = earlier.shape
    grow = 0.2 * box.width
    left, top = max(0, int(box.left - grow)), max(0, int(box.top - grow))
    right, bottom = min(width, int(box.right + grow)), min(height, int(box.bottom + grow))
    if right - left < 16 or bottom - top < 16:
        return None
    a = np.ascontiguousarray(earlier[top:bottom, left:right])
    b = np.ascontiguousarray(later[top:bottom, left:right])
    mask = np.zeros_like(a)
    inner = _inner(box, 0.1, width=width, height=height)
    mask[inner[1] - top : inner[3] - top, inner[0] - left : inner[2] - left] = 255
    start = cv2.goodFeaturesToTrack(a, 80, 0.01, 4, mask=mask)
    if start is None or len(start) < min_points:
        return None
    start = np.asarray(start, dtype=np.float32)
    lk: dict[str, Any] = {"winSize": (15, 15), "maxLevel": 3}
    moved, found, _ = cv2.calcOpticalFlowPyrLK(a, b, start, None, **lk)  # type: ignore[call-overload]
    back, found_back, _ = cv2.calcOpticalFlowPyrLK(b, a, moved, None, **lk)  # type: ignore[call-overload]
    round_trip = np.linalg.norm((back - start).reshape(-1, 2), axis=1)
    good = (found[:, 0] == 1) & (found_back[:, 0] == 1) & (round_trip < 0.5)
    if int(good.sum()) < min_points:
        return None
    src, dst = start[good].reshape(-1, 2), moved[good].reshape(-1, 2)
    homography, _ = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    if homography is None:
        return None
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), homography).reshape(-1, 2)
    errors = np.linalg.norm(mapped - dst, axis=1)
    scale = max(eye_distance, 1.0)
    return PlanarPair(
        residual=float(np.quantile(errors, 0.9)) / scale,
        median_residual=float(np.median(errors)) / scale,
        motion=float(np.median(np.linalg.norm(dst - src, axis=1))) / scale,
    )


class _PlanarProbe:
    """Pairs of grey frames planar_offset_s apart, fed to planar_pair now and then."""

    def __init__(self, *, policy: LivenessPolicy) -> None:
        self.policy = policy
        self.pairs: list[PlanarPair] = []
        self.times: list[float] = []
        self._history: deque[tuple[float, NDArray[np.uint8], FaceBox]] = deque()
        self._count = 0

    @property
    def residuals(self) -> list[float]:
        return [pair.residual for pair in self.pairs]

    def add(self, frame: VideoFrame, seen: FrameObservation) -> None:
        assert seen.box is not None
        p = self.policy
        grey = np.asarray(cv2.cvtColor(frame.pixels, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        self._count += 1
        if self._count % p.planar_every_frames == 0:
            target = frame.t - p.planar_offset_s
            best = min(self._history, key=lambda h: abs(h[0] - target), default=None)
            if best is not None and abs(best[0] - target) <= 0.4 * p.planar_offset_s:
                pair = planar_pair(best[1], grey, box=best[2], eye_distance=seen.eye_distance)
                if pair is not None:
                    self.pairs.append(pair)
                    self.times.append(frame.t)
        self._history.append((frame.t, grey, seen.box))
        while self._history and frame.t - self._history[0][0] > 1.5 * p.planar_offset_s:
            self._history.popleft()

    def check(self, turns: Sequence[ActionEvent] = ()) -> CheckResult:
        """Fails when the face texture stays on one plane: the worst pairs within tracking
        noise, or the typical pair's residual a small fraction of how far the face moved.

        The value is the smaller of the two measures over their own thresholds: below 1.0 the
        clip is planar. `details["refusing"]` is 1.0 when the evidence is structural: the worst
        pairs within tracking noise (not one blink or word in the whole clip), or the pairs
        around the performed `turns` planar by the ratio (the turn was a tilted picture)."""
        p = self.policy
        if len(self.pairs) < p.planar_min_pairs:
            # Too little texture or tracking to judge: the other checks decide.
            return CheckResult(
                value=math.nan,
                threshold=1.0,
                passed=True,
                details={"pairs": float(len(self.pairs))},
            )
        worst = float(np.quantile(self.residuals, p.planar_quantile))
        typical = float(np.median([pair.residual for pair in self.pairs]))
        motion = float(np.median([pair.motion for pair in self.pairs]))
        per_motion = typical / motion if motion > 0 else math.inf
        by_noise = worst / p.min_nonrigid_residual
        value = by_noise
        if motion >= p.planar_min_motion:
            value = min(value, per_motion / p.min_residual_per_motion)
        turn_ratio = self._turn_ratio(turns)
        refusing = by_noise < 1.0 or (
            turn_ratio is not None and turn_ratio < p.min_residual_per_motion
        )
        details = {
            "pairs": float(len(self.pairs)),
            "worst_residual": worst,
            "median": typical,
            "median_motion": motion,
            "residual_per_motion": per_motion,
            "refusing": float(value < 1.0 and refusing),
        }
        if turn_ratio is not None:
            details["turn_residual_per_motion"] = turn_ratio
        return CheckResult(value=value, threshold=1.0, passed=value >= 1.0, details=details)

    def _turn_ratio(self, turns: Sequence[ActionEvent]) -> float | None:
        """Residual over motion of the pairs during the performed turns (from half a second
        before each to a second after), when at least two pairs moved enough to judge."""
        p = self.policy
        chosen = [
            pair
            for pair, t in zip(self.pairs, self.times, strict=True)
            if pair.motion >= p.planar_min_motion
            and any(e.t - 0.5 <= t <= e.t + 1.0 for e in turns)
        ]
        if len(chosen) < 2:
            return None
        typical = float(np.median([pair.residual for pair in chosen]))
        motion = float(np.median([pair.motion for pair in chosen]))
        return typical / motion


def _inner(box: FaceBox, fraction: float, *, width: int, height: int) -> tuple[int, int, int, int]:
    dx, dy = box.width * fraction, box.height * fraction
    left = min(max(int(box.left + dx), 0), width)
    top = min(max(int(box.top + dy), 0), height)
    right = min(max(int(box.right - dx), left), width)
    bottom = min(max(int(box.bottom - dy), top), height)
    return left, top, right, bottom


class _PictureProbe:
    """The picture cues of biometrics.pad on each detail frame (one a second), and the glare of
    a reflection on glass."""

    def __init__(self, *, policy: LivenessPolicy) -> None:
        self.policy = policy
        self.frames: list[PictureCues] = []
        self.glare: list[float] = []

    def add(self, frame: VideoFrame, box: FaceBox) -> None:
        assert frame.detail is not None
        # The codec's 8-px blocks, in detail-frame pixels.
        block = 8.0 * frame.detail.shape[1] / (frame.width * frame.scale)
        self.frames.append(
            picture_cues(
                frame.pixels,
                box,
                policy=self.policy.pad,
                detail=frame.detail,
                block_period=block,
            )
        )
        h, w = frame.pixels.shape[:2]
        l2, t2, r2, b2 = _inner(box, 0.1, width=w, height=h)
        region = frame.pixels[t2:b2, l2:r2]
        blown = (region.min(axis=2) >= 245).mean() if region.size else 0.0
        self.glare.append(float(blown))

    def _share(self, cue: PadCue) -> float:
        fired = [cue in f.fired for f in self.frames if f.cues]
        return sum(fired) / len(fired) if fired else 0.0

    def _median(self, cue: PadCue) -> float:
        values = [f.cues[cue].value for f in self.frames if cue in f.cues]
        return float(np.median(values)) if values else 0.0

    def _share_of(self, test: Callable[[PictureCues], bool]) -> float:
        judged = [test(f) for f in self.frames if f.cues]
        return sum(judged) / len(judged) if judged else 0.0

    def screen_check(self) -> CheckResult:
        """A device: its pixel grid (moire) or its bezel, or two of the look cues (washed-out
        glare, a screen's contrast) together, on half the frames."""
        p = self.policy
        if not self.frames:
            return CheckResult(value=0.0, threshold=1.0, passed=True)
        structural = self._share_of(lambda f: bool({PadCue.MOIRE, PadCue.BEZEL} & set(f.fired)))
        together = self._share_of(lambda f: len(set(f.fired) & SCREEN_CUES) >= 2)
        value = max(structural, together) / p.picture_cue_share
        return CheckResult(
            value=value,
            threshold=1.0,
            passed=value < 1.0,
            details={
                "device_share": structural,
                "two_cues_share": together,
                "moire_peak": self._median(PadCue.MOIRE),
                "bezel_share": self._share(PadCue.BEZEL),
                "frames": float(len(self.frames)),
            },
        )

    def screen_like_check(self) -> CheckResult:
        """One look cue of a screen on half the frames (washed-out glare or a screen's
        contrast), or a reflection blowing out part of the face: weak evidence."""
        p = self.policy
        if not self.frames:
            return CheckResult(value=0.0, threshold=1.0, passed=True)
        shares = {
            cue: self._share(cue)
            for cue in (PadCue.MOIRE, PadCue.BEZEL, PadCue.SCREEN_GLARE, PadCue.SCREEN_CONTRAST)
        }
        glare = float(np.median(self.glare))
        value = max(
            max(shares.values()) / p.picture_cue_share,
            glare / p.max_glare_share,
        )
        return CheckResult(
            value=value,
            threshold=1.0,
            passed=value < 1.0,
            details={
                "moire_peak": self._median(PadCue.MOIRE),
                "bezel_share": shares[PadCue.BEZEL],
                "glare_share": glare,
                "washed_out_share": shares[PadCue.SCREEN_GLARE],
                "face_contrast": self._median(PadCue.SCREEN_CONTRAST),
                "screen_contrast_share": shares[PadCue.SCREEN_CONTRAST],
                "frames": float(len(self.frames)),
            },
        )

    def print_check(self) -> CheckResult:
        """A print: no true black and no clipped white anywhere in the picture on half the
        frames (a sheet of paper reflecting room light fills it)."""
        p = self.policy
        if not self.frames:
            return CheckResult(value=0.0, threshold=1.0, passed=True)
        share = self._share(PadCue.FLAT_TONE)
        value = share / p.picture_cue_share
        return CheckResult(
            value=value,
            threshold=1.0,
            passed=value < 1.0,
            details={
                "flat_tone_share": share,
                "tone_extremes": self._median(PadCue.FLAT_TONE),
                "frames": float(len(self.frames)),
            },
        )


# The passive checks and which way they point: True when a value at or above the threshold
# is the attack, False when a value below it is.
_PASSIVE_CHECKS: dict[str, bool] = {
    "still_image": False,
    "planar_motion": False,
    "turn_parallax": False,
    "screen_replay": True,
    "screen_like": True,
    "printed_photo": True,
    "injected_or_edited": True,
}


def attack_score(checks: Mapping[str, CheckResult]) -> float:
    """The most attack-like passive check over its own threshold; 1.0 is the operating point."""
    best = 0.0
    for name, high_is_attack in _PASSIVE_CHECKS.items():
        check = checks.get(name)
        if check is None or math.isnan(check.value) or check.threshold <= 0:
            continue
        if high_is_attack:
            ratio = check.value / check.threshold
        else:
            ratio = check.threshold / max(check.value, 1e-9)
        best = max(best, min(ratio, 10.0))
    return best


def injected_or_edited_check(
    *,
    timeline: VideoTimeline,
    metadata: VideoMetadata,
    action_span: tuple[float, float] | None,
    policy: LivenessPolicy,
) -> CheckResult:
    """Evidence that the clip is not straight from a camera: a recorder or editor tag,
    timestamps running backwards, or a splice where the challenge was performed.

    Repeated frames and holes in the timeline are not here: slow phones, variable frame rates
    and re-encoding make them too (irregular_timing_check)."""
    p = policy
    steps = np.diff(timeline.timestamps)
    backwards = float((steps < -1e-6).sum())
    tags = " ".join(f"{k}={v}" for k, v in metadata.tags.items()).lower()
    marked = float(any(marker in tags for marker in p.editing_markers))
    cuts = find_cuts(timeline, policy=p)
    spliced = 0.0
    if action_span is not None:
        first, last = action_span
        spliced = float(
            sum(first - p.cut_near_action_s <= c <= last + p.cut_near_action_s for c in cuts)
        )
    value = max(backwards, marked, spliced)
    return CheckResult(
        value=value,
        threshold=1.0,
        passed=value < 1.0,
        details={
            "backwards_steps": backwards,
            "editing_tag": marked,
            "cuts": float(len(cuts)),
            "cuts_near_actions": spliced,
        },
    )


def irregular_timing_check(
    *,
    timeline: VideoTimeline,
    action_span: tuple[float, float] | None,
    policy: LivenessPolicy,
) -> CheckResult:
    """A hole in the timeline where the challenge was performed: what a slow phone or an
    editor's trim leaves, and where a splice could hide. Not evidence of an attack on its own;
    a person looks at the clip.

    Repeated frames are reported, not held against the clip: a camera slowed to 15 fps in low
    light inside a 30 fps stream repeats every other frame, and repeats hide no action. Holes
    far from the actions are reported too."""
    p = policy
    diffs = _frame_differences(timeline)
    duplicates = duplicate_share(diffs, policy=p)
    steps = np.diff(timeline.timestamps)
    typical = float(np.median(steps[steps > 0])) if (steps > 0).any() else 0.0
    gap_limit = max(p.max_frame_gap_s, 3.0 * typical)
    largest_gap = float(steps.max()) if steps.size else 0.0
    near = steps
    if action_span is not None and steps.size:
        first, last = action_span
        ends = timeline.timestamps[1:]
        starts = timeline.timestamps[:-1]
        close = (ends >= first - p.cut_near_action_s) & (starts <= last + p.cut_near_action_s)
        near = steps[close]
    largest_near = float(near.max()) if near.size else 0.0
    value = largest_near / gap_limit if gap_limit > 0 else 0.0
    return CheckResult(
        value=value,
        threshold=1.0,
        passed=value < 1.0,
        details={
            "duplicate_share": duplicates,
            "largest_gap_s": largest_gap,
            "largest_gap_near_actions_s": largest_near,
            "same_timestamp_steps": float((np.abs(steps) <= 1e-6).sum()),
        },
    )


def duplicate_share(diffs: FloatArray, *, policy: LivenessPolicy) -> float:
    """Share of frames that repeat the one before.

    A repeat re-encoded by a codec is not bit-identical, so a frame also counts when it
    changes far less than both its neighbours (the steady x, ~0, x rhythm of a doubled frame).
    """
    if diffs.size < 3:
        return 0.0
    return float(_repeats(diffs, policy=policy).mean())


def _repeats(diffs: FloatArray, *, policy: LivenessPolicy) -> NDArray[np.bool_]:
    neighbours = np.minimum(
        np.concatenate(([np.inf], diffs[:-1])), np.concatenate((diffs[1:], [np.inf]))
    )
    out = (diffs < policy.duplicate_diff) | (diffs < policy.duplicate_ratio * neighbours)
    return np.asarray(out, dtype=np.bool_)


def _frame_differences(timeline: VideoTimeline) -> FloatArray:
    """Mean absolute grey-level change between consecutive decoded frames (thumbnails)."""
    thumbs = timeline.thumbnails.astype(np.float32)
    if len(thumbs) < 2:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2)), dtype=np.float64)


def find_cuts(timeline: VideoTimeline, *, policy: LivenessPolicy) -> list[float]:
    """Times of single-step picture changes far beyond the changes just before and after.

    Checked on every decoded frame: at camera rate real motion, even a fast jerk of the
    head, builds up and dies down over several frames, while a splice changes the picture
    in one step between two quiet ones.
    """
    all_diffs = _frame_differences(timeline)
    if all_diffs.size < 3:
        return []
    # Repeated frames (a 15 fps camera in a 30 fps stream) are left out first: between two
    # repeats every real change looks like a jump out of stillness.
    kept = ~_repeats(all_diffs, policy=policy)
    diffs = all_diffs[kept]
    times = timeline.timestamps[1:][kept]
    starts = timeline.timestamps[:-1][kept]
    steps = np.diff(timeline.timestamps)
    typical = float(np.median(steps[steps > 0])) if (steps > 0).any() else 0.0
    cuts = []
    for i in range(1, len(diffs) - 1):
        around = max(diffs[i - 1], diffs[i + 1], policy.cut_noise_floor)
        if diffs[i] >= policy.cut_min_change and diffs[i] >= policy.cut_jump_ratio * around:
            # A jump across a hole of several frames is frames dropped during motion.
            if typical > 0 and times[i] - starts[i] > policy.cut_max_step_ratio * typical:
                continue
            cuts.append(float(times[i]))
    return cuts
