"""Bodies of the audit trail endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    occurred_at: datetime
    actor_type: str
    actor_id: str
    action: str
    entity_type: str
    entity_id: str
    region_code: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    client_address: str | None
    prev_hash: str
    hash: str


class ChainProblem(BaseModel):
    seq: int
    problem: str
    detail: str


class ChainVerification(BaseModel):
    ok: bool
    events: int
    problems: list[ChainProblem]
