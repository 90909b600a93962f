"""Helpers for the data-comparison tests: feed files, a run on a fixed date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session

from app.audit.service import SYSTEM
from app.config import Settings
from app.feeds import service as feeds
from app.feeds.schemas import FeedReport
from app.matching import service as matching
from models.matching import MatchingRun, RunKind
from models.records import FeedType

AS_OF = date(2026, 11, 29)


@pytest.fixture
def import_csv(db: Session, settings: Settings, tmp_path: Path) -> Callable[..., FeedReport]:
    def run(feed_type: str, text: str, source: str = "public_security") -> FeedReport:
        report = feeds.import_file(
            session=db,
            settings=settings,
            actor=SYSTEM,
            feed_type=FeedType(feed_type),
            source_authority=source,
            content=text.encode(),
            file_name=f"{feed_type}.csv",
            today=AS_OF,
        )
        db.commit()
        return report

    return run


@pytest.fixture
def match(db: Session, settings: Settings) -> Callable[..., MatchingRun]:
    def run(
        as_of: date = AS_OF, scope: str = "", *, one_by_one: bool = False, commit: bool = True
    ) -> MatchingRun:
        """A monthly run, committed (or left in the session's transaction)."""
        result = matching.run(
            session=db,
            settings=settings,
            actor=SYSTEM,
            kind=RunKind.monthly,
            as_of=as_of,
            region_scope=scope,
            one_by_one=one_by_one,
        )
        if commit:
            db.commit()
            db.expire_all()
        return result

    return run
