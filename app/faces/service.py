"""Face enrolment, the per-pensioner gallery with its cohort statistics, and 1:N-free 1:1 checks."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlmodel import Session, col, select

from app import media
from app.audit import service as audit
from app.audit.service import Actor
from app.config import Settings
from app.errors import PermissionDenied
from app.faces import calibration, duplicates
from app.faces.errors import (
    DuplicatePhoto,
    FaceNotFound,
    FaceNotPending,
    NotEnrolled,
    NoUsableFace,
    PhotoQualityFailed,
)
from app.faces.gallery import (
    active_faces,
    enrolled_embeddings,
    match_policy,
    refresh_gallery,
    vector_of,
)
from app.faces.index import Neighbour, log_change, register_index
from app.kit import audited
from app.kit.scope import in_region
from biometrics import (
    CohortStats,
    DecodeLimits,
    FaceEmbedding,
    FaceEngine,
    ImageError,
    MatchPolicy,
    PhotoAnalysis,
    QualityPolicy,
    SliceThreshold,
    Thresholds,
    analyze_photo,
    combine,
    compute_cohort_stats,
    decide_score,
    snorm,
    threshold_for_fmr,
)
from models.audit import AuditEvent
from models.base import utcnow
from models.face import EnrolledFace, FaceGallery, FaceSource
from models.pensioner import Pensioner
from models.staff import Role, StaffUser
from models.video_call import AppointmentStatus, VideoAppointment

Gate = Literal["enrolment", "selfie", "id_card"]
# Sources whose photos are too small to decide a match alone (see verify()).
LOW_RESOLUTION_SOURCES = frozenset({FaceSource.id_card})
_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "heif": "heic"}


def decode_limits(settings: Settings) -> DecodeLimits:
    return DecodeLimits(
        max_bytes=settings.max_photo_bytes,
        max_pixels=settings.max_photo_pixels,
        max_pixels_per_byte=settings.max_pixels_per_byte,
    )


def analyze(data: bytes, *, engine: FaceEngine, settings: Settings, gate: Gate) -> PhotoAnalysis:
    """Decode and check one photo; raises a biometrics ImageError for an unusable file."""
    policy = {
        "enrolment": QualityPolicy.enrolment,
        "id_card": QualityPolicy.id_card,
        "selfie": QualityPolicy.selfie,
    }[gate]()
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


def _add_face(
    *,
    session: Session,
    settings: Settings,
    pensioner: Pensioner,
    analysis: PhotoAnalysis,
    data: bytes,
    source: FaceSource,
    actor: Actor,
    pending: bool = False,
    check: dict[str, Any] | None = None,
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
        active=not pending,
        pending=pending,
        enrolment_check=check or {},
        added_by_type=actor.type,
        added_by_id=actor.id,
    )
    session.add(face)
    session.flush()
    if face.active:
        log_change(session, face=face, joined=True)
    media.store(settings=settings, relative=relative, data=data)
    try:
        audit.record(
            session=session,
            actor=actor,
            action=f"face.{source.value}" + ("_pending" if pending else ""),
            entity_type="pensioner",
            entity_id=pensioner.id,
            region_code=pensioner.region_code,
            after={
                "face_id": str(face.id),
                "photo_sha256": face.photo_sha256,
                "model": f"{face.model_name} {face.model_version}",
                "quality": face.quality,
                "check": face.enrolment_check,
            },
        )
        if not pending:
            refresh_gallery(session=session, settings=settings, pensioner_id=pensioner.id)
    except BaseException:
        media.remove(settings=settings, relative=relative)
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
    cohort_cache: CohortCache | None = None,
    source: FaceSource = FaceSource.enrolment,
) -> EnrolledFace:
    """Check the photo against the strict enrolment gate, store it and its template.

    `source` id_card holds the photo to the ID-card chip gate instead (a small, flat,
    possibly grey picture) and marks it as a low-resolution reference.

    A staff member's photo joins the gallery at once only when it matches the person's photos
    already on file and resembles nobody enrolled under another ID; otherwise (the first
    photo, a mismatch, a resemblance) it waits, inactive, for a second staff member
    (`decide_pending`). The same photo, or a near-identical copy, is refused: it would count
    twice in the gallery's mean.
    """
    if source not in (FaceSource.enrolment, FaceSource.id_card):
        raise ValueError(f"staff do not enrol {source.value} photos")
    gate: Gate = "id_card" if source is FaceSource.id_card else "enrolment"
    analysis = analyze(data, engine=engine, settings=settings, gate=gate)
    if not analysis.ok:
        first = analysis.quality.findings[0]
        raise PhotoQualityFailed(
            f"The photo cannot be used for enrolment: {first.en}",
            findings=quality_summary(analysis)["findings"],
        )
    check = enrolment_check(
        session=session,
        settings=settings,
        cohort_cache=cohort_cache or CohortCache(),
        pensioner=pensioner,
        analysis=analysis,
        data=data,
    )
    neighbours = check.pop("_neighbours")
    face = _add_face(
        session=session,
        settings=settings,
        pensioner=pensioner,
        analysis=analysis,
        data=data,
        source=source,
        actor=actor,
        # Register imports and the command line run with the operator's own authority.
        pending=actor.type == "staff" and bool(check["waits_for"]),
        check=check,
    )
    # Anyone closer than the duplicate threshold: a case for staff, whatever the gallery says.
    duplicates.check_new_face(
        session=session,
        settings=settings,
        face=face,
        neighbours=neighbours,
        found_by="enrolment",
        actor=actor,
    )
    return face


def enrolment_check(
    *,
    session: Session,
    settings: Settings,
    cohort_cache: CohortCache,
    pensioner: Pensioner,
    analysis: PhotoAnalysis,
    data: bytes,
) -> dict[str, Any]:
    """Is this photo new, of this person, and of nobody else on the register?"""
    assert analysis.embedding is not None
    probe = analysis.embedding
    vector = np.asarray(probe.vector, dtype=np.float64)
    sha = hashlib.sha256(data).hexdigest()
    on_file = session.exec(
        select(EnrolledFace).where(
            EnrolledFace.pensioner_id == pensioner.id,
            col(EnrolledFace.active) | col(EnrolledFace.pending),
        )
    ).all()
    for face in on_file:
        if face.photo_sha256 == sha:
            raise DuplicatePhoto("This photo is already on file for this person.")
        same_model = (face.model_name, face.model_version) == (
            probe.model_name,
            probe.model_version,
        )
        near = float(np.linalg.norm(vector_of(face) - vector))
        if same_model and near <= settings.face_duplicate_max_distance:
            raise DuplicatePhoto(
                "A copy of a photo already on file for this person (the same picture resized "
                "or re-saved); take a new photo."
            )
    waits_for: list[str] = []
    own: dict[str, Any] | None = None
    model = (probe.model_name, probe.model_version)
    comparable = [f for f in on_file if f.active and (f.model_name, f.model_version) == model]
    if not comparable:
        # Photos of another face model cannot be compared: as good as none on file.
        waits_for.append(
            "first_photo" if not any(f.active for f in on_file) else "no_comparable_photo"
        )
    else:
        mine = verify(
            session=session,
            settings=settings,
            cohort_cache=cohort_cache,
            pensioner_id=pensioner.id,
            probes=[probe],
        )
        own = {"decision": mine.decision, "score": mine.score, "reasons": list(mine.reasons)}
        if mine.decision != "match":
            waits_for.append("does_not_match_photos_on_file")
    neighbours = register_index(session, model=model).nearest(
        vector, k=settings.face_dedup_neighbours, exclude=pensioner.id
    )
    others = resembling_others(
        session=session,
        settings=settings,
        cohort_cache=cohort_cache,
        pensioner_id=pensioner.id,
        probe=probe,
        own_score=None if own is None else own["score"],
        neighbours=neighbours,
    )
    if others["flagged"]:
        waits_for.append("resembles_another_pensioner")
    if any(n.distance < settings.face_duplicate_case_distance for n in neighbours):
        waits_for.append("duplicate_case")
    # Not stored (the caller opens the duplicate cases from it).
    return {"own": own, "others": others, "waits_for": waits_for, "_neighbours": neighbours}


def _stats_of(
    gallery: FaceGallery | None, *, policy: MatchPolicy, model: tuple[str, str]
) -> CohortStats | None:
    """A gallery's stored impostor statistics, if it has them."""
    if gallery is None or gallery.cohort_mean is None or gallery.cohort_std is None:
        return None
    return CohortStats(
        mean=gallery.cohort_mean,
        std=gallery.cohort_std,
        cohort_size=gallery.cohort_size,
        tail_fraction=gallery.tail_fraction or policy.tail_fraction,
        model_name=model[0],
        model_version=model[1],
    )


