"""Face enrolment, the per-pensioner gallery with its cohort statistics, and 1:N-free 1:1 checks."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from sqlmodel import Session, col, select

from app import media
from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.errors import FaceNotFound, NotEnrolled, NoUsableFace, PhotoQualityFailed
from biometrics import (
    CohortStats,
    DecodeLimits,
    FaceEmbedding,
    FaceEngine,
    ImageError,
    MatchPolicy,
    PhotoAnalysis,
    QualityPolicy,
    analyze_photo,
    compute_cohort_stats,
    decide,
    decide_without_cohort,
)
from models.base import utcnow
from models.face import EnrolledFace, FaceGallery, FaceSource
from models.pensioner import Pensioner

Gate = Literal["enrolment", "selfie"]
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "heif": "heic"}


def decode_limits(settings: Settings) -> DecodeLimits:
    return DecodeLimits(max_bytes=settings.max_photo_bytes, max_pixels=settings.max_photo_pixels)


def match_policy(settings: Settings) -> MatchPolicy:
    return MatchPolicy(
        match_score=settings.face_match_score,
        review_score=settings.face_review_score,
        match_max_distance=settings.face_match_max_distance,
        review_max_distance=settings.face_review_max_distance,
        min_cohort_size=settings.face_cohort_min,
    )


def analyze(data: bytes, *, engine: FaceEngine, settings: Settings, gate: Gate) -> PhotoAnalysis:
    """Decode and check one photo; raises a biometrics ImageError for an unusable file."""
    policy = QualityPolicy.enrolment() if gate == "enrolment" else QualityPolicy.selfie()
    return analyze_photo(
        data,
        engine=engine,
        limits=decode_limits(settings),
        policy=policy,
        embed_despite_findings=gate == "selfie",
    )


def quality_summary(analysis: PhotoAnalysis) -> dict[str, object]:
    report = analysis.quality
    return {
        "faces": report.face_count,
        "findings": [
            {
                "issue": f.issue.value,
                "zh": f.zh,
                "en": f.en,
                "measured": f.measured,
                "limit": f.limit,
            }
            for f in report.findings
        ],
    }


def _vector(face: EnrolledFace) -> np.ndarray:
    return np.frombuffer(face.embedding, dtype="<f8")


def _add_face(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    analysis: PhotoAnalysis,
    data: bytes,
    source: FaceSource,
    actor: Actor,
) -> EnrolledFace:
    assert analysis.embedding is not None
    face_id = uuid.uuid4()
    relative = f"faces/{pensioner.id}/{face_id}.{_EXTENSIONS.get(analysis.format, 'img')}"
    face = EnrolledFace(
        id=face_id,
        pensioner_id=pensioner.id,
        source=source,
        photo_path=relative,
        photo_sha256=hashlib.sha256(data).hexdigest(),
        photo_format=analysis.format,
        photo_width=analysis.original_width,
        photo_height=analysis.original_height,
        embedding=np.asarray(analysis.embedding.vector, dtype="<f8").tobytes(),
        model_name=analysis.embedding.model_name,
        model_version=analysis.embedding.model_version,
        quality=quality_summary(analysis),
        added_by_type=actor.type,
        added_by_id=actor.id,
    )
    session.add(face)
    session.flush()
    media_dir = settings.resolved_media_dir
    media.store(media_dir=media_dir, relative=relative, data=data)
    try:
        audit.record(
            session=session,
            actor=actor,
            action=f"face.{source.value}",
            entity_type="pensioner",
            entity_id=pensioner.id,
            region_code=pensioner.region_code,
            after={
                "face_id": str(face.id),
                "photo_sha256": face.photo_sha256,
                "model": f"{face.model_name} {face.model_version}",
                "quality": face.quality,
            },
        )
        refresh_gallery(session=session, settings=settings, pensioner_id=pensioner.id)
    except BaseException:
        (media_dir / relative).unlink(missing_ok=True)
        raise
    return face


def enrol(
    *,
    session: Session,
    settings: Settings,
    engine: FaceEngine,
    pensioner: Pensioner,
    data: bytes,
    actor: Actor,
) -> EnrolledFace:
    """Check the photo against the strict enrolment gate, store it and its template."""
    analysis = analyze(data, engine=engine, settings=settings, gate="enrolment")
    if not analysis.ok:
        first = analysis.quality.findings[0]
        raise PhotoQualityFailed(
            f"The photo cannot be used for enrolment: {first.en}",
            findings=quality_summary(analysis)["findings"],
        )
    return _add_face(
        session=session,
        settings=settings,
        pensioner=pensioner,
        analysis=analysis,
        data=data,
        source=FaceSource.enrolment,
        actor=actor,
    )


def active_faces(*, session: Session, pensioner_id: uuid.UUID) -> list[EnrolledFace]:
    return list(
        session.exec(
            select(EnrolledFace)
            .where(EnrolledFace.pensioner_id == pensioner_id, col(EnrolledFace.active))
            .order_by(col(EnrolledFace.created_at))
        ).all()
    )


def all_faces(*, session: Session, pensioner_id: uuid.UUID) -> list[EnrolledFace]:
    return list(
        session.exec(
            select(EnrolledFace)
            .where(EnrolledFace.pensioner_id == pensioner_id)
            .order_by(col(EnrolledFace.created_at).desc())
        ).all()
    )


def get_face(*, session: Session, pensioner_id: uuid.UUID, face_id: uuid.UUID) -> EnrolledFace:
    face = session.get(EnrolledFace, face_id)
    if face is None or face.pensioner_id != pensioner_id:
        raise FaceNotFound()
    return face


def enrolled_embeddings(
    *,
    session: Session,
    model_name: str,
    model_version: str,
    limit: int,
    exclude: uuid.UUID | None = None,
) -> tuple[np.ndarray, list[uuid.UUID]]:
    """Active embeddings of one model and their owners (a stable random sample at scale)."""
    query = select(EnrolledFace.pensioner_id, EnrolledFace.embedding).where(
        col(EnrolledFace.active),
        EnrolledFace.model_name == model_name,
        EnrolledFace.model_version == model_version,
    )
    if exclude is not None:
        query = query.where(EnrolledFace.pensioner_id != exclude)
    # Random UUIDs make the order by id an unbiased sample that stays stable between runs.
    rows = session.exec(query.order_by(col(EnrolledFace.id)).limit(limit)).all()
    if not rows:
        return np.zeros((0, 128)), []
    return np.stack([np.frombuffer(e, dtype="<f8") for _, e in rows]), [p for p, _ in rows]


def cohort_matrix(
    *, session: Session, exclude: uuid.UUID, model_name: str, model_version: str, limit: int
) -> np.ndarray:
    """Active embeddings of other enrolled people: the cohort scores are normalised against."""
    vectors, _ = enrolled_embeddings(
        session=session,
        model_name=model_name,
        model_version=model_version,
        limit=limit,
        exclude=exclude,
    )
    return vectors


def refresh_gallery(
    *, session: Session, settings: Settings, pensioner_id: uuid.UUID
) -> FaceGallery | None:
    """Recompute a gallery's impostor statistics against the current cohort."""
    faces = active_faces(session=session, pensioner_id=pensioner_id)
    gallery = session.get(FaceGallery, pensioner_id)
    if not faces:
        if gallery is not None:
            session.delete(gallery)
            session.flush()
        return None
    model_name, model_version = faces[-1].model_name, faces[-1].model_version
    vectors = np.stack([_vector(f) for f in faces if f.model_version == model_version])
    cohort = cohort_matrix(
        session=session,
        exclude=pensioner_id,
        model_name=model_name,
        model_version=model_version,
        limit=settings.face_cohort_max,
    )
    policy = match_policy(settings)
    stats = None
    if len(cohort) >= policy.min_cohort_size:
        stats = compute_cohort_stats(
            vectors.mean(axis=0),
            cohort=cohort,
            policy=policy,
            model_name=model_name,
            model_version=model_version,
        )
    gallery = gallery or FaceGallery(
        pensioner_id=pensioner_id, model_name=model_name, model_version=model_version, faces=0
    )
    gallery.model_name, gallery.model_version = model_name, model_version
    gallery.faces = len(vectors)
    gallery.cohort_size = len(cohort)
    gallery.cohort_mean = stats.mean if stats else None
    gallery.cohort_std = stats.std if stats else None
    gallery.tail_fraction = stats.tail_fraction if stats else None
    gallery.computed_at = utcnow()
    session.add(gallery)
    session.flush()
    return gallery


