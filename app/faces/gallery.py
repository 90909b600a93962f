"""A pensioner's gallery: their active photos and its impostor statistics against the cohort of
everyone else enrolled (kept apart from the checks in service.py, which calibration also
needs without importing them)."""

from __future__ import annotations

import uuid

import numpy as np
from sqlmodel import Session, col, select

from app.config import Settings
from biometrics import MatchPolicy, compute_cohort_stats
from models.base import utcnow
from models.face import EnrolledFace, FaceGallery


def match_policy(settings: Settings) -> MatchPolicy:
    return MatchPolicy(
        tail_fraction=settings.face_tail_fraction, min_cohort_size=settings.face_cohort_min
    )


def vector_of(face: EnrolledFace) -> np.ndarray:
    return np.frombuffer(face.embedding, dtype="<f8")


def active_faces(*, session: Session, pensioner_id: uuid.UUID) -> list[EnrolledFace]:
    return list(
        session.exec(
            select(EnrolledFace)
            .where(EnrolledFace.pensioner_id == pensioner_id, col(EnrolledFace.active))
            .order_by(col(EnrolledFace.created_at))
        ).all()
    )


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
    vectors = np.stack([vector_of(f) for f in faces if f.model_version == model_version])
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
