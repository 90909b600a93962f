"""The signalling rooms of video calls: at most one pensioner and one agent per appointment,
relaying WebRTC offers, answers and ICE candidates between them, in order.

Two hubs with one interface (`SignalHub`): `MemorySignalHub` keeps the rooms in this process's
memory (the embedded default: both parties must reach the same process), `RedisSignalHub`
(LIFECERT_SIGNALLING=redis) keeps each side of a room as a Redis key and delivers messages
through Redis pub/sub, so the pensioner on one API process and the agent on another meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import anyio
from redis import asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.security import RoomRole

log = logging.getLogger(__name__)

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
CLOSE_UNAVAILABLE = 1013  # "try again later": the room could not be kept (Redis unreachable)

ROLES: tuple[RoomRole, RoomRole] = ("pensioner", "agent")
LEAVE_SECONDS = 5.0  # at most this long to free a side and tell the peer


class RoomOccupied(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def other(role: RoomRole) -> RoomRole:
    return "agent" if role == "pensioner" else "pensioner"


def _occupied(role: RoomRole) -> RoomOccupied:
    side = "The pensioner" if role == "pensioner" else "The agent"
    return RoomOccupied(f"{side} is already connected to this call")


@dataclass(eq=False)
class Party:
    websocket: WebSocket
    role: RoomRole
    subject: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Names this connection's hold on its side of a room (the value of the Redis key).
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

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


def _joined(appointment_id: uuid.UUID, role: RoomRole, peer_present: bool) -> dict[str, Any]:
    return {
        "type": "joined",
        "role": role,
        "appointment_id": str(appointment_id),
        "peer_present": peer_present,
    }


class SignalHub(Protocol):
    """Rooms keyed by appointment id, one side per role.

    `join` takes the party's side (RoomOccupied if taken), greets it with `joined` and tells a
    present peer `peer-joined`; `leave` gives the side up and tells the peer `peer-left`;
    `send` delivers one message to whoever holds a side (False if nobody); `end` tells both
    sides the call is over and closes their connections."""

    async def join(self, appointment_id: uuid.UUID, party: Party) -> None: ...

    async def leave(self, appointment_id: uuid.UUID, party: Party) -> None: ...

    async def send(
        self, appointment_id: uuid.UUID, role: RoomRole, message: dict[str, Any]
    ) -> bool: ...

    async def connected(self, appointment_id: uuid.UUID, role: RoomRole) -> bool: ...

    async def end(self, appointment_id: uuid.UUID, message: dict[str, Any]) -> None: ...

    async def use_token(self, token_id: str, expires_at: datetime) -> bool:
        """Mark a room token (its jti) used until it expires: True the first time, False for
        every later connection with the same token, in any process sharing the hub."""
        ...

    def local_parties(self) -> Counter[RoomRole]:
        """Connections held by this process, by role (for the metrics)."""
        ...

    def local_rooms(self) -> int:
        """Rooms with at least one party connected to this process."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class MemorySignalHub:
    """The embedded default: rooms in this process's memory. Used from the event loop only;
    joining does not await between checking and taking a side, so two connections cannot both
    take it."""

    rooms: dict[uuid.UUID, dict[RoomRole, Party]] = field(default_factory=dict)
    # Room tokens used, with when each expires (forgotten after that).
    used_tokens: dict[str, float] = field(default_factory=dict)

    async def use_token(self, token_id: str, expires_at: datetime) -> bool:
        now = time.time()
        for used, until in list(self.used_tokens.items()):
            if until <= now:
                del self.used_tokens[used]
        if token_id in self.used_tokens:
            return False
        self.used_tokens[token_id] = max(expires_at.timestamp(), now + 1)
        return True

    async def join(self, appointment_id: uuid.UUID, party: Party) -> None:
        room = self.rooms.setdefault(appointment_id, {})
        if party.role in room:
            raise _occupied(party.role)
        room[party.role] = party
        peer = room.get(other(party.role))
        await party.send(_joined(appointment_id, party.role, peer is not None))
        if peer is not None:
            await peer.send({"type": "peer-joined", "role": party.role})

    async def leave(self, appointment_id: uuid.UUID, party: Party) -> None:
        room = self.rooms.get(appointment_id, {})
        if room.get(party.role) is party:
            del room[party.role]
        if not room:
            self.rooms.pop(appointment_id, None)
        await self.send(
            appointment_id, other(party.role), {"type": "peer-left", "role": party.role}
        )

    async def send(
        self, appointment_id: uuid.UUID, role: RoomRole, message: dict[str, Any]
    ) -> bool:
        party = self.rooms.get(appointment_id, {}).get(role)
        return await party.send(message) if party else False

    async def connected(self, appointment_id: uuid.UUID, role: RoomRole) -> bool:
        return role in self.rooms.get(appointment_id, {})

    async def end(self, appointment_id: uuid.UUID, message: dict[str, Any]) -> None:
        for party in list(self.rooms.get(appointment_id, {}).values()):
            await party.send(message)
            await party.close(CLOSE_NORMAL, "call ended")

    def local_parties(self) -> Counter[RoomRole]:
        return Counter(role for room in self.rooms.values() for role in room)

    def local_rooms(self) -> int:
        return len(self.rooms)

    async def aclose(self) -> None:
        self.rooms.clear()
        self.used_tokens.clear()


