"""Authorization-matrix entries for video-call booking, the calls, and consular certificates
(merged into tests/app/test_authorization_matrix.py).

The world is built after the identity: when the identity is a video agent, the in-scope call
is assigned to them (only the assigned agent may act on a call); the out-of-scope call belongs
to an agent in Shanghai.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from PIL import Image

from app import media
from models.consular import ConsularDocument
from models.pensioner import Residence
from models.video_call import AppointmentStatus, AvailabilityRule, CallFrame, VideoAppointment

ROLES = ("admin", "reviewer", "video_agent", "community_worker", "auditor")
STAFF_DENIED = dict.fromkeys(ROLES + ("national_auditor",), (403, 403))
ANON = {"anonymous": (401, 401), "pensioner": (401, 401)}
PENSIONER_ONLY = dict.fromkeys(("anonymous", *ROLES, "national_auditor"), (401, 401))
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


def _black_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240)).save(buffer, format="PNG")
    return buffer.getvalue()


BLACK = _black_png()


def _expect(**allowed: tuple[int, int]) -> dict[str, tuple[int, int]]:
    return {**ANON, **STAFF_DENIED, **allowed}


def _mine(**pensioner: tuple[int, int]) -> dict[str, tuple[int, int]]:
    return {**PENSIONER_ONLY, **pensioner}


def _slot(days: int, hour: int = 2) -> datetime:
    """A slot of the world's agents (they work all day in Shanghai, 20-minute slots)."""
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _appointment(factory: Any, pensioner: Any, agent: Any, starts_at: datetime) -> VideoAppointment:
    row = VideoAppointment(
        pensioner_id=pensioner.id,
        agent_id=agent.id,
        region_code=pensioner.region_code,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=20),
        eligibility=["overseas"],
        timezone="Asia/Shanghai",
    )
    factory.session.add(row)
    factory.session.commit()
    return row


def _frame(factory: Any, call: VideoAppointment) -> CallFrame:
    relative = f"video_calls/{call.id}/{uuid.uuid4()}.png"
    media.store(settings=factory.settings, relative=relative, data=BLACK)
    frame = CallFrame(
        appointment_id=call.id,
        path=relative,
        sha256="0" * 64,
        format="png",
        decision="match",
        score=5.0,
        distance=0.3,
        captured_by_id="test",
    )
    factory.session.add(frame)
    factory.session.commit()
    return frame


def _document(factory: Any, pensioner: Any) -> ConsularDocument:
    relative = f"consular/{pensioner.id}/{uuid.uuid4()}.pdf"
    media.store(settings=factory.settings, relative=relative, data=PDF)
    document = ConsularDocument(
        pensioner_id=pensioner.id,
        region_code=pensioner.region_code,
        file_path=relative,
        file_sha256="0" * 64,
        file_format="pdf",
        file_bytes=len(PDF),
    )
    factory.session.add(document)
    factory.session.commit()
    return document


def build_world(
    factory: Any,
    pensioner_in: Any,
    pensioner_out: Any,
    *,
    agent: Any | None,
    route: tuple[str, str],
) -> dict[str, str]:
    session = factory.session
    pensioner_in.residence = Residence.overseas
    pensioner_in.overseas_country = "NZ"
    pensioner_in.overseas_timezone = "Pacific/Auckland"
    session.add(pensioner_in)
    agent_in = (
        agent
        if agent is not None and "video_agent" in agent.roles
        else factory.staff("video_agent", scope="11")
    )
    agent_out = factory.staff("video_agent", scope="31")
    for weekday in range(7):
        session.add(
            AvailabilityRule(
                agent_id=agent_in.id,
                weekday=weekday,
                start_time=time(0),
                end_time=time(23, 40),
                timezone="Asia/Shanghai",
            )
        )
    session.commit()
    world: dict[str, str] = {}
    # The pensioner's own booking (not when the route under test is booking one).
    if route != ("POST", "/api/v1/appointments"):
        world["booking_in"] = str(_appointment(factory, pensioner_in, agent_in, _slot(3, 3)).id)
    world["booking_out"] = str(_appointment(factory, pensioner_out, agent_out, _slot(3, 3)).id)
    # Calls under way now, of other pensioners.
    started = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    for side, region, staff in (("in", "110105", agent_in), ("out", "310115", agent_out)):
        call = _appointment(factory, factory.pensioner(region), staff, started)
        world[f"call_{side}"] = str(call.id)
        world[f"frame_{side}"] = str(_frame(factory, call).id)
        # Certified by an override, awaiting a second staff member.
        earlier = started - timedelta(hours=1)
        pending = _appointment(factory, factory.pensioner(region), staff, earlier)
        pending.status = AppointmentStatus.awaiting_confirmation
        pending.decided_by_id = str(staff.id)
        pending.override_reason = "passport shown"
        session.add(pending)
        session.commit()
        world[f"pending_{side}"] = str(pending.id)
    if route != ("POST", "/api/v1/certifications/consular-documents"):
        world["document_in"] = str(_document(factory, pensioner_in).id)
    world["document_out"] = str(_document(factory, pensioner_out).id)
    return world


