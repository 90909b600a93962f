"""The signalling WebSocket: only the call's two parties join, only in the call's window, a
third connection is refused, and messages are relayed in order."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.security import create_access_token, create_room_token
from models.video_call import AppointmentStatus, VideoAppointment
from tests.app.appointments.world import appointment, now_minute, video_agent
from tests.conftest import Factory

if TYPE_CHECKING:
    from starlette.testclient import TestClient, WebSocketTestSession


@dataclass
class Call:
    appointment: VideoAppointment
    pensioner: Any
    agent: Any
    pensioner_headers: dict[str, str]
    agent_headers: dict[str, str]


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with warnings.catch_warnings():
        # This Starlette prefers the httpx2 package for its test client; httpx works.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    # One client (one event loop) for HTTP and WebSockets, as in a real server process.
    with TestClient(app) as client:
        yield client


def _call(factory: Factory, *, starts_in: timedelta = timedelta(minutes=-2)) -> Call:
    agent = video_agent(factory)
    pensioner = factory.pensioner()
    row = appointment(factory, pensioner, agent, starts_at=now_minute() + starts_in)
    return Call(row, pensioner, agent, factory.auth(pensioner, "pensioner"), factory.auth(agent))


@pytest.fixture
def call(factory: Factory) -> Call:
    return _call(factory)


def _token(http: TestClient, call: Call, role: str) -> dict[str, Any]:
    path = (
        f"/api/v1/appointments/{call.appointment.id}/room-token"
        if role == "pensioner"
        else f"/api/v1/video-calls/{call.appointment.id}/room-token"
    )
    headers = call.pensioner_headers if role == "pensioner" else call.agent_headers
    response = http.post(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _url(call: Call) -> str:
    return f"/api/v1/video-calls/{call.appointment.id}/signal"


@contextmanager
def join(http: TestClient, call: Call, token: str) -> Iterator[WebSocketTestSession]:
    """Connect to the call's room and send the room token as the first message."""
    with http.websocket_connect(_url(call)) as ws:
        ws.send_json({"type": "auth", "token": token})
        yield ws


def _refused(http: TestClient, call: Call, token: str) -> WebSocketDisconnect:
    with join(http, call, token) as ws, pytest.raises(WebSocketDisconnect) as refused:
        ws.receive_json()
    return refused.value


def negotiate(
    agent: WebSocketTestSession, pensioner: WebSocketTestSession, *, candidates: int
) -> None:
    """An offer, an answer and a burst of ICE candidates: each arrives, in the order sent."""
    agent.send_json({"type": "offer", "sdp": "v=0 agent"})
    assert pensioner.receive_json() == {"type": "offer", "sdp": "v=0 agent", "from": "agent"}
    pensioner.send_json({"type": "answer", "sdp": "v=0 pensioner"})
    for i in range(candidates):
        pensioner.send_json({"type": "ice", "candidate": {"candidate": f"c{i}"}})
    pensioner.send_json({"type": "ready"})
    got = [agent.receive_json() for _ in range(candidates + 2)]
    assert got[0] == {"type": "answer", "sdp": "v=0 pensioner", "from": "pensioner"}
    assert [g["candidate"]["candidate"] for g in got[1:-1]] == [f"c{i}" for i in range(candidates)]
    assert got[-1] == {"type": "ready", "from": "pensioner"}


def end_the_call(
    http: TestClient, call: Call, agent: WebSocketTestSession, pensioner: WebSocketTestSession
) -> None:
    """The agent records an outcome: both sides are told, then closed normally."""
    ended = http.post(
        f"/api/v1/video-calls/{call.appointment.id}/outcome",
        json={"outcome": "not_certified", "reason": "the person on camera is someone else"},
        headers=call.agent_headers,
    )
    assert ended.status_code == 200, ended.text
    for ws in (agent, pensioner):
        assert ws.receive_json() == {"type": "call-ended", "outcome": "not_certified"}
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1000


