"""The job behind a remote attempt: selfie, liveness video and face match into one decision.

Runs in a worker process. It may run twice for one attempt (a worker killed mid-job, a
message delivered again): the decision is written by one conditional update from
`processing`, in the same transaction as the certification, review case and audit event, so
exactly one decision is ever recorded and a crash leaves none half-written.
"""

from __future__ import annotations

import io
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from app import media
from app.audit import service as audit
from app.audit.service import Actor
from app.certifications.service import certify
from app.config import Settings
from app.faces import service as faces
from app.faces.errors import NotEnrolled
from app.observability.metrics import FACE_SECONDS, LIVENESS_SECONDS, timed
from biometrics import DetectedFace, FaceEmbedding, FaceEngine, ImageError, PhotoAnalysis
from biometrics.decode import RGBImage, decode_image
from biometrics.errors import VideoError
from biometrics.liveness import (
    WEAK_PASSIVE_REASONS,
    LivenessPolicy,
    LivenessReason,
    LivenessResult,
    analyze_liveness,
)
from biometrics.pad import PadPolicy, PictureCues, picture_cues
from biometrics.video import VideoLimits
from models.attempt import AttemptStatus, CertificationAttempt, ReviewCase
from models.certification import CertificationMethod
from models.pensioner import Pensioner

WORKER = Actor(type="system", id="certification-worker")
# Reasons that mean someone tried to deceive, not that the recording went wrong.
ATTACK_REASONS = frozenset(
    {
        LivenessReason.STILL_IMAGE,
        LivenessReason.PLANAR_MOTION,
        LivenessReason.SCREEN_REPLAY,
        LivenessReason.INJECTED_OR_EDITED,
        LivenessReason.IDENTITY_CHANGED,
    }
)
# Reasons that are neither proof of an attack nor something the person can do better: a hole
# in the timeline comes from the phone's encoder as often as from an editor, and a print's flat
# tone or a screen's glare from a flat-lit room or harsh light as often as from an attack.
# A person looks at the clip.
REVIEW_REASONS = frozenset(
    {LivenessReason.IRREGULAR_TIMING, LivenessReason.PRINTED_PHOTO, LivenessReason.SCREEN_LIKE}
)
ACTION_WORDS = {
    "blink": ("眨眼", "blink"),
    "turn_left": ("向左转头", "turn your head to your left"),
    "turn_right": ("向右转头", "turn your head to your right"),
    "open_mouth": ("张嘴", "open your mouth"),
}
RECORDING_INSTRUCTIONS = {
    LivenessReason.NO_FACE: (
        "录像时请让整张脸一直在框内。",
        "Keep your whole face inside the frame while recording.",
    ),
    LivenessReason.FACE_LEFT_FRAME: (
        "录像时请不要移出画面。",
        "Stay in the picture for the whole recording.",
    ),
    LivenessReason.FACE_TOO_SMALL: (
        "请把手机拿近一些，让脸占满框。",
        "Hold the phone closer so your face fills the frame.",
    ),
    LivenessReason.MULTIPLE_FACES: (
        "录像时画面里只能有您一个人。",
        "Only you should be in the picture while recording.",
    ),
}


def video_limits(settings: Settings) -> VideoLimits:
    return VideoLimits(max_bytes=settings.max_video_bytes)


def _challenge_instruction(actions: list[str]) -> dict[str, str]:
    zh = "、然后".join(ACTION_WORDS[a][0] for a in actions)
    en = ", then ".join(ACTION_WORDS[a][1] for a in actions)
    return {"zh": f"请按顺序做这些动作：{zh}。", "en": f"Please do these in order: {en}."}


def liveness_summary(result: LivenessResult) -> dict[str, Any]:
    return {
        "live": result.live,
        "score": round(result.score, 3),
        "actions": result.actions_as_dicts(),
        "reasons": [r.value for r in result.reasons],
        "checks": {
            # A check that could not measure (e.g. turn_parallax without a turn) has no value:
            # NaN is not JSON, and PostgreSQL refuses the whole decision over it.
            name: {
                "value": round(c.value, 4) if math.isfinite(c.value) else None,
                "threshold": c.threshold,
                "passed": c.passed,
            }
            for name, c in result.checks.items()
        },
        "attack_score": result.attack_score,
        "passive_reasons": [r.value for r in result.passive_reasons],
        "frames_analyzed": result.frames_analyzed,
        "ms": round(result.ms),
        "codec": result.metadata.codec,
        "size": [result.metadata.coded_width, result.metadata.coded_height],
    }


