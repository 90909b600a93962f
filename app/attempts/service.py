"""Remote self-certification attempts: the challenge, the uploads, lockouts and what to do next."""

from __future__ import annotations

import hashlib
import random
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from limits import parse
from limits.strategies import RateLimiter
from sqlalchemy import and_, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, func, or_, select

from app import media
from app.attempts.errors import (
    AttemptNotFound,
    AttemptsLockedOut,
    ChallengeAlreadyUsed,
    ChallengeExpired,
    ChallengeMismatch,
)
from app.attempts.jobs import JobQueue
from app.attempts.schemas import (
    AttemptRead,
    Challenge,
    FaceFrame,
    Hint,
    Instruction,
    SelfieCheck,
)
from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.db import after_commit
from app.errors import InvalidToken, RateLimited, UnsupportedMediaType
from app.faces.errors import NotEnrolled
from app.faces.service import decode_limits
from app.kit import audited, rate_limits
from biometrics import FaceEngine, ImageError, QualityPolicy, analyze_photo, sniff_format
from biometrics.errors import VideoError
from biometrics.video import sniff_video_format
from models.attempt import AttemptStatus, CertificationAttempt
from models.certification import Certification
from models.face import EnrolledFace
from models.pensioner import Pensioner

ACTIONS = ("blink", "turn_left", "turn_right", "open_mouth")
FAILED = (AttemptStatus.rejected, AttemptStatus.retry)

NEXT_STEPS: dict[AttemptStatus, list[Instruction]] = {
    AttemptStatus.awaiting_upload: [
        Instruction(
            zh="请先拍一张正脸照片，再按提示录制视频。",
            en="Take a photo of your face, then record the video following the prompts.",
        )
    ],
    AttemptStatus.processing: [
        Instruction(
            zh="正在核验，请稍候，不要关闭页面。",
            en="Checking your photo and video; please wait a moment.",
        )
    ],
    AttemptStatus.needs_review: [
        Instruction(
            zh="工作人员会在3个工作日内核对，您无需再做任何事。",
            en="Staff will check your recording within 3 working days; nothing else to do.",
        )
    ],
    AttemptStatus.rejected: [
        Instruction(
            zh="这次认证没有通过。您可以预约视频认证，或请社区工作人员上门帮助。",
            en="This certification did not succeed. You can book a video call with staff or ask "
            "for a community visit.",
        )
    ],
    AttemptStatus.expired: [
        Instruction(
            zh="本次认证已超时，请重新开始。", en="This attempt timed out; please start again."
        )
    ],
}


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def make_rng(settings: Settings) -> random.Random:
    return (
        random.Random(settings.challenge_seed)
        if settings.challenge_seed is not None
        else random.SystemRandom()
    )


def failed_recently(*, session: Session, pensioner_id: uuid.UUID, hours: int) -> int:
    since = _now() - timedelta(hours=hours)
    return int(
        session.exec(
            select(func.count())
            .select_from(CertificationAttempt)
            .where(
                CertificationAttempt.pensioner_id == pensioner_id,
                col(CertificationAttempt.status).in_(FAILED),
                col(CertificationAttempt.created_at) >= since,
            )
        ).one()
    )


def start(
    *,
    session: Session,
    settings: Settings,
    limiter: RateLimiter,
    rng: random.Random,
    pensioner: Pensioner,
    operated_by: str | None,
    actor: Actor,
) -> CertificationAttempt:
    """Open an attempt with a fresh random challenge of 2-3 distinct actions."""
    if not limiter.hit(parse(settings.attempt_start_rate), "attempt-start", str(pensioner.id)):
        raise RateLimited("Too many attempts were started; wait an hour and try again.")
    rate_limits.spend_global_budget(
        limiter=limiter, rate=settings.global_attempt_start_rate, budget=rate_limits.ATTEMPT_START
    )
    failures = failed_recently(
        session=session, pensioner_id=pensioner.id, hours=settings.attempts_lockout_hours
    )
    if failures >= settings.attempts_failed_limit:
        raise AttemptsLockedOut(
            f"There were {failures} unsuccessful tries in the last "
            f"{settings.attempts_lockout_hours} hours. Please book a video call with staff or "
            "ask for a community visit instead.",
            human_routes=["video_call", "community_visit"],
        )
    enrolled = session.exec(
        select(EnrolledFace.id).where(
            EnrolledFace.pensioner_id == pensioner.id, col(EnrolledFace.active)
        )
    ).first()
    if enrolled is None:
        raise NotEnrolled(
            "There is no photo of you on file yet, so remote certification is "
            "not possible. Please book a video call or ask for a community visit."
        )
    count = rng.choice((2, 3))
    attempt = CertificationAttempt(
        pensioner_id=pensioner.id,
        challenge_actions=rng.sample(ACTIONS, count),
        challenge_nonce=secrets.token_urlsafe(24),
        challenge_expires_at=_now() + timedelta(seconds=settings.challenge_ttl_seconds),
        operated_by=operated_by,
        client_address=actor.client_address,
    )
    audited.write(
        session=session,
        actor=actor,
        rows=[attempt],
        **audit.pensioner_event(
            "attempt.start",
            pensioner,
            after={
                "attempt_id": str(attempt.id),
                "challenge": attempt.challenge_actions,
                "operated_by": operated_by,
            },
        ),
    )
    return attempt