def test_the_two_parties_meet_and_messages_keep_their_order(http: TestClient, call: Call) -> None:
    agent_token = _token(http, call, "agent")
    assert agent_token["role"] == "agent" and agent_token["ice_servers"] == []
    assert agent_token["signal_path"] == f"/api/v1/video-calls/{call.appointment.id}/signal"
    pensioner_token = _token(http, call, "pensioner")
    with join(http, call, agent_token["token"]) as agent:
        joined = agent.receive_json()
        assert joined == {
            "type": "joined",
            "role": "agent",
            "appointment_id": str(call.appointment.id),
            "peer_present": False,
        }
        agent.send_json({"type": "offer", "sdp": "too early"})
        assert agent.receive_json()["code"] == "peer_absent"
        with join(http, call, pensioner_token["token"]) as pensioner:
            assert pensioner.receive_json()["peer_present"] is True
            assert agent.receive_json() == {"type": "peer-joined", "role": "pensioner"}
            negotiate(agent, pensioner, candidates=30)
            # Bad messages are answered, not relayed; the connection stays.
            pensioner.send_text("not json")
            assert pensioner.receive_json()["code"] == "bad_message"
            pensioner.send_json({"type": "read-code", "code": "0000"})
            assert pensioner.receive_json()["code"] == "unknown_type"
            pensioner.send_json({"type": "ping"})
            assert pensioner.receive_json() == {"type": "pong"}
            pensioner.send_json({"type": "bye"})
            assert agent.receive_json() == {"type": "bye", "from": "pensioner"}
        assert agent.receive_json() == {"type": "peer-left", "role": "pensioner"}


def test_a_third_connection_is_refused(http: TestClient, call: Call, factory: Factory) -> None:
    agent_token = _token(http, call, "agent")["token"]
    pensioner_token = _token(http, call, "pensioner")["token"]
    with join(http, call, agent_token) as agent:
        agent.receive_json()
        with join(http, call, pensioner_token) as pensioner:
            pensioner.receive_json()
            assert agent.receive_json()["type"] == "peer-joined"
            second_tab = _refused(http, call, _token(http, call, "pensioner")["token"])
            assert second_tab.code == 4409
            assert second_tab.reason == "The pensioner is already connected to this call"
            second_agent = _refused(http, call, _token(http, call, "agent")["token"])
            assert second_agent.code == 4409
            # The two in the room did not notice anything.
            agent.send_json({"type": "offer", "sdp": "x"})
            assert pensioner.receive_json()["sdp"] == "x"


def test_only_the_calls_two_parties_may_join(
    http: TestClient, call: Call, factory: Factory, settings: Settings
) -> None:
    assert _refused(http, call, "not-a-token").code == 4401
    access = create_access_token(
        subject=str(call.agent.id),
        kind="staff",
        key=settings.signing_key,
        lifetime=timedelta(minutes=5),
    )
    assert _refused(http, call, access).reason == "invalid room token"
    forged = create_room_token(
        appointment_id=call.appointment.id,
        subject=str(call.agent.id),
        role="agent",
        not_before=now_minute() - timedelta(hours=1),
        expires_at=now_minute() + timedelta(hours=1),
        key="another-key-that-is-long-enough-0123456789",
    )
    assert _refused(http, call, forged).code == 4401

    # Someone else's token, for their own call, used on this call's room.
    other = _call(factory)
    other_token = _token(http, other, "pensioner")["token"]
    wrong_room = _refused(http, call, other_token)
    assert (wrong_room.code, wrong_room.reason) == (4403, "the room token is for another call")

    # A validly signed token naming another agent or pensioner for this call.
    for role, subject in (("agent", other.agent.id), ("pensioner", other.pensioner.id)):
        token = create_room_token(
            appointment_id=call.appointment.id,
            subject=str(subject),
            role=role,  # type: ignore[arg-type]
            not_before=now_minute() - timedelta(hours=1),
            expires_at=now_minute() + timedelta(hours=1),
            key=settings.signing_key,
        )
        assert _refused(http, call, token).code == 4403

    # Over HTTP: another agent cannot get a token for this call; another pensioner neither.
    stranger = factory.auth(video_agent(factory))
    assert (
        http.post(f"/api/v1/video-calls/{call.appointment.id}/room-token", headers=stranger).json()[
            "error"
        ]
        == "VideoCallNotFound"
    )
    assert (
        http.post(
            f"/api/v1/appointments/{call.appointment.id}/room-token",
            headers=other.pensioner_headers,
        ).status_code
        == 404
    )