# Take a side if free; answer 0 (taken by someone else), 1 (taken, no peer) or 2 (peer present).
# One script, so of two parties joining at once exactly one sees the other.
_JOIN = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1 + redis.call('EXISTS', KEYS[2])
end
return 0
"""
# Keep or give up a side only while this connection still holds it.
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(eq=False)
class _Membership:
    party: Party
    pubsub: PubSub
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class RedisSignalHub:
    """Rooms across processes; a used room token is the key `<ns>:signal:used-token:<jti>`
    until the token expires. A side of a room is the key `<ns>:signal:<id>:side:<role>`,
    set if absent with a time to live that the holding connection refreshes every third of it
    (a process that dies frees its sides within `side_ttl_ms`) and deletes when it leaves.
    Each party subscribes to its inbox channel `<ns>:signal:<id>:inbox:<role>` before taking
    its side; a message for a role is published there, and Redis tells how many received it.
    The party's reader forwards its inbox to its WebSocket one message at a time, so the order
    in which a sender published is the order the receiver gets."""

    def __init__(self, url: str, namespace: str, *, side_ttl_ms: int = 20_000) -> None:
        self.url = url
        self.prefix = f"{namespace}:signal"
        self.side_ttl_ms = side_ttl_ms
        self._client: aioredis.Redis | None = None
        self._members: dict[tuple[uuid.UUID, RoomRole], _Membership] = {}

    @property
    def client(self) -> aioredis.Redis:
        # Made on first use, inside the event loop whose connections it will hold.
        if self._client is None:
            self._client = aioredis.Redis.from_url(self.url, decode_responses=True)
        return self._client

    def side_key(self, appointment_id: uuid.UUID, role: RoomRole) -> str:
        return f"{self.prefix}:{appointment_id}:side:{role}"

    def inbox(self, appointment_id: uuid.UUID, role: RoomRole) -> str:
        return f"{self.prefix}:{appointment_id}:inbox:{role}"

    async def join(self, appointment_id: uuid.UUID, party: Party) -> None:
        pubsub = self.client.pubsub()
        try:
            await self._subscribe(pubsub, self.inbox(appointment_id, party.role))
            taken = await self.client.eval(
                _JOIN,
                2,
                self.side_key(appointment_id, party.role),
                self.side_key(appointment_id, other(party.role)),
                party.token,
                str(self.side_ttl_ms),
            )
        except BaseException:
            await _close_pubsub(pubsub)
            raise
        if not taken:
            await _close_pubsub(pubsub)
            raise _occupied(party.role)
        member = _Membership(party, pubsub)
        self._members[(appointment_id, party.role)] = member
        peer_present = int(taken) == 2
        # Greet first, then forward the inbox: what the peer sends after `peer-joined` waits
        # in the subscription and reaches the party after its `joined`.
        await party.send(_joined(appointment_id, party.role, peer_present))
        member.tasks = [
            asyncio.create_task(self._forward(member)),
            asyncio.create_task(self._keep_side(appointment_id, member)),
        ]
        if peer_present:
            await self.send(
                appointment_id, other(party.role), {"type": "peer-joined", "role": party.role}
            )

    async def leave(self, appointment_id: uuid.UUID, party: Party) -> None:
        member = self._members.get((appointment_id, party.role))
        if member is None or member.party is not party:
            return
        del self._members[(appointment_id, party.role)]
        # Shielded: a connection's task is often being cancelled when it leaves (the server
        # closing it); its side must still be freed and its peer told, within a bound.
        with anyio.move_on_after(LEAVE_SECONDS, shield=True):
            await self._drop(appointment_id, member)
            try:
                await self.send(
                    appointment_id, other(party.role), {"type": "peer-left", "role": party.role}
                )
            except RedisError:
                log.warning("signalling: could not tell %s's peer that it left", appointment_id)

    async def send(
        self, appointment_id: uuid.UUID, role: RoomRole, message: dict[str, Any]
    ) -> bool:
        return await self._publish(appointment_id, role, {"message": message}) > 0

    async def connected(self, appointment_id: uuid.UUID, role: RoomRole) -> bool:
        return bool(await self.client.exists(self.side_key(appointment_id, role)))

    async def end(self, appointment_id: uuid.UUID, message: dict[str, Any]) -> None:
        for role in ROLES:
            await self._publish(appointment_id, role, {"message": message, "end": True})

    async def use_token(self, token_id: str, expires_at: datetime) -> bool:
        # SET NX: of two processes given the same token at once, exactly one sets it.
        seconds = max(1, math.ceil(expires_at.timestamp() - time.time()))
        key = f"{self.prefix}:used-token:{token_id}"
        return bool(await self.client.set(key, "1", nx=True, ex=seconds))

    def local_parties(self) -> Counter[RoomRole]:
        return Counter(role for _, role in self._members)

    def local_rooms(self) -> int:
        return len({appointment_id for appointment_id, _ in self._members})

    async def aclose(self) -> None:
        members, self._members = self._members, {}
        for (appointment_id, _), member in members.items():
            await member.party.close(CLOSE_UNAVAILABLE, "the server is shutting down")
            await self._drop(appointment_id, member)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _publish(
        self, appointment_id: uuid.UUID, role: RoomRole, envelope: dict[str, Any]
    ) -> int:
        text = json.dumps(envelope, ensure_ascii=False)
        return int(await self.client.publish(self.inbox(appointment_id, role), text))

    @staticmethod
    async def _subscribe(pubsub: PubSub, channel: str) -> None:
        """Subscribe and wait until Redis confirms: only then is no message for us lost."""
        await pubsub.subscribe(channel)
        async with asyncio.timeout(5):
            while True:
                reply = await pubsub.get_message(timeout=1.0)
                if reply is not None and reply["type"] == "subscribe":
                    return

    async def _forward(self, member: _Membership) -> None:
        party = member.party
        try:
            async for reply in member.pubsub.listen():
                if reply["type"] != "message":
                    continue
                envelope = json.loads(reply["data"])
                await party.send(envelope["message"])
                if envelope.get("end"):
                    await party.close(CLOSE_NORMAL, "call ended")
        except RedisError:
            log.warning("signalling: lost the inbox of a %s; closing its connection", party.role)
            await party.close(CLOSE_UNAVAILABLE, "signalling is unavailable; join again")

    async def _keep_side(self, appointment_id: uuid.UUID, member: _Membership) -> None:
        party = member.party
        key = self.side_key(appointment_id, party.role)
        while True:
            await asyncio.sleep(self.side_ttl_ms / 3000)
            ttl = self.side_ttl_ms
            try:
                kept = await self.client.eval(_REFRESH, 1, key, party.token, str(ttl))
                # Lost (Redis restarted, or this process stalled past the time to live): take
                # the side again unless someone else has it now.
                if not kept and not await self.client.set(key, party.token, nx=True, px=ttl):
                    await party.close(CLOSE_OCCUPIED, "this side of the call was taken over")
                    return
            except RedisError:
                log.warning(
                    "signalling: could not refresh a side of %s", appointment_id, exc_info=True
                )

    async def _drop(self, appointment_id: uuid.UUID, member: _Membership) -> None:
        for task in member.tasks:
            task.cancel()
        for task in member.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        key = self.side_key(appointment_id, member.party.role)
        try:
            await self.client.eval(_RELEASE, 1, key, member.party.token)
        except RedisError:
            log.warning("signalling: could not free a side of %s; it expires", appointment_id)
        await _close_pubsub(member.pubsub)


async def _close_pubsub(pubsub: PubSub) -> None:
    with contextlib.suppress(RedisError, OSError):
        await pubsub.unsubscribe()
    with contextlib.suppress(RedisError, OSError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]


def make_signal_hub(*, backend: str, redis_url: str, namespace: str) -> SignalHub:
    if backend == "redis":
        return RedisSignalHub(redis_url, namespace)
    return MemorySignalHub()


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
