"""Authorization-matrix entries for the review queue and assisted capture routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.attempt import AttemptStatus, ReviewCase
from tests.conftest import FIXTURES, Factory

ROLES = ("admin", "reviewer", "video_agent", "community_worker", "auditor", "national_auditor")
PHOTO = (FIXTURES / "faces" / "deepface_c01" / "1.jpg").read_bytes()
CLIP = (FIXTURES / "videos" / "live" / "liveportrait_driving_d0.mp4").read_bytes()


def build_world(factory: Factory, pensioner_in: Any, pensioner_out: Any) -> dict[str, str]:
    """A review case in scope and one out of scope, and assisted attempts to upload to."""
    world: dict[str, str] = {}
    for side, pensioner in (("in", pensioner_in), ("out", pensioner_out)):
        attempt = factory.attempt(pensioner)
        attempt.status = AttemptStatus.needs_review  # type: ignore[attr-defined]
        attempt.decision = {"key_frames": []}  # type: ignore[attr-defined]
        case = ReviewCase(
            attempt_id=attempt.id,
            pensioner_id=pensioner.id,  # type: ignore[attr-defined]
            region_code=pensioner.region_code,
            low_score=False,
        )
        assisted = factory.attempt(pensioner)
        factory.session.add_all([attempt, case])
        factory.session.commit()
        world[f"review_{side}"] = str(case.id)
        world[f"pensioner_{side}"] = str(pensioner.id)
        world[f"assisted_{side}"] = str(assisted.id)  # type: ignore[attr-defined]
        world[f"assisted_nonce_{side}"] = assisted.challenge_nonce  # type: ignore[attr-defined]
    return world


def _expect(**allowed: tuple[int, int]) -> dict[str, tuple[int, int]]:
    base = {"anonymous": (401, 401), "pensioner": (401, 401)}
    return {**base, **dict.fromkeys(ROLES, (403, 403)), **allowed}


def _side(inside: bool) -> str:
    return "in" if inside else "out"


Build = Callable[[Any, bool], tuple[str, str, dict[str, object]]]

MATRIX: dict[tuple[str, str], tuple[Build, dict[str, tuple[int, int]]]] = {
    ("GET", "/api/v1/reviews"): (
        lambda w, i: ("GET", "/api/v1/reviews", {}),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("GET", "/api/v1/reviews/{case_id}"): (
        lambda w, i: ("GET", f"/api/v1/reviews/{w.data['review_' + _side(i)]}", {}),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("GET", "/api/v1/reviews/{case_id}/media/{name}"): (
        # The cases have no stored selfie: an allowed reader learns that (404), others don't.
        lambda w, i: ("GET", f"/api/v1/reviews/{w.data['review_' + _side(i)]}/media/selfie", {}),
        _expect(admin=(404, 404), reviewer=(404, 404)),
    ),
    ("POST", "/api/v1/reviews/{case_id}/decision"): (
        lambda w, i: (
            "POST",
            f"/api/v1/reviews/{w.data['review_' + _side(i)]}/decision",
            {"json": {"verdict": "reject", "reason": "test"}},
        ),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("POST", "/api/v1/pensioners/{pensioner_id}/assisted-attempts"): (
        lambda w, i: (
            "POST",
            f"/api/v1/pensioners/{w.data['pensioner_' + _side(i)]}/assisted-attempts",
            {},
        ),
        _expect(admin=(201, 404), community_worker=(201, 404)),
    ),
    ("POST", "/api/v1/pensioners/{pensioner_id}/assisted-attempts/{attempt_id}/upload"): (
        lambda w, i: (
            "POST",
            f"/api/v1/pensioners/{w.data['pensioner_' + _side(i)]}/assisted-attempts/"
            f"{w.data['assisted_' + _side(i)]}/upload",
            {
                "files": {
                    "selfie": ("s.jpg", PHOTO, "image/jpeg"),
                    "video": ("v.mp4", CLIP, "video/mp4"),
                },
                "data": {"nonce": w.data["assisted_nonce_" + _side(i)]},
            },
        ),
        _expect(admin=(202, 404), community_worker=(202, 404)),
    ),
}