def test_only_in_the_window(http: TestClient, factory: Factory, settings: Settings) -> None:
    later = _call(factory, starts_in=timedelta(hours=2))
    token = _token(http, later, "pensioner")
    opens = later.appointment.starts_at - timedelta(minutes=10)
    assert datetime.fromisoformat(token["not_before"]) == opens
    too_early = _refused(http, later, token["token"])
    assert too_early.code == 4425 and too_early.reason.startswith("the call opens at ")

    over = _call(factory, starts_in=timedelta(hours=-3))
    closed = http.post(
        f"/api/v1/appointments/{over.appointment.id}/room-token", headers=over.pensioner_headers
    )
    assert closed.status_code == 410 and closed.json()["error"] == "CallWindowClosed"
    expired = create_room_token(
        appointment_id=over.appointment.id,
        subject=str(over.pensioner.id),
        role="pensioner",
        not_before=over.appointment.starts_at - timedelta(minutes=10),
        expires_at=over.appointment.ends_at + timedelta(minutes=30),
        key=settings.signing_key,
    )
    assert _refused(http, over, expired).code == 4410

    # A token minted before the call was cancelled no longer opens the room.
    cancelled = _call(factory)
    token = _token(http, cancelled, "pensioner")["token"]
    cancelled.appointment.status = AppointmentStatus.cancelled
    factory.session.add(cancelled.appointment)
    factory.session.commit()
    gone = _refused(http, cancelled, token)
    assert (gone.code, gone.reason) == (4404, "the call is cancelled")
    refused = http.post(
        f"/api/v1/video-calls/{cancelled.appointment.id}/room-token",
        headers=cancelled.agent_headers,
    )
    assert refused.status_code == 409 and refused.json()["error"] == "AppointmentClosed"


def test_read_code_reaches_the_pensioner_and_the_outcome_ends_the_call(
    http: TestClient, call: Call
) -> None:
    base = f"/api/v1/video-calls/{call.appointment.id}"
    with join(http, call, _token(http, call, "agent")["token"]) as agent:
        agent.receive_json()
        with join(http, call, _token(http, call, "pensioner")["token"]) as pensioner:
            pensioner.receive_json()
            assert agent.receive_json()["type"] == "peer-joined"
            issued = http.post(f"{base}/read-code", headers=call.agent_headers)
            assert issued.status_code == 200, issued.text
            code = issued.json()
            assert code["delivered"] is True and len(code["code"]) == 4 and code["code"].isdigit()
            assert pensioner.receive_json() == {"type": "read-code", "code": code["code"]}
            detail = http.get(base, headers=call.agent_headers).json()
            assert [c["code"] for c in detail["read_codes"]] == [code["code"]]

            end_the_call(http, call, agent, pensioner)
    # The call is decided: no more codes.
    later = http.post(f"{base}/read-code", headers=call.agent_headers)
    assert later.status_code == 409 and later.json()["error"] == "AppointmentClosed"


def _closed(http: TestClient, url: str, *first: str) -> WebSocketDisconnect:
    """Connect to `url`, send `first` as the first text messages, and wait to be closed."""
    with http.websocket_connect(url) as ws, pytest.raises(WebSocketDisconnect) as closed:
        for text in first:
            ws.send_text(text)
        ws.receive_json()
    return closed.value


def test_the_room_token_comes_in_the_first_message_not_the_url(
    http: TestClient, call: Call
) -> None:
    token = _token(http, call, "pensioner")["token"]
    in_url = _closed(http, f"{_url(call)}?token={token}")
    assert (in_url.code, in_url.reason) == (
        4401,
        "send the room token in the first message, not the URL",
    )
    # Even with the right first message, a token in the URL is refused.
    both = _closed(
        http, f"{_url(call)}?token={token}", json.dumps({"type": "auth", "token": token})
    )
    assert both.code == 4401
    auth_first = 'the first message must be {"type": "auth", "token": ...}'
    for first in ("not json", '{"type": "offer", "sdp": "x"}', '["auth"]'):
        assert (_closed(http, _url(call), first).code, _closed(http, _url(call), first).reason) == (
            4401,
            auth_first,
        )
    for message in ({"type": "auth"}, {"type": "auth", "token": ""}, {"type": "auth", "token": 7}):
        missing = _closed(http, _url(call), json.dumps(message))
        assert (missing.code, missing.reason) == (4401, "missing room token in the auth message")
    # None of the refusals used the token up: it still opens the room, once.
    with join(http, call, token) as pensioner:
        assert pensioner.receive_json()["type"] == "joined"


def test_a_connection_that_sends_nothing_is_closed_after_the_deadline(
    app: FastAPI, http: TestClient, call: Call
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"signal_auth_seconds": 0.3})
    with http.websocket_connect(_url(call)) as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()  # nothing sent
    assert (closed.value.code, closed.value.reason) == (4401, "no auth message within 0.3 seconds")


def test_a_room_token_opens_one_connection_only(http: TestClient, call: Call) -> None:
    token = _token(http, call, "pensioner")["token"]
    with join(http, call, token) as pensioner:
        assert pensioner.receive_json()["type"] == "joined"
    # The side is free again, but the token is spent: a copy from a log opens nothing.
    again = _refused(http, call, token)
    assert (again.code, again.reason) == (
        4401,
        "this room token was used already; ask for a new one",
    )
    with join(http, call, _token(http, call, "pensioner")["token"]) as pensioner:
        assert pensioner.receive_json()["type"] == "joined"
