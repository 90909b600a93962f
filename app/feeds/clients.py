"""Feed clients: an agency's system holding its own key, which names the source of its records.

The key is 32 random bytes shown once when the client is made; the database keeps only its
SHA-256 (a random key needs no slow hash) and the first characters, to tell keys apart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from app.audit.service import Actor
from app.feeds.errors import (
    DuplicateFeedClient,
    FeedClientNotFound,
    FeedClientRevoked,
    InvalidFeedKey,
)
from app.kit import audited
from app.security import hash_opaque_token, new_opaque_token
from models.records import FeedClient
from models.staff import StaffUser

KEY_PREFIX = "lcf_"
ACTOR_TYPE = "feed_client"


def create(
    *, session: Session, actor: Actor, staff: StaffUser, name: str, source_authority: str
) -> tuple[FeedClient, str]:
    """A new client and its key (the only time the key is seen)."""
    if session.exec(select(FeedClient).where(FeedClient.name == name)).first() is not None:
        raise DuplicateFeedClient()
    key = KEY_PREFIX + new_opaque_token()
    client = FeedClient(
        name=name,
        source_authority=source_authority,
        key_hash=hash_opaque_token(key),
        key_prefix=key[:12],
        created_by_id=staff.id,
    )
    audited.write(
        session=session,
        actor=actor,
        rows=[client],
        action="feed_client.create",
        entity_type="feed_client",
        entity_id=client.id,
        after={
            "name": client.name,
            "source_authority": client.source_authority,
            "key_prefix": client.key_prefix,
        },
    )
    return client, key


def list_all(*, session: Session) -> list[FeedClient]:
    return list(session.exec(select(FeedClient).order_by(col(FeedClient.created_at))).all())


def get(*, session: Session, client_id: uuid.UUID) -> FeedClient:
    client = session.get(FeedClient, client_id)
    if client is None:
        raise FeedClientNotFound()
    return client


def revoke(*, session: Session, actor: Actor, staff: StaffUser, client: FeedClient) -> FeedClient:
    if client.revoked_at is not None:
        raise FeedClientRevoked()
    client.revoked_at = datetime.now(UTC)
    client.revoked_by_id = staff.id
    audited.write(
        session=session,
        actor=actor,
        rows=[client],
        action="feed_client.revoke",
        entity_type="feed_client",
        entity_id=client.id,
        before={"revoked_at": None},
        after={"revoked_at": client.revoked_at.isoformat(), "name": client.name},
    )
    return client


def authenticate(*, session: Session, key: str) -> FeedClient:
    """The active client holding this key; one answer for an unknown and a revoked key."""
    client = session.exec(
        select(FeedClient).where(FeedClient.key_hash == hash_opaque_token(key.strip()))
    ).first()
    if client is None or client.revoked_at is not None:
        raise InvalidFeedKey()
    return client


def actor_of(client: FeedClient, client_address: str | None) -> Actor:
    return Actor(type=ACTOR_TYPE, id=str(client.id), client_address=client_address)