def _probe_stats(
    *,
    session: Session,
    settings: Settings,
    cohort_cache: CohortCache,
    exclude: uuid.UUID,
    vectors: np.ndarray,
    model: tuple[str, str],
) -> list[CohortStats] | None:
    """Each probe's impostor statistics against the enrolled cohort without `exclude` (the
    claimed person), or None while that cohort is too small to estimate them."""
    policy = match_policy(settings)
    cohort, owners = cohort_cache.get(
        session=session, model_name=model[0], model_version=model[1], limit=settings.face_cohort_max
    )
    others = cohort[owners != str(exclude)][: settings.face_cohort_max]
    if len(others) < policy.min_cohort_size:
        return None
    return [
        compute_cohort_stats(
            v, cohort=others, policy=policy, model_name=model[0], model_version=model[1]
        )
        for v in vectors
    ]


def resembling_others(
    *,
    session: Session,
    settings: Settings,
    cohort_cache: CohortCache,
    pensioner_id: uuid.UUID,
    probe: FaceEmbedding,
    own_score: float | None = None,
    keep: int = 3,
    neighbours: list[Neighbour] | None = None,
) -> dict[str, Any]:
    """1:N: the enrolled people (other than pensioner_id) this face would be taken for.

    The index (app/faces/index.py) gives the nearest templates of other people; their
    galleries are scored as a verification would score them. One is flagged when it
    reaches the register's calibrated bar and, if the face was also compared with the
    person's own photos, resembles that other person at least as much (a bar meant for one
    comparison, used against N galleries, would otherwise flag a lookalike among many
    strangers for every genuine photo). `checked` is how many other people's templates the
    search covered.
    """
    model = (probe.model_name, probe.model_version)
    index = register_index(session, model=model)
    if neighbours is None:
        neighbours = index.nearest(
            np.asarray(probe.vector), k=settings.face_dedup_neighbours, exclude=pensioner_id
        )
    bars = overall_thresholds(
        session=session,
        settings=settings,
        model_name=probe.model_name,
        model_version=probe.model_version,
    )
    own_faces = len(
        session.exec(
            select(EnrolledFace.id).where(
                EnrolledFace.pensioner_id == pensioner_id,
                col(EnrolledFace.active),
                EnrolledFace.model_name == probe.model_name,
                EnrolledFace.model_version == probe.model_version,
            )
        ).all()
    )
    result: dict[str, Any] = {
        "checked": len(index) - own_faces,
        "flagged": [],
        "closest": [],
        "bar": bars.match,
        "nearest": [
            {"pensioner_id": str(n.pensioner_id), "distance": round(n.distance, 4)}
            for n in neighbours[:keep]
        ],
    }
    # The index gives the nearest templates; only their owners can reach the bar, and only
    # they are scored as a verification would score them.
    owners = sorted({n.pensioner_id for n in neighbours}, key=str)
    if not owners:
        return result
    rows = session.exec(
        select(EnrolledFace.pensioner_id, EnrolledFace.embedding).where(
            col(EnrolledFace.active),
            EnrolledFace.model_name == probe.model_name,
            EnrolledFace.model_version == probe.model_version,
            col(EnrolledFace.pensioner_id).in_(owners),
        )
    ).all()
    index_of = {p: i for i, p in enumerate(owners)}
    sums = np.zeros((len(owners), len(probe.vector)))
    counts = np.zeros(len(owners))
    for owner, blob in rows:
        sums[index_of[owner]] += np.frombuffer(blob, dtype="<f8")
        counts[index_of[owner]] += 1
    centroids = sums / np.maximum(counts, 1)[:, None]
    galleries = {
        g.pensioner_id: g
        for g in session.exec(
            select(FaceGallery).where(col(FaceGallery.pensioner_id).in_(owners))
        ).all()
    }
    vector = np.asarray(probe.vector, dtype=np.float64)
    distances = np.linalg.norm(centroids - vector, axis=1)
    policy = match_policy(settings)
    probe_stats = _probe_stats(
        session=session,
        settings=settings,
        cohort_cache=cohort_cache,
        exclude=pensioner_id,
        vectors=vector[None, :],
        model=model,
    )
    scored: list[tuple[float, str]] = []
    for owner, distance, count in zip(owners, distances, counts, strict=True):
        stats = _stats_of(galleries.get(owner), policy=policy, model=model)
        if stats is None or count == 0:
            continue
        score, _, _ = snorm(
            float(distance),
            template_stats=stats,
            probe_stats=None if probe_stats is None else probe_stats[0],
        )
        scored.append((score, str(owner)))
    scored.sort(reverse=True)

    def listed(items: list[tuple[float, str]]) -> list[dict[str, Any]]:
        return [{"pensioner_id": who, "score": round(score, 4)} for score, who in items[:keep]]

    result["closest"] = listed(scored)
    if bars.match is not None:
        floor = bars.match if own_score is None else max(bars.match, own_score)
        result["flagged"] = listed([x for x in scored if x[0] >= floor])
    return result


