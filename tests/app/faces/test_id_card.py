"""ID-card chip photos (source `id_card`): their own gate, detection at 102x126, and a face
decision that does not match anyone on a low-resolution reference alone. Real dlib engine."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlmodel import Session

from app.audit.service import SYSTEM
from app.config import Settings
from app.faces import service
from app.faces.errors import PhotoQualityFailed
from biometrics import DecodeLimits, DlibFaceEngine, FaceEngine, QualityPolicy, decode_image
from biometrics.engine import analyze_image
from biometrics.idcard import CHIP_HEIGHT, CHIP_WIDTH, make_id_chip
from models.face import FaceSource
from tests.app.faces.test_verification import (  # noqa: F401 (fixtures)
    _embed,
    _verify,
    cohort,
    cohort_embeddings,
)
from tests.conftest import FIXTURES, Factory

FACES = FIXTURES / "faces"


def chip_of(path: Path, engine: FaceEngine, **options: object) -> bytes:
    """The photo at `path` turned into an ID-card chip photo around its main face."""
    image = decode_image(path.read_bytes(), limits=DecodeLimits())
    analysis = analyze_image(image, engine=engine, policy=QualityPolicy.selfie())
    assert analysis.quality.main_face is not None, path
    return make_id_chip(image.pixels, box=analysis.quality.main_face.box, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("face_px", "grey"), [(75.0, False), (72.0, True), (88.0, False)])
def test_chip_photo_is_found_and_passes_its_own_gate_only(
    face_engine: DlibFaceEngine, face_px: float, grey: bool
) -> None:
    chip = chip_of(
        FACES / "deepface_c01" / "1.jpg", face_engine, face_px=face_px, grey=grey, flatten=0.2
    )
    assert Image.open(io.BytesIO(chip)).size == (CHIP_WIDTH, CHIP_HEIGHT)
    assert Image.open(io.BytesIO(chip)).mode == ("L" if grey else "RGB")
    analysis = service.analyze(chip, engine=face_engine, settings=Settings(), gate="id_card")
    assert analysis.ok, analysis.quality.findings
    assert analysis.embedding is not None
    assert analysis.quality.measures is not None
    assert abs(analysis.quality.measures.face_width_px - face_px) < 0.25 * face_px
    # The photo gate refuses the same picture: its face is far under 160 px.
    strict = service.analyze(chip, engine=face_engine, settings=Settings(), gate="enrolment")
    assert "face_too_small" in [i.value for i in strict.quality.issues]


def test_tiny_pictures_are_upsampled_twice() -> None:
    engine = DlibFaceEngine()
    assert engine._attempts(126)[-1] == (126, 2)
    assert all(up < 2 for _, up in engine._attempts(358))  # an archive scan: once at most
    assert all(up == 0 for _, up in engine._attempts(1280))


def test_chip_the_gate_refuses(face_engine: DlibFaceEngine) -> None:
    # A face too small for a card photo (a group photo cut down) and a picture without a face.
    small = chip_of(FACES / "deepface_c01" / "1.jpg", face_engine, face_px=40.0)
    with pytest.raises(PhotoQualityFailed) as refused:
        service.enrol(
            session=None,  # type: ignore[arg-type]  # refused before any database work
            settings=Settings(),
            engine=face_engine,
            pensioner=None,  # type: ignore[arg-type]
            data=small,
            actor=SYSTEM,
            source=FaceSource.id_card,
        )
    assert "face_too_small" in [f["issue"] for f in refused.value.extra["findings"]]
    blank = io.BytesIO()
    Image.new("L", (CHIP_WIDTH, CHIP_HEIGHT), 128).save(blank, format="JPEG")
    analysis = service.analyze(
        blank.getvalue(), engine=face_engine, settings=Settings(), gate="id_card"
    )
    assert [i.value for i in analysis.quality.issues] == ["no_face"]


def test_a_chip_reference_alone_never_matches(
    cohort: None,  # noqa: F811
    db: Session,
    settings: Settings,
    face_engine: DlibFaceEngine,
    factory: Factory,
) -> None:
    pensioner = factory.pensioner()
    chip = chip_of(FACES / "deepface_c01" / "1.jpg", face_engine, face_px=80.0, grey=True)
    face = service.enrol(
        session=db,
        settings=settings,
        engine=face_engine,
        pensioner=pensioner,
        data=chip,
        actor=SYSTEM,
        source=FaceSource.id_card,
    )
    db.commit()
    assert face.source is FaceSource.id_card and face.active
    assert (face.photo_width, face.photo_height) == (CHIP_WIDTH, CHIP_HEIGHT)
    probe = _embed(face_engine, FACES / "deepface_c01" / "3.jpg")
    genuine = _verify(db, settings, pensioner, [probe])
    assert genuine.score is not None and genuine.thresholds.match is not None
    assert genuine.decision == "review", genuine
    assert "low_resolution_reference" in genuine.reasons
    impostor = _verify(
        db, settings, pensioner, [_embed(face_engine, FACES / "deepface_c03" / "1.jpg")]
    )
    assert impostor.decision != "match" and impostor.score is not None
    assert genuine.score > impostor.score

    # A photo-sized reference beside the chip: decisions are the ordinary ones again.
    service.enrol(
        session=db,
        settings=settings,
        engine=face_engine,
        pensioner=pensioner,
        data=(FACES / "deepface_c01" / "2.jpg").read_bytes(),
        actor=SYSTEM,
    )
    db.commit()
    again = _verify(db, settings, pensioner, [probe])
    assert "low_resolution_reference" not in again.reasons
    assert again.decision == "match", again


async def test_api_enrols_a_chip_as_id_card(
    client: httpx.AsyncClient, factory: Factory, face_engine: DlibFaceEngine
) -> None:
    pensioner = factory.pensioner()
    staff = factory.auth(factory.staff("community_worker", scope="110105"))
    chip = chip_of(FACES / "deepface_c13" / "1.jpg", face_engine, face_px=80.0)
    url = f"/api/v1/pensioners/{pensioner.id}/faces"  # type: ignore[attr-defined]
    files = {"photo": ("chip.jpg", chip, "image/jpeg")}
    refused = await client.post(url, files=files, headers=staff)
    assert refused.status_code == 422 and refused.json()["error"] == "PhotoQualityFailed"
    made = await client.post(url, files=files, data={"kind": "id_card"}, headers=staff)
    assert made.status_code == 201, made.text
    assert made.json()["source"] == "id_card" and made.json()["pending"] is True
    bad = await client.post(url, files=files, data={"kind": "passport"}, headers=staff)
    assert bad.status_code == 422


def test_chip_embedding_stays_near_the_photo(face_engine: DlibFaceEngine) -> None:
    """A chip is a worse picture of the same face, not another face (dlib on fixtures)."""
    path = FACES / "deepface_c01" / "1.jpg"
    full = _embed(face_engine, path)
    for grey in (False, True):
        chip = chip_of(path, face_engine, face_px=80.0, grey=grey)
        analysis = service.analyze(chip, engine=face_engine, settings=Settings(), gate="id_card")
        assert analysis.embedding is not None
        assert float(np.linalg.norm(analysis.embedding.vector - full.vector)) < 0.3
