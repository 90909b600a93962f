"""Photos and clips for the certification tests, cut from the shared fixture videos."""

from __future__ import annotations

import hashlib
import io
from functools import cache
from pathlib import Path

import av
import numpy as np
from sqlmodel import Session, col, select

from app.audit.service import SYSTEM
from app.config import Settings
from app.faces import service as faces
from biometrics import DlibFaceEngine, FaceEmbedding
from models.face import EnrolledFace, FaceCalibration, FaceSource
from models.pensioner import Pensioner
from tests.conftest import FIXTURES, Factory

LIVE = FIXTURES / "videos" / "live"
# A phone selfie video of one man; he blinks (1.5 s) before he opens his mouth (3.4 s).
SELFIE_CLIP = LIVE / "liveportrait_driving_d13.mp4"
# random.Random(2) draws the challenge ["blink", "open_mouth"], which that clip performs.
SEED_BLINK_THEN_MOUTH = 2
# The enrolled population the tests normalise and calibrate against: one photo of each of
# 60 different people (never the people the tests verify), East-Asian people included, as
# in the register the service is for.
_TEST_SUBJECTS = {"deepface_c01", "deepface_c03", "deepface_c13", "compreface_A"}
COHORT_PHOTOS = [
    sorted(folder.glob("*.jpg"))[0]
    for folder in sorted((FIXTURES / "faces").iterdir())
    if folder.is_dir() and not folder.name.startswith("ea_") and folder.name not in _TEST_SUBJECTS
] + [sorted(folder.glob("*.jpg"))[0] for folder in sorted((FIXTURES / "faces").glob("ea_*"))[:40]]


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


# Distinct surnames and phones: the calibration counts same-surname pairs who share a
# phone or district apart, as possible relatives.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
)


def face_row(pensioner: object, vector: bytes, model: tuple[str, str]) -> EnrolledFace:
    """An enrolled face of a stored embedding (no photo file: not for the media routes)."""
    return EnrolledFace(
        pensioner_id=pensioner.id,  # type: ignore[attr-defined]
        source=FaceSource.enrolment,
        photo_path="x",
        photo_sha256="0" * 64,
        photo_format="jpeg",
        photo_width=1,
        photo_height=1,
        embedding=vector,
        model_name=model[0],
        model_version=model[1],
        added_by_type="system",
        added_by_id="test",
    )


def embedding_row(pensioner: object, embedding: FaceEmbedding) -> EnrolledFace:
    vector = np.asarray(embedding.vector, dtype="<f8").tobytes()
    return face_row(pensioner, vector, (embedding.model_name, embedding.model_version))


def enrol_cohort(
    db: Session, factory: Factory, engine: DlibFaceEngine, *, calibrate: bool = True
) -> None:
    """Other enrolled pensioners, so scores can be normalised (a cohort of 60 people), and
    the face decision calibrated on them (at 1%: 60 people cannot support 0.1%)."""
    for index, (vector, name, version) in enumerate(cohort_vectors(engine)):
        other = factory.pensioner("110108", name=f"{SURNAMES[index]}测试", phone=f"139{index:08d}")
        db.add(face_row(other, vector, (name, version)))
    db.commit()
    if calibrate:
        calibrate_register(db, Settings())


def enrol_clip_person(
    db: Session,
    factory: Factory,
    settings: Settings,
    engine: DlibFaceEngine,
    *,
    sole: bool = False,
) -> Pensioner:
    """A pensioner enrolled with a frame of SELFIE_CLIP (so the clip is of them).

    `sole`: the clip's face is first retired from the pensioners the database already holds
    with it, as a register without duplicates has it; otherwise the 1:N search sees one face
    under several IDs and the new enrolment waits for a duplicate case (tests that share one
    database across tests, as the browser tests do)."""
    if sole:
        photo = hashlib.sha256(frame_jpeg(SELFIE_CLIP, 240)).hexdigest()
        earlier = db.exec(
            select(EnrolledFace).where(EnrolledFace.photo_sha256 == photo, col(EnrolledFace.active))
        ).all()
        for face in earlier:
            owner = db.get(Pensioner, face.pensioner_id)
            assert owner is not None
            faces.retire(
                session=db,
                settings=settings,
                pensioner=owner,
                face=face,
                actor=SYSTEM,
                reason="test: the clip's face under one identity at a time",
            )
        db.commit()
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


def calibrate_register(
    db: Session,
    settings: Settings,
    *,
    model: tuple[str, str] = (DlibFaceEngine.model_name, DlibFaceEngine.model_version),
    target_fmr: float = 0.01,
    require_auto_accept: bool = True,
) -> FaceCalibration:
    """Calibrate the face decision on the test register (60 people support 1%, not 0.1%)."""
    from app.faces import calibration

    cohort, owners = faces.CohortCache().get(
        session=db, model_name=model[0], model_version=model[1], limit=settings.face_cohort_max
    )
    made = calibration.calibrate(
        session=db,
        settings=settings,
        actor=SYSTEM,
        model_name=model[0],
        model_version=model[1],
        target_fmr=target_fmr,
        cohort=cohort,
        owners=owners,
    )
    assert made.auto_accept or not require_auto_accept, made.reason
    db.commit()
    return made