def decide_pending(
    *,
    session: Session,
    settings: Settings,
    staff_id: uuid.UUID,
    actor: Actor,
    pensioner: Pensioner,
    face: EnrolledFace,
    approve: bool,
    reason: str | None,
) -> EnrolledFace:
    """A second staff member lets a waiting photo into the gallery, or turns it away."""
    if not face.pending:
        raise FaceNotPending()
    if face.added_by_id == str(staff_id):
        raise PermissionDenied("You enrolled this photo; another staff member must check it.")
    now = utcnow()
    face.pending = False
    if approve:
        face.active, face.approved_by_id, face.approved_at = True, str(staff_id), now
        log_change(session, face=face, joined=True)
    else:
        face.retired_at = now
    audited.write(
        session=session,
        actor=actor,
        rows=[face],
        **audit.pensioner_event(
            "face.approved" if approve else "face.rejected",
            pensioner,
            before={"face_id": str(face.id), "pending": True},
            after={"face_id": str(face.id), "active": face.active, "reason": reason},
        ),
    )
    if approve:
        refresh_gallery(session=session, settings=settings, pensioner_id=pensioner.id)
    return face


def pending_faces(*, session: Session, region_prefix: str) -> list[EnrolledFace]:
    """Photos waiting for a second staff member, oldest first, for pensioners in the region."""
    return list(
        session.exec(
            select(EnrolledFace)
            .where(col(EnrolledFace.pending), in_region(EnrolledFace.pensioner_id, region_prefix))
            .order_by(col(EnrolledFace.created_at))
        ).all()
    )


