"""The agent's console API for video calls, and the signalling WebSocket of both parties."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, File, Query, Request, UploadFile, WebSocket, status
from fastapi.responses import Response
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app import media
from app.appointments import service as booking
from app.appointments.schemas import RoomToken
from app.db import SessionDep, after_commit
from app.deps import (
    CohortCacheDep,
    FaceEngineDep,
    RequireConfirmer,
    RequireVideoAgent,
    SettingsDep,
    SignalHubDep,
    StaffActor,
)
from app.errors import InvalidToken
from app.kit import audited
from app.security import RoomClaims, decode_room_token
from app.video_calls import service
from app.video_calls import signalling as sig
from app.video_calls.schemas import (
    CallConfirmation,
    CallDetail,
    CallSummary,
    ConfirmationIn,
    FrameCheck,
    OutcomeIn,
    ReadCode,
)
from biometrics import read_limited
from models.pensioner import Pensioner
from models.video_call import AppointmentStatus

log = logging.getLogger(__name__)
router = APIRouter(prefix="/video-calls", tags=["video calls"])
# Not behind the staff-token dependency: the room token in the query string is the credential.
ws_router = APIRouter(prefix="/video-calls")


def _now() -> datetime:
    return datetime.now(UTC)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/api/v1"


@router.get(
    "",
    response_model=list[CallSummary],
    summary="Your calls: those not over yet, or those of one local day",
    description="Without `day`: calls whose join window has not closed, soonest first. With "
    "`day` (YYYY-MM-DD): the calls starting that day in `tz` (default: your availability's "
    "time zone).",
)
def list_calls(
    session: SessionDep,
    settings: SettingsDep,
    agent: RequireVideoAgent,
    day: date | None = None,
    tz: Annotated[str | None, Query(max_length=64)] = None,
    status: AppointmentStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[CallSummary]:
    now = _now()
    if day is None:
        start = now - timedelta(
            minutes=settings.video_join_grace_minutes + settings.video_slot_minutes
        )
        end = None
    else:
        zone_name = (
            tz
            or booking.load_schedule(
                session=session, settings=settings, agent_id=agent.id
            ).zone_name
        )
        zone = booking.zone(zone_name)
        start = datetime.combine(day, time()).replace(tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time()).replace(tzinfo=zone).astimezone(UTC)
    rows = service.list_assigned(
        session=session, staff=agent, start=start, end=end, status=status, limit=limit
    )
    return [service.summary(settings, a, p) for a, p in rows]


@router.get(
    "/awaiting-confirmation",
    response_model=list[CallConfirmation],
    summary="Certifications by override or of lapsed calls awaiting a second staff member",
    description="Reviewers and administrators, for pensioners in their region scope; oldest "
    "outcome first. Confirm or refuse with `POST /video-calls/{id}/confirmation`.",
)
def list_awaiting_confirmation(
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireConfirmer,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CallConfirmation]:
    rows = service.list_awaiting(session=session, staff=staff, limit=limit)
    return [service.confirmation(settings, a, p) for a, p in rows]


@router.post(
    "/{appointment_id}/confirmation",
    response_model=CallConfirmation,
    summary="Confirm (certifies) or refuse (not certified, with a reason) an agent's outcome",
    description="Only for a call awaiting confirmation, by a reviewer or administrator in "
    "scope who is not the agent who recorded it (403).",
)
def confirm_call(
    appointment_id: uuid.UUID,
    body: ConfirmationIn,
    session: SessionDep,
    settings: SettingsDep,
    staff: RequireConfirmer,
    actor: StaffActor,
) -> CallConfirmation:
    appointment = service.get_awaiting_in_scope(
        session=session, staff=staff, appointment_id=appointment_id
    )
    service.confirm_outcome(
        session=session,
        settings=settings,
        appointment=appointment,
        staff=staff,
        actor=actor,
        body=body,
        now=_now(),
    )
    pensioner = session.get(Pensioner, appointment.pensioner_id)
    assert pensioner is not None
    return service.confirmation(settings, appointment, pensioner)


@router.get(
    "/{appointment_id}",
    response_model=CallDetail,
    summary="The call with the pensioner's register data, enrolled photos, frames and codes",
)
def read_call(
    appointment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    agent: RequireVideoAgent,
) -> CallDetail:
    appointment = service.get_assigned(session=session, staff=agent, appointment_id=appointment_id)
    return service.detail(
        session=session, settings=settings, appointment=appointment, base_url=_base_url(request)
    )


@router.post(
    "/{appointment_id}/room-token",
    response_model=RoomToken,
    summary="Your token for the call's signalling WebSocket (the assigned agent only)",
)
def agent_room_token(
    appointment_id: uuid.UUID, session: SessionDep, settings: SettingsDep, agent: RequireVideoAgent
) -> RoomToken:
    appointment = service.get_assigned(session=session, staff=agent, appointment_id=appointment_id)
    return service.issue_room_token(
        settings=settings, appointment=appointment, subject=str(agent.id), role="agent", now=_now()
    )


@router.post(
    "/{appointment_id}/read-code",
    response_model=ReadCode,
    summary="A random 4-digit code shown on the pensioner's screen to read aloud",
    description="Kept with the call as evidence and pushed to the pensioner's WebSocket as "
    '`{"type": "read-code", "code": "4821"}`; `delivered` says whether their page was there.',
)
def read_code(
    appointment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    agent: RequireVideoAgent,
    actor: StaffActor,
    hub: SignalHubDep,
) -> ReadCode:
    appointment = service.get_assigned(session=session, staff=agent, appointment_id=appointment_id)
    entry = service.issue_read_code(
        session=session, settings=settings, appointment=appointment, actor=actor, now=_now()
    )
    # The code is evidence: the pensioner's page gets it once it is stored.
    delivered = anyio.from_thread.run(hub.connected, appointment.id, "pensioner")
    if delivered:
        message = {"type": "read-code", "code": entry["code"]}
        after_commit(
            session, lambda: anyio.from_thread.run(hub.send, appointment.id, "pensioner", message)
        )
    return ReadCode(
        code=entry["code"],
        issued_at=datetime.fromisoformat(entry["issued_at"]),
        delivered=delivered,
    )


@router.post(
    "/{appointment_id}/frames",
    response_model=FrameCheck,
    status_code=status.HTTP_201_CREATED,
    summary="Face-check a frame captured from the pensioner's video (multipart `frame`)",
    description="JPEG or PNG. Matched against the enrolled photos with the same "
    "cohort-normalised check as remote selfies; the frame is kept as evidence. 422 "
    "`NoUsableFace` when the frame has no single face, 409 `NotEnrolled` without a photo.",
)
def check_frame(
    appointment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    agent: RequireVideoAgent,
    actor: StaffActor,
    engine: FaceEngineDep,
    cohort_cache: CohortCacheDep,
    frame: Annotated[UploadFile, File(description="A JPEG or PNG frame of the video")],
) -> FrameCheck:
    # A sync route runs in the thread pool: decoding and the face engine stay off the loop.
    appointment = service.get_assigned(session=session, staff=agent, appointment_id=appointment_id)
    data = read_limited(frame.file, max_bytes=settings.max_photo_bytes)
    stored = service.check_frame(
        session=session,
        settings=settings,
        engine=engine,
        cohort_cache=cohort_cache,
        appointment=appointment,
        data=data,
        actor=actor,
        now=_now(),
    )
    return service.frame_check(stored, base_url=_base_url(request))


@router.get(
    "/{appointment_id}/frames/{frame_id}/image",
    response_class=Response,
    summary="A captured frame kept as evidence",
)
def frame_image(
    appointment_id: uuid.UUID,
    frame_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    agent: RequireVideoAgent,
    actor: StaffActor,
) -> Response:
    appointment = service.get_assigned(session=session, staff=agent, appointment_id=appointment_id)
    frame = service.get_frame(session=session, appointment=appointment, frame_id=frame_id)
    pensioner = session.get(Pensioner, appointment.pensioner_id)
    audited.read(
        session=session,
        actor=actor,
        action="video_call.frame_read",
        entity_type="pensioner",
        entity_id=appointment.pensioner_id,
        region_code=pensioner.region_code if pensioner else None,
        after={"appointment_id": str(appointment.id), "frame_id": str(frame.id)},
    )
    return media.response(
        settings=settings, relative=frame.path, media_type=f"image/{frame.format}"
    )


@router.post(
    "/{appointment_id}/outcome",
    response_model=CallDetail,
    summary="Record the outcome: certified, not_certified (with a reason) or no_show",
    description="`certified` needs a frame whose decision was `match`, or an "
    "`override_reason`. A certification without a matching frame (by override) or recorded "
    "after the call's window (lapsed) is `awaiting_confirmation` until a second staff member "
    "confirms it. Both parties' WebSockets get "
    '`{"type": "call-ended", "outcome": ...}` (the recorded status) and are closed.',
)
def record_outcome(
    appointment_id: uuid.UUID,
    body: OutcomeIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    agent: RequireVideoAgent,
    actor: StaffActor,
    hub: SignalHubDep,
) -> CallDetail:
    appointment = service.get_assigned(session=session, staff=agent, appointment_id=appointment_id)
    service.record_outcome(
        session=session,
        settings=settings,
        appointment=appointment,
        staff=agent,
        actor=actor,
        body=body,
        now=_now(),
    )
    message = {"type": "call-ended", "outcome": appointment.status.value}
    after_commit(session, lambda: anyio.from_thread.run(hub.end, appointment.id, message))
    return service.detail(
        session=session, settings=settings, appointment=appointment, base_url=_base_url(request)
    )


# --- signalling -------------------------------------------------------------------------------


def _check_party(engine: Engine, claims: RoomClaims) -> tuple[int, str] | None:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as session:
        return service.why_not_join(session=session, claims=claims)


async def _first_message_token(websocket: WebSocket, seconds: float) -> tuple[str | None, str]:
    """The room token from the connection's first message, `{"type": "auth", "token": ...}`,
    sent within `seconds`; else None and why (the token never goes in the URL, where access
    logs would keep it)."""
    try:
        async with asyncio.timeout(seconds):
            received = await websocket.receive()
    except TimeoutError:
        return None, f"no auth message within {seconds:g} seconds"
    if received["type"] == "websocket.disconnect":
        return None, "disconnected"
    message, problem = sig.parse_message(received.get("text") or "")
    if message is None or message.get("type") != "auth":
        return None, 'the first message must be {"type": "auth", "token": ...}'
    token = message.get("token")
    if not isinstance(token, str) or not token:
        return None, "missing room token in the auth message"
    return token, ""


@ws_router.websocket("/{appointment_id}/signal")
async def signal(websocket: WebSocket, appointment_id: uuid.UUID) -> None:
    """Relay WebRTC signalling between the call's pensioner and agent (see README): the room
    token comes in the first message, and opens one connection only."""
    await websocket.accept()
    app = websocket.app
    hub: sig.SignalHub = app.state.signal_hub

    async def refuse(code: int, reason: str) -> None:
        await websocket.close(code=code, reason=reason)

    if "token" in websocket.query_params:
        await refuse(
            sig.CLOSE_INVALID_TOKEN, "send the room token in the first message, not the URL"
        )
        return
    token, why = await _first_message_token(websocket, app.state.settings.signal_auth_seconds)
    if token is None:
        if why != "disconnected":
            await refuse(sig.CLOSE_INVALID_TOKEN, why)
        return
    try:
        claims = decode_room_token(token, key=app.state.settings.signing_key)
    except InvalidToken:
        await refuse(sig.CLOSE_INVALID_TOKEN, "invalid room token")
        return
    if claims.appointment_id != appointment_id:
        await refuse(sig.CLOSE_WRONG_CALL, "the room token is for another call")
        return
    now = _now()
    if now < claims.not_before:
        await refuse(sig.CLOSE_TOO_EARLY, f"the call opens at {claims.not_before:%H:%M} UTC")
        return
    if now >= claims.expires_at:
        await refuse(sig.CLOSE_WINDOW_OVER, "the time of this call is over")
        return
    problem = await run_in_threadpool(_check_party, app.state.engine, claims)
    if problem is not None:
        await refuse(*problem)
        return
    try:
        first_use = await hub.use_token(claims.token_id, claims.expires_at)
    except RedisError:
        log.warning("signalling: could not record a room token as used", exc_info=True)
        await refuse(sig.CLOSE_UNAVAILABLE, "signalling is unavailable; join again")
        return
    if not first_use:
        await refuse(sig.CLOSE_INVALID_TOKEN, "this room token was used already; ask for a new one")
        return
    party = sig.Party(websocket=websocket, role=claims.role, subject=claims.subject)
    try:
        await hub.join(appointment_id, party)
    except sig.RoomOccupied as exc:
        await refuse(sig.CLOSE_OCCUPIED, exc.reason)
        return
    try:
        await _relay(websocket, hub, appointment_id, party)
    finally:
        await hub.leave(appointment_id, party)


async def _relay(
    websocket: WebSocket, hub: sig.SignalHub, appointment_id: uuid.UUID, party: sig.Party
) -> None:
    """Forward each message to the other party before reading the next: order is kept."""
    while True:
        received = await websocket.receive()
        if received["type"] == "websocket.disconnect":
            return
        text = received.get("text")
        if text is None:
            await _error(party, "bad_message", "send JSON text frames, not binary")
            continue
        message, problem = sig.parse_message(text)
        if message is None:
            await _error(party, "bad_message", problem or "unreadable message")
            continue
        kind = message["type"]
        if kind == "ping":
            await party.send({"type": "pong"})
            continue
        if kind not in sig.RELAYED:
            allowed = ", ".join(sorted(sig.RELAYED | {"ping"}))
            await _error(party, "unknown_type", f"type {kind!r} is not one of {allowed}")
            continue
        relayed: dict[str, Any] = {**message, "from": party.role}
        if not await hub.send(appointment_id, sig.other(party.role), relayed):
            await _error(
                party, "peer_absent", "the other party is not connected; wait for peer-joined"
            )


async def _error(party: sig.Party, code: str, detail: str) -> None:
    await party.send({"type": "error", "code": code, "detail": detail})
