"""Bodies of staff account management."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from models.staff import Role

Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9_.-]{3,64}$")]
RegionScope = Annotated[str, StringConstraints(pattern=r"^(\d{2}|\d{4}|\d{6})?$")]
Password = Annotated[str, StringConstraints(min_length=12, max_length=128)]


def _unique_roles(roles: list[Role]) -> list[Role]:
    if not roles:
        raise ValueError("give at least one role")
    return sorted(set(roles), key=lambda r: r.value)


class StaffCreate(BaseModel):
    username: Username = Field(description="Lower-case letters, digits, '.', '_' or '-'")
    full_name: str = Field(default="", max_length=100)
    password: Password
    roles: list[Role]
    region_scope: RegionScope = Field(
        default="", description="'' national, 2 digits a province, 4 a city, 6 a district"
    )

    _roles = field_validator("roles")(_unique_roles)


class StaffUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str | None = Field(default=None, max_length=100)
    password: Password | None = None
    roles: list[Role] | None = None
    region_scope: RegionScope | None = None
    is_active: bool | None = None

    @field_validator("roles")
    @classmethod
    def _roles(cls, roles: list[Role] | None) -> list[Role] | None:
        return None if roles is None else _unique_roles(roles)


class StaffRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    full_name: str
    roles: list[Role]
    region_scope: str
    is_active: bool
    created_at: datetime
    locked_at: datetime | None = None  # locked after repeated wrong passwords
    failed_logins: int = 0
