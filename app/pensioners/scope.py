"""Region scope of records that belong to a pensioner: the pensioner's region now decides.

Review cases, consular documents, video appointments, verification tasks, match candidates and
overpayment claims keep a `region_code` copied when they were made (reports count by it); staff
access never uses that copy, so after a move the new region's staff act on the records and the
old region's get 404.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from models.pensioner import Pensioner
from models.staff import StaffUser

R = TypeVar("R", bound=BaseModel)


def region_of(*, session: Session, pensioner_id: uuid.UUID) -> str | None:
    """The pensioner's current region, or None when the pensioner is gone."""
    pensioner = session.get(Pensioner, pensioner_id)
    return pensioner.region_code if pensioner is not None else None


def covers(*, session: Session, staff: StaffUser, pensioner_id: uuid.UUID) -> bool:
    """Whether the pensioner is in the staff member's region scope today."""
    region = region_of(session=session, pensioner_id=pensioner_id)
    return region is not None and staff.covers_region(region)


def in_region(pensioner_id: Any, prefix: str) -> ColumnElement[bool]:
    """Rows whose pensioner (column `pensioner_id`) lives now under the region prefix."""
    return col(pensioner_id).in_(
        select(Pensioner.id).where(col(Pensioner.region_code).startswith(prefix))
    )


def read_with_region(session: Session, schema: type[R], row: Any) -> R:
    """`schema` of a row that has a pensioner_id, showing the pensioner's region now."""
    read = schema.model_validate(row)
    region = region_of(session=session, pensioner_id=row.pensioner_id)
    return read.model_copy(update={"region_code": region}) if region else read