def selfie_presentation_cues(
    selfie: bytes, *, analysis: PhotoAnalysis, settings: Settings
) -> PictureCues | None:
    """The print and screen cues of biometrics.pad on the selfie's main face."""
    main = analysis.quality.main_face
    if main is None:
        return None
    image = decode_image(selfie, limits=faces.decode_limits(settings))
    # The codec's 8-pixel blocks in the working picture.
    return picture_cues(
        image.pixels, main.box, policy=PadPolicy(), block_period=8.0 / max(image.scale, 1e-6)
    )


def save_key_frames(*, frames: list[RGBImage], settings: Settings, base: str) -> list[str]:
    """JPEGs of the frames the face was matched on, for the reviewer to look at."""
    saved: list[str] = []
    for index, pixels in enumerate(frames):
        relative = f"{base}/frame_{index}.jpg"
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=88)
        media.store(settings=settings, relative=relative, data=buffer.getvalue())
        saved.append(relative)
    return saved


verification_summary = faces.verification_summary


@dataclass(frozen=True)
class Outcome:
    status: AttemptStatus
    reasons: list[str]
    record: dict[str, Any]  # every number behind the decision, kept with the attempt
    analysis: PhotoAnalysis | None = None  # the selfie, if it could be read
    selfie_check: faces.Verification | None = None