def get_own(
    *, session: Session, pensioner: Pensioner, attempt_id: uuid.UUID
) -> CertificationAttempt:
    attempt = session.get(CertificationAttempt, attempt_id)
    if attempt is None or attempt.pensioner_id != pensioner.id:
        raise AttemptNotFound()
    return attempt


def list_own(
    *, session: Session, pensioner: Pensioner, limit: int = 50
) -> list[CertificationAttempt]:
    return list(
        session.exec(
            select(CertificationAttempt)
            .where(CertificationAttempt.pensioner_id == pensioner.id)
            .order_by(col(CertificationAttempt.created_at).desc())
            .limit(limit)
        ).all()
    )


def check_media(*, selfie: bytes, video: bytes) -> None:
    """Refuse a wrong kind of file at once, before it is stored or queued."""
    try:
        sniff_format(selfie)
    except ImageError as exc:
        raise UnsupportedMediaType(f"The selfie is not a photo: {exc.message}.") from exc
    try:
        sniff_video_format(video)
    except VideoError as exc:
        raise UnsupportedMediaType(f"The video is not a video clip: {exc.message}.") from exc


def check_selfie(
    *,
    settings: Settings,
    limiter: RateLimiter,
    engine: FaceEngine,
    attempt: CertificationAttempt,
    photo: bytes,
) -> SelfieCheck:
    """The selfie gate on a preview photo, so the page can say "come closer" before the upload.

    Only while the attempt waits for its upload, and rate-limited per attempt: it costs a face
    detection each time.
    """
    if attempt.status is not AttemptStatus.awaiting_upload:
        raise ChallengeAlreadyUsed("This attempt is finished; start a new one.")
    if _aware(attempt.challenge_expires_at) <= _now():
        raise ChallengeExpired()
    if not limiter.hit(parse(settings.selfie_check_rate), "selfie-check", str(attempt.id)):
        raise RateLimited("Too many photo checks for this attempt; wait a minute.")
    rate_limits.spend_global_budget(
        limiter=limiter, rate=settings.global_selfie_check_rate, budget=rate_limits.SELFIE_CHECK
    )
    analysis = analyze_photo(
        photo,
        engine=engine,
        limits=decode_limits(settings),
        policy=QualityPolicy.selfie(),
        embed_despite_findings=False,
    )
    report = analysis.quality
    face = None
    if report.main_face is not None:
        box, scale = report.main_face.box, analysis.scale
        width, height = analysis.original_width, analysis.original_height
        face = FaceFrame(
            left=round(box.left * scale / width, 4),
            top=round(box.top * scale / height, 4),
            width=round((box.right - box.left) * scale / width, 4),
            height=round((box.bottom - box.top) * scale / height, 4),
        )
    return SelfieCheck(
        ok=analysis.ok,
        faces=report.face_count,
        hints=[Hint(issue=f.issue.value, zh=f.zh, en=f.en) for f in report.findings],
        face=face,
    )


def accept_upload(
    *,
    session: Session,
    settings: Settings,
    attempt: CertificationAttempt,
    pensioner: Pensioner,
    nonce: str,
    selfie: bytes,
    video: bytes,
    mirrored: bool,
    actor: Actor,
    queue: JobQueue,
) -> CertificationAttempt:
    """Bind the recording to its challenge once, store it and mark the attempt processing; its
    job is queued once this is committed (the job must find the attempt and its files)."""
    if attempt.challenge_used_at is not None or attempt.status is not AttemptStatus.awaiting_upload:
        raise ChallengeAlreadyUsed()
    if not secrets.compare_digest(nonce, attempt.challenge_nonce):
        raise ChallengeMismatch()
    if _aware(attempt.challenge_expires_at) <= _now():
        attempt.status = AttemptStatus.expired
        session.add(attempt)
        raise ChallengeExpired(persist_changes=True)
    check_media(selfie=selfie, video=video)
    video_sha = hashlib.sha256(video).hexdigest()
    replay = session.exec(
        select(CertificationAttempt.id).where(CertificationAttempt.video_sha256 == video_sha)
    ).first()
    if replay is not None:
        raise ChallengeAlreadyUsed(
            "This exact video was already submitted; record a new one for these instructions."
        )
    queue.check()  # the job can be queued: else a 503 before anything is written
    base = f"attempts/{pensioner.id}/{attempt.id}"
    attempt.selfie_path, attempt.video_path = f"{base}/selfie", f"{base}/video"
    attempt.selfie_sha256 = hashlib.sha256(selfie).hexdigest()
    attempt.video_sha256 = video_sha
    attempt.mirrored = mirrored
    attempt.challenge_used_at = attempt.uploaded_at = _now()
    attempt.status = AttemptStatus.processing
    media.store(settings=settings, relative=attempt.selfie_path, data=selfie)
    media.store(settings=settings, relative=attempt.video_path, data=video)
    audited.write(
        session=session,
        actor=actor,
        rows=[attempt],
        **audit.pensioner_event(
            "attempt.upload",
            pensioner,
            after={
                "attempt_id": str(attempt.id),
                "selfie_sha256": attempt.selfie_sha256,
                "video_sha256": video_sha,
                "mirrored": mirrored,
            },
        ),
    )
    attempt_id = attempt.id
    after_commit(session, lambda: queue.enqueue_attempt(attempt_id))
    return attempt