def may_see_photos(*, session: Session, staff: StaffUser, pensioner_id: uuid.UUID) -> bool:
    """Staff who enrol, check or review see a person's photos in scope; a video agent only
    while a call with that person is booked with them (the photo beside the live video)."""
    if staff.has_role(Role.admin) or staff.has_role(Role.reviewer):
        return True
    if staff.has_role(Role.community_worker):
        return True
    booked = session.exec(
        select(VideoAppointment.id)
        .where(
            VideoAppointment.pensioner_id == pensioner_id,
            VideoAppointment.agent_id == staff.id,
            VideoAppointment.status == AppointmentStatus.booked,
        )
        .limit(1)
    ).first()
    return booked is not None


FACE_CHANGES = (
    "face.enrolment",
    "face.enrolment_pending",
    "face.id_card",
    "face.id_card_pending",
    "face.approved",
    "face.rejected",
    "face.retire",
)


def changed_photos_recently(
    *, session: Session, staff_id: uuid.UUID, pensioner_id: uuid.UUID, days: int = 30
) -> bool:
    """Whether this staff member enrolled, approved or retired the person's photos lately:
    then they may neither operate nor decide that person's certification."""
    since = utcnow() - timedelta(days=days)
    found = session.exec(
        select(AuditEvent.seq)
        .where(
            AuditEvent.entity_id == str(pensioner_id),
            AuditEvent.actor_type == "staff",
            AuditEvent.actor_id == str(staff_id),
            col(AuditEvent.action).in_(FACE_CHANGES),
            col(AuditEvent.occurred_at) >= since,
        )
        .limit(1)
    ).first()
    return found is not None


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
    """One face decision and every number behind it.

    score is the fused score: the mean of the probes' own normalised scores (a selfie and
    video frames are several looks at one person, so they add evidence instead of each
    having to pass alone). probe_scores keeps each of them.
    """

    decision: str
    distance: float  # of the mean probe to the gallery centroid, for the reviewer
    score: float | None
    template_score: float | None
    probe_score: float | None
    probe_scores: tuple[float, ...]
    thresholds: Thresholds
    calibration_id: int | None
    model_name: str
    model_version: str
    cohort_size: int
    enrolled_faces: int
    probe_images: int
    reasons: tuple[str, ...]


