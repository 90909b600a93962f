"""Authorization-matrix entries for duplicate cases and bulk face imports."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

from models.face_dedup import DuplicateCase, FaceImportBatch
from tests.conftest import Factory

ROLES = ("admin", "reviewer", "video_agent", "community_worker", "auditor", "national_auditor")


def build_world(factory: Factory, pensioner_in: Any, pensioner_out: Any) -> dict[str, str]:
    """A duplicate case in scope and one out of scope, and an import batch."""
    world: dict[str, str] = {}
    for side, pensioner in (("in", pensioner_in), ("out", pensioner_out)):
        other = factory.pensioner(pensioner.region_code)
        first, second = factory.face(pensioner), factory.face(other)
        case = DuplicateCase(
            pair_key=f"{pensioner.id}:{other.id}",  # type: ignore[attr-defined]
            earlier_pensioner_id=pensioner.id,
            later_pensioner_id=other.id,  # type: ignore[attr-defined]
            earlier_face_id=first.id,  # type: ignore[attr-defined]
            later_face_id=second.id,  # type: ignore[attr-defined]
            distance=0.1,
            threshold=0.4,
            found_by="dedup",
        )
        factory.session.add(case)
        factory.session.commit()
        world[f"duplicate_{side}"] = str(case.id)
    batch = FaceImportBatch(
        source="a.zip", kind="id_card", created_by_type="system", created_by_id="test"
    )
    factory.session.add(batch)
    factory.session.commit()
    world["import"] = str(batch.id)
    return world


def _expect(**allowed: tuple[int, int]) -> dict[str, tuple[int, int]]:
    base = {"anonymous": (401, 401), "pensioner": (401, 401)}
    return {**base, **dict.fromkeys(ROLES, (403, 403)), **allowed}


def _side(inside: bool) -> str:
    return "in" if inside else "out"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("110105194901011234.jpg", b"not a photo")
    return buffer.getvalue()


Build = Callable[[Any, bool], tuple[str, str, dict[str, object]]]

MATRIX: dict[tuple[str, str], tuple[Build, dict[str, tuple[int, int]]]] = {
    ("GET", "/api/v1/faces/duplicates"): (
        lambda w, i: ("GET", "/api/v1/faces/duplicates", {}),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("GET", "/api/v1/faces/duplicates/{case_id}"): (
        lambda w, i: ("GET", f"/api/v1/faces/duplicates/{w.data['duplicate_' + _side(i)]}", {}),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("POST", "/api/v1/faces/duplicates/{case_id}/decision"): (
        lambda w, i: (
            "POST",
            f"/api/v1/faces/duplicates/{w.data['duplicate_' + _side(i)]}/decision",
            {"json": {"outcome": "relatives", "note": "twins"}},
        ),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    # Only a national admin imports (none among the matrix's identities: all regional).
    ("POST", "/api/v1/faces/imports"): (
        lambda w, i: (
            "POST",
            "/api/v1/faces/imports",
            {"files": {"archive": ("a.zip", _zip(), "application/zip")}},
        ),
        _expect(),
    ),
    ("GET", "/api/v1/faces/imports/{batch_id}"): (
        lambda w, i: ("GET", f"/api/v1/faces/imports/{w.data['import']}", {}),
        _expect(),
    ),
    ("GET", "/api/v1/faces/imports/{batch_id}/refusals"): (
        lambda w, i: ("GET", f"/api/v1/faces/imports/{w.data['import']}/refusals", {}),
        _expect(),
    ),
}