def _side(inside: bool) -> str:
    return "in" if inside else "out"


def _call(w: Any, i: bool) -> str:
    return f"/api/v1/video-calls/{w.data['call_' + _side(i)]}"


def _booking(w: Any, i: bool) -> str:
    return f"/api/v1/appointments/{w.data['booking_' + _side(i)]}"


def _document_path(w: Any, i: bool) -> str:
    return w.data["document_" + _side(i)]  # type: ignore[no-any-return]


Build = Callable[[Any, bool], tuple[str, str, dict[str, object]]]

MATRIX: dict[tuple[str, str], tuple[Build, dict[str, tuple[int, int]]]] = {
    ("GET", "/api/v1/appointments/eligibility"): (
        lambda w, i: ("GET", "/api/v1/appointments/eligibility", {}),
        _mine(pensioner=(200, 200)),
    ),
    ("GET", "/api/v1/appointments/slots"): (
        lambda w, i: ("GET", "/api/v1/appointments/slots", {}),
        _mine(pensioner=(200, 200)),
    ),
    ("POST", "/api/v1/appointments"): (
        lambda w, i: (
            "POST",
            "/api/v1/appointments",
            {"json": {"starts_at": _slot(3).isoformat()}},
        ),
        _mine(pensioner=(201, 201)),
    ),
    ("GET", "/api/v1/appointments"): (
        lambda w, i: ("GET", "/api/v1/appointments", {}),
        _mine(pensioner=(200, 200)),
    ),
    ("GET", "/api/v1/appointments/{appointment_id}"): (
        lambda w, i: ("GET", _booking(w, i), {}),
        _mine(pensioner=(200, 404)),
    ),
    ("POST", "/api/v1/appointments/{appointment_id}/cancel"): (
        lambda w, i: ("POST", _booking(w, i) + "/cancel", {"json": {"reason": "test"}}),
        _mine(pensioner=(200, 404)),
    ),
    ("POST", "/api/v1/appointments/{appointment_id}/reschedule"): (
        lambda w, i: (
            "POST",
            _booking(w, i) + "/reschedule",
            {"json": {"starts_at": _slot(4).isoformat()}},
        ),
        _mine(pensioner=(201, 404)),
    ),
    ("POST", "/api/v1/appointments/{appointment_id}/room-token"): (
        lambda w, i: ("POST", _booking(w, i) + "/room-token", {}),
        _mine(pensioner=(200, 404)),
    ),
    ("POST", "/api/v1/certifications/consular-documents"): (
        lambda w, i: (
            "POST",
            "/api/v1/certifications/consular-documents",
            {"files": {"scan": ("c.pdf", PDF, "application/pdf")}},
        ),
        _mine(pensioner=(201, 201)),
    ),
    ("GET", "/api/v1/certifications/consular-documents"): (
        lambda w, i: ("GET", "/api/v1/certifications/consular-documents", {}),
        _mine(pensioner=(200, 200)),
    ),
    ("GET", "/api/v1/certifications/consular-documents/{document_id}"): (
        lambda w, i: (
            "GET",
            f"/api/v1/certifications/consular-documents/{_document_path(w, i)}",
            {},
        ),
        _mine(pensioner=(200, 404)),
    ),
    ("GET", "/api/v1/video-agents/me/availability"): (
        lambda w, i: ("GET", "/api/v1/video-agents/me/availability", {}),
        _expect(video_agent=(200, 200)),
    ),
    ("PUT", "/api/v1/video-agents/me/availability"): (
        lambda w, i: (
            "PUT",
            "/api/v1/video-agents/me/availability",
            {
                "json": {
                    "timezone": "Asia/Shanghai",
                    "weekly": [{"weekday": 0, "start": "09:00", "end": "12:00"}],
                }
            },
        ),
        _expect(video_agent=(200, 200)),
    ),
    ("GET", "/api/v1/video-calls"): (
        lambda w, i: ("GET", "/api/v1/video-calls", {}),
        _expect(video_agent=(200, 200)),
    ),
    ("GET", "/api/v1/video-calls/awaiting-confirmation"): (
        lambda w, i: ("GET", "/api/v1/video-calls/awaiting-confirmation", {}),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("POST", "/api/v1/video-calls/{appointment_id}/confirmation"): (
        lambda w, i: (
            "POST",
            f"/api/v1/video-calls/{w.data['pending_' + _side(i)]}/confirmation",
            {"json": {"confirm": False, "reason": "test"}},
        ),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("GET", "/api/v1/video-calls/{appointment_id}"): (
        lambda w, i: ("GET", _call(w, i), {}),
        _expect(video_agent=(200, 404)),
    ),
    ("POST", "/api/v1/video-calls/{appointment_id}/room-token"): (
        lambda w, i: ("POST", _call(w, i) + "/room-token", {}),
        _expect(video_agent=(200, 404)),
    ),
    ("POST", "/api/v1/video-calls/{appointment_id}/read-code"): (
        lambda w, i: ("POST", _call(w, i) + "/read-code", {}),
        _expect(video_agent=(200, 404)),
    ),
    ("POST", "/api/v1/video-calls/{appointment_id}/frames"): (
        # A black frame: an allowed agent learns there is no face (422), others nothing.
        lambda w, i: (
            "POST",
            _call(w, i) + "/frames",
            {"files": {"frame": ("f.png", BLACK, "image/png")}},
        ),
        _expect(video_agent=(422, 404)),
    ),
    ("GET", "/api/v1/video-calls/{appointment_id}/frames/{frame_id}/image"): (
        lambda w, i: (
            "GET",
            _call(w, i) + f"/frames/{w.data['frame_' + _side(i)]}/image",
            {},
        ),
        _expect(video_agent=(200, 404)),
    ),
    ("POST", "/api/v1/video-calls/{appointment_id}/outcome"): (
        lambda w, i: (
            "POST",
            _call(w, i) + "/outcome",
            {"json": {"outcome": "not_certified", "reason": "test"}},
        ),
        _expect(video_agent=(200, 404)),
    ),
    ("GET", "/api/v1/consular-documents"): (
        lambda w, i: ("GET", "/api/v1/consular-documents", {}),
        _expect(admin=(200, 200), reviewer=(200, 200)),
    ),
    ("GET", "/api/v1/consular-documents/{document_id}"): (
        lambda w, i: ("GET", f"/api/v1/consular-documents/{_document_path(w, i)}", {}),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("GET", "/api/v1/consular-documents/{document_id}/scan"): (
        lambda w, i: ("GET", f"/api/v1/consular-documents/{_document_path(w, i)}/scan", {}),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
    ("POST", "/api/v1/consular-documents/{document_id}/decision"): (
        lambda w, i: (
            "POST",
            f"/api/v1/consular-documents/{_document_path(w, i)}/decision",
            {"json": {"verdict": "reject", "reason": "test"}},
        ),
        _expect(admin=(200, 404), reviewer=(200, 404)),
    ),
}