def to_read(
    session: Session, attempt: CertificationAttempt, *, staff_view: bool = False
) -> AttemptRead:
    valid_until = None
    if attempt.certification_id is not None:
        cert = session.get(Certification, attempt.certification_id)
        valid_until = cert.valid_until if cert else None
    return _read(attempt, valid_until, staff_view=staff_view)


# The status poll's one query, by primary keys: the pensioner, their attempt and its
# certification's end date. No row: the pensioner left the register; a row of nulls: the
# attempt is not theirs (or does not exist).
_STATUS_QUERY = (
    sa_select(
        col(CertificationAttempt.id),
        col(CertificationAttempt.status),
        col(CertificationAttempt.challenge_actions),
        col(CertificationAttempt.challenge_nonce),
        col(CertificationAttempt.challenge_expires_at),
        col(CertificationAttempt.operated_by),
        col(CertificationAttempt.created_at),
        col(CertificationAttempt.uploaded_at),
        col(CertificationAttempt.decided_at),
        col(CertificationAttempt.reasons),
        col(CertificationAttempt.decision),
        col(Certification.valid_until),
    )
    .select_from(Pensioner)
    .outerjoin(
        CertificationAttempt,
        and_(
            col(CertificationAttempt.id) == bindparam("attempt_id"),
            col(CertificationAttempt.pensioner_id) == col(Pensioner.id),
        ),
    )
    .outerjoin(Certification, col(Certification.id) == col(CertificationAttempt.certification_id))
    .where(col(Pensioner.id) == bindparam("pensioner_id"))
)


def read_status(
    *, bind: Engine | Connection, pensioner_id: uuid.UUID, attempt_id: uuid.UUID
) -> AttemptRead:
    """The signed-in pensioner's attempt, as the page polls it every 1.5 s while it is
    processing: one indexed query in a short session of its own (`bind` is the app's engine,
    or the connection tests give it), read-only (on SQLite it takes no write lock), returning
    rows, not ORM objects. Same answers as `to_read` after `get_own`."""
    with Session(bind.execution_options(sqlite_begin="DEFERRED")) as session:
        row = session.execute(
            _STATUS_QUERY, {"attempt_id": attempt_id, "pensioner_id": pensioner_id}
        ).first()
    if row is None:
        raise InvalidToken("This pensioner is no longer in the register.")
    if row.id is None:
        raise AttemptNotFound()
    return _read(row, row.valid_until, staff_view=False)


def _read(attempt: Any, valid_until: date | None, *, staff_view: bool) -> AttemptRead:
    """The answer about an attempt (an ORM object or the status query's row)."""
    steps = NEXT_STEPS.get(attempt.status, [])
    if attempt.status is AttemptStatus.retry:
        steps = [Instruction(**i) for i in attempt.decision.get("instructions", [])] or [
            Instruction(
                zh="请重新开始，按提示再试一次。", en="Please start again and follow the prompts."
            )
        ]
    if attempt.status is AttemptStatus.certified and valid_until is not None:
        steps = [
            Instruction(
                zh=f"认证成功，有效期至 {valid_until:%Y年%m月%d日}。",
                en=f"You are certified until {valid_until:%d %B %Y}.",
            )
        ]
    challenge = None
    if attempt.status is AttemptStatus.awaiting_upload:
        challenge = Challenge(
            actions=attempt.challenge_actions,
            nonce=attempt.challenge_nonce,
            expires_at=_aware(attempt.challenge_expires_at),
        )
    return AttemptRead(
        id=attempt.id,
        status=attempt.status,
        challenge=challenge,
        operated_by=attempt.operated_by,
        created_at=attempt.created_at,
        uploaded_at=attempt.uploaded_at,
        decided_at=attempt.decided_at,
        reasons=attempt.reasons,
        next_steps=steps,
        valid_until=valid_until,
        decision=attempt.decision if staff_view else None,
    )


def requeue_stranded(
    *, session: Session, queue: JobQueue, older_than: timedelta, lease: timedelta
) -> list[uuid.UUID]:
    """Queue again the attempts whose job was lost: never started, or started and silent.

    Safe to repeat: a job for an attempt that is already decided does nothing.
    """
    now = _now()
    stranded = session.exec(
        select(CertificationAttempt.id).where(
            CertificationAttempt.status == AttemptStatus.processing,
            or_(
                col(CertificationAttempt.job_started_at).is_(None)
                & (col(CertificationAttempt.uploaded_at) <= now - older_than),
                col(CertificationAttempt.job_started_at) <= now - lease,
            ),
        )
    ).all()
    for attempt_id in stranded:
        queue.enqueue_attempt(attempt_id)
    return list(stranded)
