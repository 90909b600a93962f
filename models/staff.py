"""Staff accounts, their roles and region scope, and their refresh tokens."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import tz_datetime, utcnow


class Role(enum.StrEnum):
    admin = "admin"
    reviewer = "reviewer"
    video_agent = "video_agent"
    community_worker = "community_worker"
    auditor = "auditor"


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    full_name: str = Field(default="", max_length=100)
    password_hash: str = Field(max_length=255)
    roles: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    # A region-code prefix: "11" a province, "110105" a district, "" the whole country.
    region_scope: str = Field(default="", max_length=6)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    # Wrong passwords in a row (reset by a successful login or an unlock); past a threshold
    # each try waits longer, and at the lock threshold only an administrator can unlock.
    failed_logins: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_failed_login_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    locked_at: datetime | None = Field(default=None, sa_type=tz_datetime())

    def has_role(self, role: Role) -> bool:
        return role.value in self.roles

    def covers_region(self, region_code: str) -> bool:
        return region_code.startswith(self.region_scope)


class RefreshToken(SQLModel, table=True):
    """One issued refresh token; rotation links tokens of one login into a family."""

    __tablename__ = "refresh_token"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    family_id: uuid.UUID = Field(index=True)
    staff_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    expires_at: datetime = Field(sa_type=tz_datetime())
    used_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    revoked_at: datetime | None = Field(default=None, sa_type=tz_datetime())
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