def verification_summary(v: Verification) -> dict[str, Any]:
    """The JSON kept with an attempt, a call frame or a review case."""
    data = asdict(v)
    data.pop("thresholds")
    data["policy"] = {
        k: round(x, 4)
        for k, x in (("match", v.thresholds.match), ("no_match", v.thresholds.no_match))
        if x is not None
    }
    data["probe_scores"] = [round(x, 4) for x in v.probe_scores]
    data["reasons"] = list(v.reasons)
    return data


@dataclass(frozen=True)
class _Gallery:
    template: np.ndarray
    stats: CohortStats | None
    cohort_size: int
    model_name: str
    model_version: str
    # Every active photo is a low-resolution reference (e.g. only the ID-card chip photo).
    low_resolution: bool = False


def _gallery(*, session: Session, settings: Settings, pensioner_id: uuid.UUID) -> _Gallery:
    faces = active_faces(session=session, pensioner_id=pensioner_id)
    if not faces:
        raise NotEnrolled()
    model_name, model_version = faces[-1].model_name, faces[-1].model_version
    policy = match_policy(settings)
    template = np.stack([vector_of(f) for f in faces if f.model_version == model_version])
    gallery = session.get(FaceGallery, pensioner_id)
    stale = (
        gallery is None
        or gallery.cohort_mean is None
        or gallery.model_version != model_version
        or gallery.tail_fraction is None
        or abs(gallery.tail_fraction - policy.tail_fraction) > 1e-9
    )
    if stale:
        gallery = refresh_gallery(session=session, settings=settings, pensioner_id=pensioner_id)
    stats = _stats_of(gallery, policy=policy, model=(model_name, model_version))
    return _Gallery(
        template=template,
        stats=stats,
        cohort_size=gallery.cohort_size if gallery else 0,
        model_name=model_name,
        model_version=model_version,
        low_resolution=all(f.source in LOW_RESOLUTION_SOURCES for f in faces),
    )


def verify(
    *,
    session: Session,
    settings: Settings,
    cohort_cache: CohortCache,
    pensioner_id: uuid.UUID,
    probes: list[FaceEmbedding],
) -> Verification:
    """Compare probe embeddings (a selfie, video frames) with the pensioner's gallery.

    Each probe is scored cohort-normalised on both sides (S-norm: the gallery's stored
    statistics and the probe against the enrolled cohort) and the scores are averaged. The
    bars come from the calibration of the register for this pensioner's slices; without a
    usable calibration or cohort, no decision is better than `review`.
    """
    if not probes:
        raise ValueError("no probe embeddings")
    gallery = _gallery(session=session, settings=settings, pensioner_id=pensioner_id)
    model_name, model_version = gallery.model_name, gallery.model_version
    for probe in probes:
        if (probe.model_name, probe.model_version) != (model_name, model_version):
            raise ValueError(
                f"probe from {probe.model_name} {probe.model_version}, gallery "
                f"from {model_name} {model_version}: re-enrol with this model"
            )
    pensioner = session.get(Pensioner, pensioner_id)
    assert pensioner is not None
    thresholds, calibration_id = calibration.thresholds_for(
        session=session,
        settings=settings,
        pensioner=pensioner,
        model_name=model_name,
        model_version=model_version,
    )
    vectors = np.stack([np.asarray(p.vector, dtype=np.float64) for p in probes])
    centroid = gallery.template.mean(axis=0)
    distance = float(np.linalg.norm(vectors.mean(axis=0) - centroid))
    reasons: list[str] = list(thresholds.reasons)
    score: float | None = None
    template_score: float | None = None
    probe_score: float | None = None
    probe_scores: list[float] = []
    if gallery.stats is None:
        reasons.append("cohort_too_small")
    else:
        probe_stats: list[CohortStats | None] = [None] * len(vectors)
        found = _probe_stats(
            session=session,
            settings=settings,
            cohort_cache=cohort_cache,
            exclude=pensioner_id,
            vectors=vectors,
            model=(model_name, model_version),
        )
        if found is None:
            reasons.append("probe_not_normalised")
        else:
            probe_stats = list(found)
        parts = [
            snorm(
                float(np.linalg.norm(v - centroid)),
                template_stats=gallery.stats,
                probe_stats=stats,
            )
            for v, stats in zip(vectors, probe_stats, strict=True)
        ]
        probe_scores = [p[0] for p in parts]
        score = float(np.mean(probe_scores))
        template_score = float(np.mean([p[1] for p in parts]))
        probe_only = [p[2] for p in parts if p[2] is not None]
        probe_score = float(np.mean(probe_only)) if probe_only else None
    decision = decide_score(score, thresholds=thresholds).value
    if gallery.low_resolution:
        # The bars are calibrated on photo-sized references; a chip-sized one has not been
        # calibrated (README, "ID-card photos"), so a person is never matched on it alone.
        reasons.append("low_resolution_reference")
        decision = "review" if decision == "match" else decision
    return Verification(
        decision=decision,
        distance=distance,
        score=score,
        template_score=template_score,
        probe_score=probe_score,
        probe_scores=tuple(probe_scores),
        thresholds=thresholds,
        calibration_id=calibration_id,
        model_name=model_name,
        model_version=model_version,
        cohort_size=gallery.cohort_size,
        enrolled_faces=len(gallery.template),
        probe_images=len(probes),
        reasons=tuple(reasons),
    )


