"""Bodies of the pensioner register API and of one imported CSV row."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from functools import cache
from typing import Annotated, Self
from zoneinfo import available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app import national_id as nid
from app.kit.money import MonthlyFen
from models.pensioner import BenefitStatus, BenefitType, Language, Residence, Sex

RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_PHONE_SEPARATORS = re.compile(r"[\s\-()]")
_PHONE = re.compile(r"^\+?\d{6,15}$")


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def _clean_phone(value: str) -> str:
    phone = _PHONE_SEPARATORS.sub("", value)
    if not _PHONE.match(phone):
        raise ValueError("a phone number has 6 to 15 digits, optionally starting with +")
    return phone


def _check_residence(
    residence: Residence | None, country: str | None, timezone: str | None
) -> None:
    if residence is Residence.overseas:
        if not country:
            raise ValueError("overseas_country (ISO code such as CA or AU) is required overseas")
        if not timezone:
            raise ValueError("overseas_timezone (such as America/Toronto) is required overseas")
    elif residence is not None and (country or timezone):
        raise ValueError("overseas_country and overseas_timezone are only for overseas residence")


class _PensionerFields(BaseModel):
    @field_validator("phone", check_fields=False)
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else _clean_phone(value)

    @field_validator("overseas_country", check_fields=False)
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        country = value.strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise ValueError("use the two-letter ISO 3166 country code, such as CA or AU")
        return country

    @field_validator("overseas_timezone", check_fields=False)
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.strip() not in _timezones():
            raise ValueError(f"{value!r} is not an IANA time zone name such as Asia/Shanghai")
        return value.strip()


class PensionerCreate(_PensionerFields):
    national_id: str = Field(max_length=32, examples=["11010519491231002X"])
    name: Name
    date_of_birth: date | None = Field(default=None, description="Defaults to the ID's date")
    sex: Sex | None = Field(default=None, description="Defaults to the ID's 17th digit")
    phone: str = Field(max_length=32)
    region_code: RegionCode
    residence: Residence = Residence.local
    overseas_country: str | None = None
    overseas_timezone: str | None = None
    benefit_type: BenefitType = BenefitType.pension
    benefit_status: BenefitStatus = BenefitStatus.active
    monthly_amount_fen: MonthlyFen
    mobility_limited: bool = False
    preferred_language: Language = Language.zh

    @field_validator("national_id")
    @classmethod
    def _national_id(cls, value: str) -> str:
        return nid.validate(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        born = nid.birth_date(self.national_id)
        if self.date_of_birth is None:
            self.date_of_birth = born
        elif self.date_of_birth != born:
            raise ValueError(
                f"date_of_birth {self.date_of_birth} differs from the ID number's {born}"
            )
        id_sex = Sex(nid.sex(self.national_id))
        if self.sex is None:
            self.sex = id_sex
        elif self.sex is not id_sex:
            raise ValueError(f"sex {self.sex.value} differs from the ID number's {id_sex.value}")
        _check_residence(self.residence, self.overseas_country, self.overseas_timezone)
        return self


class PensionerUpdate(_PensionerFields):
    """Fields to change; the national ID and date of birth are fixed once registered. A field
    left out keeps its value; only the overseas details can be set to null (cleared)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    phone: str | None = Field(default=None, max_length=32)
    region_code: RegionCode | None = None
    residence: Residence | None = None
    overseas_country: str | None = None
    overseas_timezone: str | None = None
    benefit_type: BenefitType | None = None
    benefit_status: BenefitStatus | None = None
    monthly_amount_fen: MonthlyFen | None = None
    mobility_limited: bool | None = None
    preferred_language: Language | None = None

    @field_validator(
        "name",
        "phone",
        "region_code",
        "residence",
        "benefit_type",
        "benefit_status",
        "monthly_amount_fen",
        "mobility_limited",
        "preferred_language",
        mode="before",
    )
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Called only for fields the body names: null would mean "erase" a value every record
        # must have.
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value


class PensionerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    national_id: str
    name: str
    date_of_birth: date
    sex: Sex
    phone: str
    region_code: str
    residence: Residence
    overseas_country: str | None
    overseas_timezone: str | None
    benefit_type: BenefitType
    benefit_status: BenefitStatus
    monthly_amount_fen: int
    mobility_limited: bool
    preferred_language: Language
    certified_until: date | None
    created_at: datetime
    updated_at: datetime


class PensionerSelf(BaseModel):
    """What a signed-in pensioner sees of their own record."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    national_id_masked: str
    region_code: str
    residence: Residence
    benefit_type: BenefitType
    benefit_status: BenefitStatus
    preferred_language: Language
    certified_until: date | None
    certification_status: str = Field(description="certified, due_soon, overdue, never_certified")
    media_retention_days: int = Field(
        description="Days after a decision when the attempt's photo and video are deleted"
    )
    timezone: str = Field(description="The time zone times are shown in (video-call slots)")
    display_timezone: str | None = Field(
        description="Your own choice of time zone; null: where you live abroad, else China time"
    )


class PensionerSelfUpdate(BaseModel):
    """What a pensioner may change themselves: how times and messages are shown to them."""

    model_config = ConfigDict(extra="forbid")

    display_timezone: str | None = Field(
        default=None, description="IANA name such as Pacific/Auckland; null: back to the default"
    )
    preferred_language: Language | None = None

    @field_validator("display_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None and value.strip() not in _timezones():
            raise ValueError(f"{value!r} is not an IANA time zone name such as Pacific/Auckland")
        return value.strip() if value is not None else None


class ImportRowError(BaseModel):
    row: int = Field(description="Line number in the file (the header is line 1)")
    national_id: str | None
    field: str | None
    code: str
    message: str


class ImportReport(BaseModel):
    mode: str
    dry_run: bool
    rows: int
    valid: int
    created: int
    errors: list[ImportRowError]
