"""Photos and clips for the certification tests, cut from the shared fixture videos."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import av
import numpy as np
from sqlmodel import Session

from app.audit.service import SYSTEM
from app.config import Settings
from app.faces import service as faces
from biometrics import DlibFaceEngine
from models.face import EnrolledFace, FaceSource
from models.pensioner import Pensioner
from tests.conftest import FIXTURES, Factory

LIVE = FIXTURES / "videos" / "live"
# A phone selfie video of one man; he blinks (1.5 s) before he opens his mouth (3.4 s).
SELFIE_CLIP = LIVE / "liveportrait_driving_d13.mp4"
# random.Random(2) draws the challenge ["blink", "open_mouth"], which that clip performs.
SEED_BLINK_THEN_MOUTH = 2
COHORT_PHOTOS = sorted((FIXTURES / "faces").glob("dlibjohns_*/*.jpg"))[:24] + sorted(
    (FIXTURES / "faces").glob("fr_*/*.jpg")
)


@cache
def frame_jpeg(path: Path, index: int) -> bytes:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                buffer = io.BytesIO()
                frame.to_image().save(buffer, format="JPEG", quality=92)
                return buffer.getvalue()
    raise ValueError(f"{path} has no frame {index}")


@cache
def cohort_vectors(engine: DlibFaceEngine) -> list[tuple[bytes, str, str]]:
    out = []
    for path in COHORT_PHOTOS:
        analysis = faces.analyze(
            path.read_bytes(), engine=engine, settings=Settings(), gate="selfie"
        )
        assert analysis.embedding is not None
        e = analysis.embedding
        out.append((np.asarray(e.vector, dtype="<f8").tobytes(), e.model_name, e.model_version))
    return out


def enrol_cohort(db: Session, factory: Factory, engine: DlibFaceEngine) -> None:
    """Other enrolled pensioners, so scores can be normalised (a cohort of 38)."""
    for vector, name, version in cohort_vectors(engine):
        other = factory.pensioner("110108")
        db.add(
            EnrolledFace(
                pensioner_id=other.id,
                source=FaceSource.enrolment,
                photo_path="x",
                photo_sha256="0" * 64,
                photo_format="jpeg",
                photo_width=1,
                photo_height=1,
                embedding=vector,
                model_name=name,
                model_version=version,
                added_by_type="system",
                added_by_id="test",
            )
        )
    db.commit()


def enrol_clip_person(
    db: Session, factory: Factory, settings: Settings, engine: DlibFaceEngine
) -> Pensioner:
    """A pensioner enrolled with a frame of SELFIE_CLIP (so the clip is of them)."""
    pensioner = factory.pensioner()
    faces.enrol(
        session=db,
        settings=settings,
        engine=engine,
        pensioner=pensioner,  # type: ignore[arg-type]
        data=frame_jpeg(SELFIE_CLIP, 240),
        actor=SYSTEM,
    )
    db.commit()
    return pensioner  # type: ignore[return-value]
