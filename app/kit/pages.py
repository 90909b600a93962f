"""Pages of a listing: one `Page[T]` shape (items, total, limit, offset), one `paginate`, and
the bounded `Limit`/`Offset` query parameters every listing takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

T = TypeVar("T")
U = TypeVar("U")

MAX_LIMIT = 200
# Far beyond any listing, and far below the 64-bit integer SQLite and PostgreSQL take for an
# OFFSET: a larger one is refused (422) instead of overflowing the database (500).
MAX_OFFSET = 10_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="How many rows at most")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many rows to skip")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

    def map(self, read: Callable[[T], U]) -> Page[U]:
        """The same page with each item turned into what the response shows."""
        return Page[U](
            items=[read(item) for item in self.items],
            total=self.total,
            limit=self.limit,
            offset=self.offset,
        )


def paginate(*, session: Session, query: SelectOfScalar[T], limit: int, offset: int) -> Page[T]:
    """Rows `offset` to `offset + limit` of an ordered `query`, and how many rows it has."""
    counted: Any = query.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
    total = session.exec(counted).one()
    rows = session.exec(query.limit(limit).offset(offset)).all()
    return Page[T](items=list(rows), total=int(total), limit=limit, offset=offset)
