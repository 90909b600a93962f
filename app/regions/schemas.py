"""Bodies of the region endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.pensioners.schemas import Name, RegionCode


class RegionCreate(BaseModel):
    code: RegionCode = Field(description="6-digit administrative division code")
    name: Name
    certification_period_months: int | None = Field(default=None, ge=1, le=60)


class RegionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    certification_period_months: int | None = Field(default=None, ge=1, le=60)


class RegionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    certification_period_months: int | None
    effective_period_months: int = Field(description="The period that applies in this region")