def decide(
    *,
    session: Session,
    settings: Settings,
    engine: FaceEngine,
    cohort_cache: faces.CohortCache,
    attempt: CertificationAttempt,
    selfie: bytes,
    video: bytes,
) -> Outcome:
    """The outcome, its reasons and every number behind it; writes nothing."""
    record: dict[str, Any] = {"challenge": attempt.challenge_actions, "mirrored": attempt.mirrored}
    try:
        with timed(FACE_SECONDS, step="selfie"):
            analysis = faces.analyze(selfie, engine=engine, settings=settings, gate="selfie")
    except ImageError as exc:
        record["selfie"] = {"error": exc.code, "detail": exc.message}
        record["instructions"] = [
            {
                "zh": "照片无法读取，请重新拍一张。",
                "en": "The photo could not be read; please take it again.",
            }
        ]
        return Outcome(AttemptStatus.retry, ["selfie_unreadable"], record, None)
    record["selfie"] = faces.quality_summary(analysis)
    if not analysis.quality.ok or analysis.embedding is None:
        findings = analysis.quality.findings
        record["instructions"] = [{"zh": f.zh, "en": f.en} for f in findings[:2]]
        return Outcome(
            AttemptStatus.retry, [f"selfie_{f.issue.value}" for f in findings], record, None
        )
    selfie_pad = selfie_presentation_cues(selfie, analysis=analysis, settings=settings)
    if selfie_pad is not None:
        record["selfie_pad"] = {"score": round(selfie_pad.score, 4), **selfie_pad.as_dict()}
    try:
        with timed(LIVENESS_SECONDS):
            liveness = analyze_liveness(
                video,
                challenge=attempt.challenge_actions,
                mirrored=attempt.mirrored,
                engine=engine,
                limits=video_limits(settings),
                policy=LivenessPolicy(),
            )
    except VideoError as exc:
        record["video"] = {"error": exc.code, "detail": exc.message}
        record["instructions"] = [
            {
                "zh": "视频无法使用，请重新录制一段几秒钟的视频。",
                "en": f"The video cannot be used ({exc.message}); please "
                "record a new clip of a few seconds.",
            }
        ]
        return Outcome(AttemptStatus.retry, [f"video_{exc.code}"], record, analysis)
    record["video"] = liveness_summary(liveness)
    if attempt.video_path:
        record["key_frames"] = save_key_frames(
            frames=[f.pixels for f in liveness.embeddings],
            settings=settings,
            base=attempt.video_path.rsplit("/", 1)[0],
        )
    reasons = [r.value for r in liveness.reasons]
    if ATTACK_REASONS & set(liveness.reasons):
        return Outcome(AttemptStatus.rejected, reasons, record, analysis)
    if not liveness.live:
        instructions = [
            dict(zip(("zh", "en"), RECORDING_INSTRUCTIONS[r], strict=True))
            for r in liveness.reasons
            if r in RECORDING_INSTRUCTIONS
        ]
        if {LivenessReason.MISSING_ACTION, LivenessReason.WRONG_ORDER} & set(liveness.reasons):
            instructions.append(_challenge_instruction(attempt.challenge_actions))
        record["instructions"] = instructions[:2]
        # Evidence of a print or a screen goes to a person even with an action missing: a
        # retry would only let the attacker try again.
        weak_attack = WEAK_PASSIVE_REASONS & set(liveness.reasons)
        selfie_attack = selfie_pad is not None and bool(selfie_pad.fired)
        if weak_attack or selfie_attack or set(liveness.reasons) <= REVIEW_REASONS:
            if selfie_attack and selfie_pad is not None:
                reasons += ["selfie_presentation_attack"]
                reasons += [f"selfie_{cue.value}" for cue in selfie_pad.fired]
            return Outcome(AttemptStatus.needs_review, reasons, record, analysis)
        return Outcome(AttemptStatus.retry, reasons, record, analysis)
    frames = [f.embedding for f in liveness.embeddings]
    with timed(FACE_SECONDS, step="match"):
        face = faces.verify_attempt(
            session=session,
            settings=settings,
            cohort_cache=cohort_cache,
            pensioner_id=attempt.pensioner_id,
            selfie=analysis.embedding,
            frames=frames,
            rescore=lambda: _rescore(
                engine=engine,
                settings=settings,
                selfie=selfie,
                analysis=analysis,
                liveness=liveness,
            ),
        )
    record["face"] = face.summary()
    record["face_selfie"] = face.component(face.selfie_score)
    record["face_video"] = face.component(face.video_score) if frames else None
    if face.decision == "no_match":
        return Outcome(AttemptStatus.rejected, ["face_no_match"], record, analysis)
    if selfie_pad is not None and selfie_pad.fired:
        # A printed or on-screen photo held up for the selfie, or a genuine photo that looks
        # like one (the cues are weak evidence on one picture): a person decides, with the
        # face scores in front of them.
        record["low_score"] = True
        cues = [f"selfie_{cue.value}" for cue in selfie_pad.fired]
        return Outcome(
            AttemptStatus.needs_review, ["selfie_presentation_attack", *cues], record, analysis
        )
    if face.decision == "match":
        if (attempt.operated_by or "").startswith("staff:"):
            # A staff member held the device: a person always checks what they captured.
            record["low_score"] = False
            return Outcome(
                AttemptStatus.needs_review, ["face_match", "assisted_attempt"], record, analysis
            )
        return Outcome(AttemptStatus.certified, [], record, analysis, face.fused)
    bar, score = face.fused.thresholds.match, face.fused.score
    # Far below the bar (or no bar at all): approving takes two reviewers.
    record["low_score"] = (
        score is None or bar is None or score < bar - settings.face_second_pass_margin
    )
    return Outcome(AttemptStatus.needs_review, ["face_review", *face.reasons], record, analysis)


def _rescore(
    *,
    engine: FaceEngine,
    settings: Settings,
    selfie: bytes,
    analysis: PhotoAnalysis,
    liveness: LivenessResult,
) -> tuple[FaceEmbedding, list[FaceEmbedding]]:
    """The costlier look at an attempt near the bar: every face embedded with jitters."""
    jitters = settings.face_second_pass_jitters
    image = decode_image(selfie, limits=faces.decode_limits(settings))
    main = analysis.quality.main_face
    assert main is not None and analysis.embedding is not None
    again = engine.embed(image.pixels, face=main, jitters=jitters)
    frames: list[FaceEmbedding] = []
    for frame in liveness.embeddings:
        boxes = engine.detect(frame.pixels)
        if not boxes:
            frames.append(frame.embedding)
            continue
        box = max(boxes, key=lambda b: b.width)
        found = DetectedFace(box=box, landmarks=engine.landmarks(frame.pixels, box=box))
        frames.append(engine.embed(frame.pixels, face=found, jitters=jitters))
    return again, frames


