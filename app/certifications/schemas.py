"""Bodies of the certification records."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from models.certification import CertificationMethod


class CertificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    method: CertificationMethod
    certified_at: datetime
    valid_until: date
    evidence: dict[str, Any]
    decided_by_type: str
    decided_by_id: str
    operated_by: str | None
