"""The pensioner register: people who receive a benefit and must certify that they are alive."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlmodel import Field, SQLModel

from models.base import enum_type, tz_datetime, utcnow


class Sex(enum.StrEnum):
    male = "M"
    female = "F"


class Residence(enum.StrEnum):
    local = "local"
    away = "away"  # elsewhere in the country
    overseas = "overseas"


class BenefitType(enum.StrEnum):
    pension = "pension"
    unemployment = "unemployment"


class BenefitStatus(enum.StrEnum):
    active = "active"
    suspended = "suspended"
    terminated = "terminated"


class Language(enum.StrEnum):
    zh = "zh"
    en = "en"


class Pensioner(SQLModel, table=True):
    __tablename__ = "pensioner"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    national_id: str = Field(max_length=18, unique=True, index=True)
    name: str = Field(max_length=100, index=True)
    date_of_birth: date
    sex: Sex = Field(sa_type=enum_type(Sex))
    phone: str = Field(max_length=20)
    region_code: str = Field(max_length=6, foreign_key="region.code", index=True)
    residence: Residence = Field(sa_type=enum_type(Residence))
    overseas_country: str | None = Field(default=None, max_length=2)  # ISO 3166-1 alpha-2
    overseas_timezone: str | None = Field(default=None, max_length=64)  # IANA name
    benefit_type: BenefitType = Field(sa_type=enum_type(BenefitType))
    benefit_status: BenefitStatus = Field(
        default=BenefitStatus.active, sa_type=enum_type(BenefitStatus)
    )
    monthly_amount_fen: int = Field(ge=0)
    mobility_limited: bool = False
    preferred_language: Language = Field(default=Language.zh, sa_type=enum_type(Language))
    # The pensioner's own choice of time zone for times shown to them (video-call slots);
    # None: overseas_timezone, else China time.
    display_timezone: str | None = Field(default=None, max_length=64)
    # Denormalised from the newest certification so status queries need no join at scale.
    # Not indexed, and on PostgreSQL the table keeps pages 25% free (migration 0007), so
    # the monthly run moves it in place for millions of pensioners.
    certified_until: date | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
    updated_at: datetime = Field(default_factory=utcnow, sa_type=tz_datetime())
