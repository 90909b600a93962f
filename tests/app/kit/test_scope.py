"""Region scope in one place (app/kit/scope.py): a pensioner's region today decides what a
staff member sees of the records that belong to them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session, select

from app.errors import NotFound, PermissionDenied
from app.kit import scope
from models.attempt import ReviewCase
from models.pensioner import Pensioner
from models.staff import StaffUser
from tests.conftest import Factory


def _case(factory: Factory, pensioner: Pensioner) -> ReviewCase:
    attempt = factory.attempt(pensioner)
    case = ReviewCase(
        attempt_id=attempt.id,  # type: ignore[attr-defined]
        pensioner_id=pensioner.id,
        region_code=pensioner.region_code,
    )
    factory.session.add(case)
    factory.session.commit()
    return case


def test_get_in_scope_loads_in_scope_and_raises_the_domains_error_otherwise(
    db: Session, factory: Factory
) -> None:
    here = factory.pensioner("110105")
    there = factory.pensioner("310115")
    assert isinstance(here, Pensioner) and isinstance(there, Pensioner)
    mine, theirs = _case(factory, here), _case(factory, there)
    staff = factory.staff("reviewer", scope="11")
    national = factory.staff("reviewer")
    assert isinstance(staff, StaffUser) and isinstance(national, StaffUser)

    def load(
        case: ReviewCase, who: StaffUser, also: Callable[[ReviewCase], bool] = lambda _: True
    ) -> ReviewCase:
        gone = NotFound("gone")
        return scope.get_in_scope(
            session=db, model=ReviewCase, id=case.id, staff=who, not_found=lambda: gone, also=also
        )

    assert load(mine, staff).id == mine.id
    assert load(theirs, national).id == theirs.id
    with pytest.raises(NotFound, match="gone"):
        load(theirs, staff)
    with pytest.raises(NotFound, match="gone"):  # in scope, but refused by the extra condition
        load(mine, staff, also=lambda case: case.low_score is True)
    assert load(mine, staff, also=lambda case: case.low_score is False).id == mine.id

    # The pensioner's region today decides, not the copy on the case.
    there.region_code = "110105"
    factory.region("110105")
    db.add(there)
    db.commit()
    assert load(theirs, staff).id == theirs.id


def test_scoped_and_within_narrow_a_query_for_scoped_staff_only(
    db: Session, factory: Factory
) -> None:
    here = factory.pensioner("110105")
    there = factory.pensioner("310115")
    assert isinstance(here, Pensioner) and isinstance(there, Pensioner)
    cases = {_case(factory, here).id, _case(factory, there).id}
    staff = factory.staff("reviewer", scope="11")
    national = factory.staff("reviewer")
    assert isinstance(staff, StaffUser) and isinstance(national, StaffUser)

    def ids(who: StaffUser) -> set[object]:
        query = scope.scoped(select(ReviewCase), ReviewCase.pensioner_id, who)
        return {c.id for c in db.exec(query).all()} & cases

    assert ids(national) == cases
    assert ids(staff) == cases - {_case_of(db, there)}

    def names(who: StaffUser) -> set[str]:
        query = scope.within(select(Pensioner), Pensioner.region_code, who)
        return {p.name for p in db.exec(query).all()} & {here.name, there.name}

    assert names(national) == {here.name, there.name}
    assert names(staff) == {here.name}


def _case_of(db: Session, pensioner: Pensioner) -> object:
    return db.exec(select(ReviewCase.id).where(ReviewCase.pensioner_id == pensioner.id)).one()


def test_national_lets_only_unscoped_staff_through(factory: Factory) -> None:
    national = factory.staff("admin")
    regional = factory.staff("admin", scope="11")
    assert isinstance(national, StaffUser) and isinstance(regional, StaffUser)
    assert scope.national(national, "why") is national
    with pytest.raises(PermissionDenied, match="whole register"):
        scope.national(regional, "It concerns the whole register.")
