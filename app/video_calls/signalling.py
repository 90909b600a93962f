"""The signalling rooms of video calls: at most one pensioner and one agent per appointment,
relaying WebRTC offers, answers and ICE candidates between them, in order.

In-process: the rooms live in this process's memory, so both parties of a call must reach the
same process. With several processes or machines, route /api/v1/video-calls/*/signal by
appointment id (sticky sessions), or replace this hub with one over Redis pub/sub.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.security import RoomRole

# What the browsers may send each other (anything else is answered with an error).
RELAYED = frozenset({"offer", "answer", "ice", "bye", "ready"})
MAX_MESSAGE_BYTES = 64 * 1024

# Close codes (4000-4999 are for applications) and what they mean.
CLOSE_NORMAL = 1000
CLOSE_INVALID_TOKEN = 4401
CLOSE_WRONG_CALL = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_OCCUPIED = 4409
CLOSE_WINDOW_OVER = 4410
CLOSE_TOO_EARLY = 4425


class RoomOccupied(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(eq=False)
class Party:
    websocket: WebSocket
    role: RoomRole
    subject: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message: dict[str, Any]) -> bool:
        """Send one JSON message; False if the connection is gone."""
        async with self.lock:
            if self.websocket.application_state is not WebSocketState.CONNECTED:
                return False
            try:
                await self.websocket.send_text(json.dumps(message, ensure_ascii=False))
            except (RuntimeError, OSError, WebSocketDisconnect):
                return False
            return True

    async def close(self, code: int, reason: str) -> None:
        async with self.lock:
            if self.websocket.application_state is WebSocketState.CONNECTED:
                try:
                    await self.websocket.close(code=code, reason=reason)
                except (RuntimeError, OSError, WebSocketDisconnect):
                    pass


@dataclass
class SignalHub:
    """Rooms keyed by appointment id. Used from the event loop only; joining and leaving do not
    await between checking and changing a room, so two connections cannot both take a side."""

    rooms: dict[uuid.UUID, dict[RoomRole, Party]] = field(default_factory=dict)

    def join(self, appointment_id: uuid.UUID, party: Party) -> Party | None:
        """Take the party's side of the room; returns the other party if present."""
        room = self.rooms.setdefault(appointment_id, {})
        if party.role in room:
            side = "The pensioner" if party.role == "pensioner" else "The agent"
            raise RoomOccupied(f"{side} is already connected to this call")
        if len(room) >= 2:
            raise RoomOccupied("This call already has its two participants")
        room[party.role] = party
        return self.peer(appointment_id, party.role)

    def leave(self, appointment_id: uuid.UUID, party: Party) -> Party | None:
        """Give up the party's side; returns the other party if still present."""
        room = self.rooms.get(appointment_id, {})
        if room.get(party.role) is party:
            del room[party.role]
        if not room:
            self.rooms.pop(appointment_id, None)
        return self.peer(appointment_id, party.role)

    def peer(self, appointment_id: uuid.UUID, role: RoomRole) -> Party | None:
        other: RoomRole = "agent" if role == "pensioner" else "pensioner"
        return self.rooms.get(appointment_id, {}).get(other)

    def connected(self, appointment_id: uuid.UUID, role: RoomRole) -> bool:
        return role in self.rooms.get(appointment_id, {})

    async def send(
        self, appointment_id: uuid.UUID, role: RoomRole, message: dict[str, Any]
    ) -> bool:
        party = self.rooms.get(appointment_id, {}).get(role)
        return await party.send(message) if party else False

    async def end(self, appointment_id: uuid.UUID, message: dict[str, Any]) -> None:
        """Tell both parties the call is over and close their connections."""
        for party in list(self.rooms.get(appointment_id, {}).values()):
            await party.send(message)
            await party.close(CLOSE_NORMAL, "call ended")


def parse_message(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The message as a dict, or an error explaining why it cannot be relayed."""
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        return None, f"message larger than {MAX_MESSAGE_BYTES} bytes"
    try:
        message = json.loads(text)
    except ValueError:
        return None, "not JSON"
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None, 'a message is a JSON object with a "type"'
    return message, None
