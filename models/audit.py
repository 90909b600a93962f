"""Append-only audit trail; each event carries the previous event's hash (a keyed hash chain)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import tz_datetime, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    # Sequence numbers are contiguous; a gap is a deleted event.
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime(), index=True)
    actor_type: str = Field(max_length=16)  # staff, pensioner, system
    actor_id: str = Field(max_length=64)
    action: str = Field(max_length=64, index=True)
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(max_length=64, index=True)
    # The region of the record acted on, so region-scoped auditors see their own region.
    region_code: str | None = Field(default=None, max_length=6, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    client_address: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    # How `hash` was made: 0 plain SHA-256 (events written before the chain was keyed),
    # 1 HMAC-SHA256 with the audit key (LIFECERT_AUDIT_KEY), which the database never holds.
    hash_scheme: int = Field(default=1, sa_column_kwargs={"server_default": "0"})
