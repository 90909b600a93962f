"""Authorization-matrix entries for the resumable (tus) uploads of an attempt's selfie and
video (merged into tests/app/test_authorization_matrix.py): only the pensioner whose attempt
it is may create, read or extend an upload; anyone else's is not found."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from models.upload import ResumableUpload, UploadPart
from tests.conftest import FIXTURES, Factory

IDENTITIES = ("anonymous", "admin", "reviewer", "video_agent", "community_worker", "auditor")
PENSIONER_ONLY = dict.fromkeys((*IDENTITIES, "national_auditor"), (401, 401))
PHOTO = (FIXTURES / "faces" / "deepface_c01" / "1.jpg").read_bytes()
TUS = {"Tus-Resumable": "1.0.0"}


def build_world(factory: Factory, pensioner_in: Any, pensioner_out: Any) -> dict[str, str]:
    """An attempt of each pensioner with a selfie upload begun."""
    world: dict[str, str] = {}
    for side, pensioner in (("in", pensioner_in), ("out", pensioner_out)):
        attempt: Any = factory.attempt(pensioner)
        upload = ResumableUpload(
            attempt_id=attempt.id,
            pensioner_id=pensioner.id,
            part=UploadPart.selfie,
            length=len(PHOTO),
            nonce=attempt.challenge_nonce,
            expires_at=datetime.now(UTC) + timedelta(minutes=5),
        )
        factory.session.add(upload)
        factory.session.commit()
        world[f"upload_attempt_{side}"] = str(attempt.id)
        world[f"upload_nonce_{side}"] = attempt.challenge_nonce
        world[f"upload_{side}"] = str(upload.id)
    return world


def _side(inside: bool) -> str:
    return "in" if inside else "out"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


Request = Callable[[Any, bool], tuple[str, str, dict[str, object]]]

MATRIX: dict[tuple[str, str], tuple[Request, dict[str, tuple[int, int]]]] = {
    ("POST", "/api/v1/certifications/attempts/{attempt_id}/uploads"): (
        lambda w, i: (
            "POST",
            f"/api/v1/certifications/attempts/{w.data['upload_attempt_' + _side(i)]}/uploads",
            {
                "headers": TUS
                | {
                    "Upload-Length": "1000",
                    "Upload-Metadata": f"part {_b64('video')},nonce "
                    + _b64(w.data["upload_nonce_" + _side(i)]),
                }
            },
        ),
        {**PENSIONER_ONLY, "pensioner": (201, 404)},
    ),
    ("HEAD", "/api/v1/certifications/uploads/{upload_id}"): (
        lambda w, i: (
            "HEAD",
            f"/api/v1/certifications/uploads/{w.data['upload_' + _side(i)]}",
            {"headers": TUS},
        ),
        {**PENSIONER_ONLY, "pensioner": (200, 404)},
    ),
    ("PATCH", "/api/v1/certifications/uploads/{upload_id}"): (
        lambda w, i: (
            "PATCH",
            f"/api/v1/certifications/uploads/{w.data['upload_' + _side(i)]}",
            {
                "headers": TUS
                | {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                "content": PHOTO,
            },
        ),
        {**PENSIONER_ONLY, "pensioner": (204, 404)},
    ),
}