def process_attempt(
    attempt_id: uuid.UUID,
    *,
    db: Engine,
    settings: Settings,
    engine: FaceEngine,
    cohort_cache: faces.CohortCache,
) -> AttemptStatus | None:
    """Decide one attempt if it is still undecided; returns the status it ends in."""
    with Session(db, expire_on_commit=False) as session:
        attempt = session.get(CertificationAttempt, attempt_id)
        if attempt is None or attempt.status is not AttemptStatus.processing:
            return attempt.status if attempt else None
        attempt.job_runs += 1
        attempt.job_started_at = datetime.now(UTC)
        session.add(attempt)
        session.commit()
        started = time.perf_counter()
        try:
            selfie = media.read(settings=settings, relative=attempt.selfie_path)
            video = media.read(settings=settings, relative=attempt.video_path)
            outcome = decide(
                session=session,
                settings=settings,
                engine=engine,
                cohort_cache=cohort_cache,
                attempt=attempt,
                selfie=selfie,
                video=video,
            )
        except NotEnrolled:
            outcome = Outcome(AttemptStatus.needs_review, ["not_enrolled"], {"low_score": True})
        except media.MediaError as exc:
            # Altered or lost on disk: a person looks at it rather than the job failing forever.
            selfie = b""
            outcome = Outcome(
                AttemptStatus.needs_review,
                ["media_unreadable"],
                {"low_score": True, "media_error": exc.code},
            )
        session.rollback()  # decide() only read; start the writing transaction clean
        outcome.record["processing_ms"] = round((time.perf_counter() - started) * 1000)
        outcome.record["models"] = {"face": f"{engine.model_name} {engine.model_version}"}
        return _record_decision(
            session=session,
            settings=settings,
            attempt_id=attempt_id,
            outcome=outcome,
            selfie=selfie,
            cohort_cache=cohort_cache,
        )


def _record_decision(
    *,
    session: Session,
    settings: Settings,
    attempt_id: uuid.UUID,
    outcome: Outcome,
    selfie: bytes,
    cohort_cache: faces.CohortCache,
) -> AttemptStatus:
    status, reasons, record = outcome.status, outcome.reasons, outcome.record
    now = datetime.now(UTC)
    claimed = session.execute(
        update(CertificationAttempt)
        .where(
            col(CertificationAttempt.id) == attempt_id,
            col(CertificationAttempt.status) == AttemptStatus.processing,
        )
        .values(status=status, reasons=reasons, decision=record, decided_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        # Another worker recorded the decision first; ours is discarded.
        session.rollback()
        attempt = session.get(CertificationAttempt, attempt_id)
        return attempt.status if attempt else status
    attempt = session.get(CertificationAttempt, attempt_id)
    assert attempt is not None
    session.refresh(attempt)
    pensioner = session.get(Pensioner, attempt.pensioner_id)
    assert pensioner is not None
    if status is AttemptStatus.certified:
        certification = certify(
            session=session,
            pensioner=pensioner,
            method=CertificationMethod.remote_self_service,
            evidence={
                "attempt_id": str(attempt.id),
                "face": record.get("face"),
                "face_selfie": record.get("face_selfie"),
                "face_video": record.get("face_video"),
                "liveness_score": record.get("video", {}).get("score"),
            },
            actor=WORKER,
            default_period_months=settings.certification_period_months,
            certified_at=now,
            operated_by=attempt.operated_by,
        )
        attempt.certification_id = certification.id
        session.add(attempt)
        if outcome.analysis is not None and outcome.selfie_check is not None:
            faces.add_certification_selfie(
                session=session,
                settings=settings,
                pensioner=pensioner,
                analysis=outcome.analysis,
                data=selfie,
                verification=outcome.selfie_check,
                actor=WORKER,
            )
            cohort_cache.invalidate()
    elif status is AttemptStatus.needs_review:
        session.add(
            ReviewCase(
                attempt_id=attempt.id,
                pensioner_id=pensioner.id,
                region_code=pensioner.region_code,
                low_score=bool(record.get("low_score", True)),
            )
        )
    audit.record(
        session=session,
        actor=WORKER,
        action=f"attempt.{status.value}",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"attempt_id": str(attempt.id), "status": "processing"},
        after={"attempt_id": str(attempt.id), "status": status.value, "reasons": reasons},
    )
    session.commit()
    return status