def refresh_all_galleries(*, session: Session, settings: Settings) -> int:
    """Recompute every gallery's statistics (run as the enrolled population grows)."""
    ids = session.exec(select(FaceGallery.pensioner_id)).all()
    for pensioner_id in ids:
        refresh_gallery(session=session, settings=settings, pensioner_id=pensioner_id)
    return len(ids)


@dataclass
class _CohortSnapshot:
    key: tuple[str, str]
    vectors: np.ndarray
    owners: np.ndarray
    loaded_at: float


class CohortCache:
    """The cohort matrix for probe-side normalisation, reloaded every `ttl` seconds."""

    def __init__(self, ttl: float = 600.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._snapshot: _CohortSnapshot | None = None

    def get(
        self, *, session: Session, model_name: str, model_version: str, limit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            snap = self._snapshot
            fresh = snap is not None and time.monotonic() - snap.loaded_at < self.ttl
            if snap is None or not fresh or snap.key != (model_name, model_version):
                vectors, owner_ids = enrolled_embeddings(
                    session=session,
                    model_name=model_name,
                    model_version=model_version,
                    limit=limit + 64,  # room for the claimed person's own faces
                )
                owners = np.array([str(p) for p in owner_ids])
                snap = _CohortSnapshot(
                    (model_name, model_version), vectors, owners, time.monotonic()
                )
                self._snapshot = snap
            return snap.vectors, snap.owners

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None


@dataclass(frozen=True)
class Verification:
    decision: str
    distance: float
    score: float | None
    template_score: float | None
    probe_score: float | None
    policy: MatchPolicy
    model_name: str
    model_version: str
    cohort_size: int
    enrolled_faces: int
    probe_images: int
    reasons: tuple[str, ...]


def verify(
    *,
    session: Session,
    settings: Settings,
    cohort_cache: CohortCache,
    pensioner_id: uuid.UUID,
    probes: list[FaceEmbedding],
) -> Verification:
    """Compare probe embeddings (a selfie, video frames) with the pensioner's gallery.

    The score is cohort-normalised on both sides (S-norm): against the stored statistics of
    the gallery and against the enrolled cohort for the probe. Until the cohort is large
    enough to estimate impostor scores, no decision is better than `review`.
    """
    faces = active_faces(session=session, pensioner_id=pensioner_id)
    if not faces:
        raise NotEnrolled()
    if not probes:
        raise ValueError("no probe embeddings")
    model_name, model_version = faces[-1].model_name, faces[-1].model_version
    for probe in probes:
        if (probe.model_name, probe.model_version) != (model_name, model_version):
            raise ValueError(
                f"probe from {probe.model_name} {probe.model_version}, gallery "
                f"from {model_name} {model_version}: re-enrol with this model"
            )
    policy = match_policy(settings)
    template = np.stack([_vector(f) for f in faces if f.model_version == model_version])
    probe = np.stack([np.asarray(p.vector, dtype=np.float64) for p in probes]).mean(axis=0)
    distance = float(np.linalg.norm(probe - template.mean(axis=0)))
    gallery = session.get(FaceGallery, pensioner_id)
    if gallery is None or gallery.cohort_mean is None:
        gallery = refresh_gallery(session=session, settings=settings, pensioner_id=pensioner_id)
    reasons: list[str] = []
    score: float | None = None
    template_score: float | None = None
    probe_score: float | None = None
    cohort_size = gallery.cohort_size if gallery else 0
    if gallery is None or gallery.cohort_mean is None or gallery.cohort_std is None:
        decision = decide_without_cohort(distance=distance, policy=policy).value
        reasons.append("cohort_too_small")
    else:
        template_stats = CohortStats(
            mean=gallery.cohort_mean,
            std=gallery.cohort_std,
            cohort_size=gallery.cohort_size,
            tail_fraction=gallery.tail_fraction or policy.tail_fraction,
            model_name=model_name,
            model_version=model_version,
        )
        vectors, owners = cohort_cache.get(
            session=session,
            model_name=model_name,
            model_version=model_version,
            limit=settings.face_cohort_max,
        )
        others = vectors[owners != str(pensioner_id)][: settings.face_cohort_max]
        probe_stats = None
        if len(others) >= policy.min_cohort_size:
            probe_stats = compute_cohort_stats(
                probe,
                cohort=others,
                policy=policy,
                model_name=model_name,
                model_version=model_version,
            )
        else:
            reasons.append("probe_not_normalised")
        result = decide(
            distance=distance, template_stats=template_stats, probe_stats=probe_stats, policy=policy
        )
        decision = result.decision.value
        score, template_score = result.score, result.template_score
        probe_score = result.probe_score
    if distance > policy.review_max_distance:
        reasons.append("distance_above_limit")
    return Verification(
        decision=decision,
        distance=distance,
        score=score,
        template_score=template_score,
        probe_score=probe_score,
        policy=policy,
        model_name=model_name,
        model_version=model_version,
        cohort_size=cohort_size,
        enrolled_faces=len(template),
        probe_images=len(probes),
        reasons=tuple(reasons),
    )


def add_certification_selfie(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    analysis: PhotoAnalysis,
    data: bytes,
    verification: Verification,
    actor: Actor,
) -> EnrolledFace | None:
    """Let a confidently matched, clean selfie join the gallery so it follows ageing.

    Bounded: at most face_gallery_max_certification such faces stay active; the oldest is
    retired (kept as history). Enrolment photos taken by staff are never retired this way.
    """
    confident = (
        verification.decision == "match"
        and verification.score is not None
        and verification.score >= settings.face_gallery_min_score
        and analysis.ok
    )
    if not confident or settings.face_gallery_max_certification == 0:
        return None
    face = _add_face(
        session=session,
        settings=settings,
        pensioner=pensioner,
        analysis=analysis,
        data=data,
        source=FaceSource.certification,
        actor=actor,
    )
    added = [
        f
        for f in active_faces(session=session, pensioner_id=pensioner.id)
        if f.source is FaceSource.certification
    ]
    for old in added[: max(0, len(added) - settings.face_gallery_max_certification)]:
        retire(
            session=session,
            settings=settings,
            pensioner=pensioner,
            face=old,
            actor=actor,
            reason="gallery_bound",
        )
    return face


def retire(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    face: EnrolledFace,
    actor: Actor,
    reason: str,
) -> EnrolledFace:
    if not face.active:
        return face
    face.active = False
    face.retired_at = utcnow()
    session.add(face)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="face.retire",
        entity_type="pensioner",
        entity_id=pensioner.id,
        region_code=pensioner.region_code,
        before={"face_id": str(face.id), "active": True},
        after={"face_id": str(face.id), "active": False, "reason": reason},
    )
    refresh_gallery(session=session, settings=settings, pensioner_id=pensioner.id)
    return face


def photo_report(name: str, analysis: PhotoAnalysis) -> dict[str, object]:
    return {
        "file": name,
        "format": analysis.format,
        "size": [analysis.original_width, analysis.original_height],
        **quality_summary(analysis),
    }


def compare_photos(
    *,
    enrolled: bytes,
    selfie: bytes,
    engine: FaceEngine,
    settings: Settings,
    cohort: np.ndarray,
) -> dict[str, object]:
    """Decide whether two photos show the same person, normalised against `cohort`.

    The command-line twin of verify(): the enrolled photo is held to the enrolment gate and
    the selfie to the selfie gate, and every finding is reported. Raises ImageError for an
    unusable file and NoUsableFace when a photo has no single face to compare.
    """
    started = time.perf_counter()
    policy = match_policy(settings)
    reference = analyze_photo(
        enrolled, engine=engine, limits=decode_limits(settings), policy=QualityPolicy.enrolment()
    )
    probe = analyze(selfie, engine=engine, settings=settings, gate="selfie")
    for label, analysis in (("enrolled", reference), ("selfie", probe)):
        if analysis.embedding is None:
            first = analysis.quality.findings[0] if analysis.quality.findings else None
            raise NoUsableFace(
                f"The {label} photo has no single face to compare"
                + (f": {first.en}" if first else "."),
                findings=quality_summary(analysis)["findings"],
            )
    assert reference.embedding is not None and probe.embedding is not None
    model = (reference.embedding.model_name, reference.embedding.model_version)
    a = np.asarray(reference.embedding.vector, dtype=np.float64)
    b = np.asarray(probe.embedding.vector, dtype=np.float64)
    distance = float(np.linalg.norm(a - b))
    reasons: list[str] = []
    score: float | None = None
    template_score: float | None = None
    probe_score: float | None = None
    if len(cohort) >= policy.min_cohort_size:
        result = decide(
            distance=distance,
            template_stats=compute_cohort_stats(
                a, cohort=cohort, policy=policy, model_name=model[0], model_version=model[1]
            ),
            probe_stats=compute_cohort_stats(
                b, cohort=cohort, policy=policy, model_name=model[0], model_version=model[1]
            ),
            policy=policy,
        )
        decision, score = result.decision.value, result.score
        template_score, probe_score = result.template_score, result.probe_score
    else:
        reasons.append("cohort_too_small")
        decision = decide_without_cohort(distance=distance, policy=policy).value
    if distance > policy.review_max_distance:
        reasons.append("distance_above_limit")
    return {
        "decision": decision,
        "distance": round(distance, 4),
        "score": None if score is None else round(score, 3),
        "template_score": None if template_score is None else round(template_score, 3),
        "probe_score": None if probe_score is None else round(probe_score, 3),
        "thresholds": {
            "match_score": policy.match_score,
            "review_score": policy.review_score,
            "match_max_distance": policy.match_max_distance,
            "review_max_distance": policy.review_max_distance,
        },
        "model": {"name": model[0], "version": model[1]},
        "cohort_size": int(len(cohort)),
        "reasons": reasons,
        "enrolled": photo_report("enrolled", reference),
        "selfie": photo_report("selfie", probe),
        "ms": round((time.perf_counter() - started) * 1000),
    }


def embed_folder(root: Path, *, engine: FaceEngine, settings: Settings) -> np.ndarray:
    """Embeddings of every photo under root with one usable face (a cohort for the CLI)."""
    vectors = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            analysis = analyze(path.read_bytes(), engine=engine, settings=settings, gate="selfie")
        except ImageError:
            continue
        if analysis.embedding is not None:
            vectors.append(np.asarray(analysis.embedding.vector, dtype=np.float64))
    return np.stack(vectors) if vectors else np.zeros((0, 128))
