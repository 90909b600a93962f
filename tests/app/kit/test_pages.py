"""Pages of a listing (app/kit/pages.py): one shape, counted and sliced by one function, and an
offset bounded so that a huge one is refused instead of overflowing the database."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session, col, select

from app.kit.pages import MAX_OFFSET, Page, paginate
from models.pensioner import Pensioner
from tests.conftest import Factory

API = "/api/v1"
# Every listing that pages with limit and offset.
LISTINGS = [
    "/pensioners",
    "/verification-tasks",
    "/verification-tasks/awaiting-confirmation",
    "/match-candidates",
    "/matching/runs",
    "/overpayments",
    "/feeds/batches",
    "/feeds/held-deaths",
]


@pytest.mark.parametrize("path", LISTINGS)
async def test_a_huge_offset_is_refused_not_a_server_error(
    path: str, client: httpx.AsyncClient, factory: Factory
) -> None:
    headers = factory.auth(factory.staff("admin"))
    # Past SQLite's 64-bit integers (a fuzzer found this gave a 500 on several listings).
    huge = await client.get(f"{API}{path}", params={"offset": 2**63}, headers=headers)
    assert huge.status_code == 422, huge.text
    assert huge.json()["error"] == "ValidationError"
    too_far = await client.get(f"{API}{path}", params={"offset": MAX_OFFSET + 1}, headers=headers)
    assert too_far.status_code == 422, too_far.text
    last = await client.get(f"{API}{path}", params={"offset": MAX_OFFSET}, headers=headers)
    assert last.status_code == 200, last.text
    body = last.json()
    assert body["items"] == [] and body["offset"] == MAX_OFFSET and body["limit"] == 50
    assert set(body) == {"items", "total", "limit", "offset"}


def test_paginate_counts_the_whole_query_and_returns_one_slice(
    db: Session, factory: Factory
) -> None:
    for name in ("甲", "乙", "丙", "丁"):
        factory.pensioner("110105", name=name)
    factory.pensioner("310115", name="戊")  # filtered out by the query
    query = (
        select(Pensioner)
        .where(col(Pensioner.region_code) == "110105")
        .order_by(col(Pensioner.name).desc())
    )
    everyone = [p.name for p in db.exec(query).all()]
    assert len(everyone) == 4

    page = paginate(session=db, query=query, limit=2, offset=1)
    assert page.total == 4 and page.limit == 2 and page.offset == 1
    assert [p.name for p in page.items] == everyone[1:3]

    past = paginate(session=db, query=query, limit=2, offset=10)
    assert past.total == 4 and past.items == []

    names = page.map(lambda p: p.name)
    assert isinstance(names, Page)
    assert names.model_dump() == {"items": everyone[1:3], "total": 4, "limit": 2, "offset": 1}