@dataclass(frozen=True)
class AttemptFaceCheck:
    """The face decision of a whole attempt: the selfie and the video frames fused."""

    decision: str
    fused: Verification
    selfie_score: float | None
    video_score: float | None
    second_pass: bool
    reasons: tuple[str, ...]

    def component(self, score: float | None) -> dict[str, Any]:
        t = self.fused.thresholds
        return {
            "score": None if score is None else round(score, 4),
            "decision": decide_score(score, thresholds=t).value,
            "policy": verification_summary(self.fused)["policy"],
        }

    def summary(self) -> dict[str, Any]:
        return verification_summary(self.fused) | {
            "decision": self.decision,
            "selfie": self.component(self.selfie_score),
            "video": self.component(self.video_score),
            "second_pass": self.second_pass,
            "reasons": list(self.reasons),
        }


Rescore = Callable[[], tuple[FaceEmbedding, list[FaceEmbedding]]]


def verify_attempt(
    *,
    session: Session,
    settings: Settings,
    cohort_cache: CohortCache,
    pensioner_id: uuid.UUID,
    selfie: FaceEmbedding,
    frames: list[FaceEmbedding],
    rescore: Rescore | None = None,
) -> AttemptFaceCheck:
    """One decision from the selfie and every video frame against every enrolled photo.

    The fused score is the mean of all probes' normalised scores: each extra look is more
    evidence, not one more chance to fall short. An attempt just below the match bar (within
    face_second_pass_margin) is embedded again the costlier way (`rescore`, e.g. jittered
    crops) before it is decided, so CPU goes where it can change the outcome. A selfie and a
    video that disagree (one a clear match, the other no closer than a typical stranger:
    someone else's live video with a stolen photo, or the reverse) go to review with
    their own reason, whatever the mean says.
    """

    def check(s: FaceEmbedding, f: list[FaceEmbedding]) -> Verification:
        return verify(
            session=session,
            settings=settings,
            cohort_cache=cohort_cache,
            pensioner_id=pensioner_id,
            probes=[s, *f],
        )

    fused = check(selfie, frames)
    second_pass = False
    bars = fused.thresholds
    near = (
        fused.decision != "match"
        and fused.score is not None
        and bars.match is not None
        and fused.score >= bars.match - settings.face_second_pass_margin
    )
    if near and rescore is not None:
        selfie, frames = rescore()
        fused, second_pass = check(selfie, frames), True
    scores = fused.probe_scores
    selfie_score = scores[0] if scores else None
    video_score = float(np.mean(scores[1:])) if len(scores) > 1 else None
    decision = fused.decision
    reasons = list(fused.reasons)
    if not frames:
        reasons.append("no_video_frames")
        decision = "review" if decision == "match" else decision
    parts = [x for x in (selfie_score, video_score) if x is not None]
    if bars.match is not None and bars.no_match is not None and len(parts) == 2:
        high, low = max(parts), min(parts)
        if high >= bars.match and low < bars.no_match:
            reasons.append("face_selfie_video_disagree")
            decision = "review"
    return AttemptFaceCheck(
        decision=decision,
        fused=fused,
        selfie_score=selfie_score,
        video_score=video_score,
        second_pass=second_pass,
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
    bar = verification.thresholds.match
    confident = (
        verification.decision == "match"
        and verification.score is not None
        and bar is not None
        and verification.score >= bar + settings.face_gallery_margin
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
    log_change(session, face=face, joined=False)
    audited.write(
        session=session,
        actor=actor,
        rows=[face],
        **audit.pensioner_event(
            "face.retire",
            pensioner,
            before={"face_id": str(face.id), "active": True},
            after={"face_id": str(face.id), "active": False, "reason": reason},
        ),
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
    thresholds: Thresholds,
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
    reasons: list[str] = list(thresholds.reasons)
    score: float | None = None
    template_score: float | None = None
    probe_score: float | None = None
    if len(cohort) >= policy.min_cohort_size:
        score, template_score, probe_score = snorm(
            distance,
            template_stats=compute_cohort_stats(
                a, cohort=cohort, policy=policy, model_name=model[0], model_version=model[1]
            ),
            probe_stats=compute_cohort_stats(
                b, cohort=cohort, policy=policy, model_name=model[0], model_version=model[1]
            ),
        )
    else:
        reasons.append("cohort_too_small")
    decision = decide_score(score, thresholds=thresholds).value
    return {
        "decision": decision,
        "distance": round(distance, 4),
        "score": None if score is None else round(score, 3),
        "template_score": None if template_score is None else round(template_score, 3),
        "probe_score": None if probe_score is None else round(probe_score, 3),
        "thresholds": {"match": thresholds.match, "no_match": thresholds.no_match},
        "model": {"name": model[0], "version": model[1]},
        "cohort_size": int(len(cohort)),
        "reasons": reasons,
        "enrolled": photo_report("enrolled", reference),
        "selfie": photo_report("selfie", probe),
        "ms": round((time.perf_counter() - started) * 1000),
    }


def embed_folder(
    root: Path, *, engine: FaceEngine, settings: Settings
) -> tuple[np.ndarray, list[str]]:
    """Embeddings of every photo under root with one usable face (a cohort for the CLI),
    with the folder each came from (photos in one folder are taken as one person)."""
    vectors, owners = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            analysis = analyze(path.read_bytes(), engine=engine, settings=settings, gate="selfie")
        except ImageError:
            continue
        if analysis.embedding is not None:
            vectors.append(np.asarray(analysis.embedding.vector, dtype=np.float64))
            owners.append(str(path.parent.relative_to(root)) if path.parent != root else path.name)
    return (np.stack(vectors) if vectors else np.zeros((0, 128))), owners


def overall_thresholds(
    *, session: Session, settings: Settings, model_name: str, model_version: str
) -> Thresholds:
    """The register-wide bars of the active calibration (no pensioner, so no slice)."""
    current = calibration.current_calibration(
        session=session,
        model_name=model_name,
        model_version=model_version,
        tail_fraction=settings.face_tail_fraction,
    )
    if current is None:
        return Thresholds(match=None, no_match=None, reasons=("no_calibration",))
    return combine(SliceThreshold.from_dict(current.thresholds.get("overall", {})), {})


def thresholds_from_folder(
    vectors: np.ndarray, *, owners: list[str], settings: Settings
) -> Thresholds:
    """Bars calibrated on a cohort folder's own impostor pairs (the CLI's stand-in for the
    register): photos in different sub-folders, or loose photos, are different people."""
    from biometrics.bench import score_pairs

    pairs = score_pairs(vectors, identities=np.array(owners), policy=match_policy(settings))
    impostor = pairs.score[~pairs.genuine]
    part = threshold_for_fmr(
        impostor[np.isfinite(impostor)],
        target_fmr=settings.face_target_fmr,
        confidence=settings.face_calibration_confidence,
        no_match_quantile=settings.face_no_match_quantile,
    )
    return combine(part, {})
