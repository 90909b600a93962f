"""Administrative regions (6-digit codes) that pensioners belong to and staff are scoped by."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Region(SQLModel, table=True):
    __tablename__ = "region"

    code: str = Field(primary_key=True, min_length=6, max_length=6)
    name: str = Field(max_length=100)
    # None: the service-wide default period applies.
    certification_period_months: int | None = Field(default=None)
