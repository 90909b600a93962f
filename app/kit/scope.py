"""Region scope, in one place: which rows a staff member may see and act on.

A pensioner's region now decides. Review cases, consular documents, video appointments,
verification tasks, match candidates and overpayment claims keep a `region_code` copied when
they were made (reports count by it); staff access never uses that copy, so after a move the
new region's staff act on the records and the old region's get 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql._expression_select_cls import SelectBase

from app.errors import AppError, PermissionDenied
from models.pensioner import Pensioner
from models.staff import StaffUser

R = TypeVar("R", bound=BaseModel)
Q = TypeVar("Q", bound=SelectBase[*tuple[Any, ...]])


class OfPensioner(Protocol):
    """A row that belongs to a pensioner."""

    @property
    def pensioner_id(self) -> uuid.UUID: ...


M = TypeVar("M", bound=OfPensioner)


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


def scoped(query: Q, pensioner_id: Any, staff: StaffUser) -> Q:
    """`query` narrowed to rows whose pensioner (column `pensioner_id`) is in the staff
    member's scope today; national staff see every row."""
    if not staff.region_scope:
        return query
    return query.where(in_region(pensioner_id, staff.region_scope))


def within(query: Q, region: Any, staff: StaffUser) -> Q:
    """`query` narrowed to rows whose region column (a pensioner's region, a batch's or a
    run's scope) lies under the staff member's scope; national staff see every row."""
    if not staff.region_scope:
        return query
    return query.where(col(region).startswith(staff.region_scope))


def national(staff: StaffUser, why: str) -> StaffUser:
    """The staff member, if national (no region scope): for what concerns the whole register;
    else PermissionDenied saying `why`."""
    if staff.region_scope:
        raise PermissionDenied(why)
    return staff


def get_in_scope(
    *,
    session: Session,
    model: type[M],
    id: uuid.UUID,
    staff: StaffUser,
    not_found: Callable[[], AppError],
    also: Callable[[M], bool] = lambda _row: True,
) -> M:
    """The row of `model` with this id whose pensioner is in the staff member's scope today
    (and that passes `also`); else `not_found()` is raised: out of scope reads as absent."""
    row = session.get(model, id)
    if (
        row is None
        or not covers(session=session, staff=staff, pensioner_id=row.pensioner_id)
        or not also(row)
    ):
        raise not_found()
    return row


def read_with_region(session: Session, schema: type[R], row: Any) -> R:
    """`schema` of a row that has a pensioner_id, showing the pensioner's region now."""
    read = schema.model_validate(row)
    region = region_of(session=session, pensioner_id=row.pensioner_id)
    return read.model_copy(update={"region_code": region}) if region else read
