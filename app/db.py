"""Database engine and the per-request session that owns the transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.config import Settings
from app.errors import AppError

log = logging.getLogger(__name__)
_AFTER_COMMIT = "lifecert_after_commit"


def make_engine(settings: Settings) -> Engine:
    url = settings.resolved_database_url
    # As many connections as the server's thread pool may want at once (40 threads).
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 30}
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event below start transactions instead of pysqlite.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock up front: a read-then-write transaction (the audit
            # chain's "read the last hash, append") would otherwise fail when another writer
            # commits in between. SQLite serialises writers anyway; this makes them wait, not
            # fail. Read-only requests (GET) begin DEFERRED and never wait for writers.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run `callback` once the session's transaction has committed, and never if it rolls back:
    enqueue a job that must find the rows, push a message about them, unlink a deleted record's
    file. The one place work after a commit is registered, for requests, jobs and commands."""
    pending: list[Callable[[], object]] | None = session.info.get(_AFTER_COMMIT)
    if pending is None:
        pending = session.info[_AFTER_COMMIT] = []
        sa.event.listen(session, "after_commit", _run_after_commit)
        sa.event.listen(session, "after_rollback", _forget_after_commit)
    pending.append(callback)


def _run_after_commit(session: Session) -> None:
    pending: list[Callable[[], object]] = session.info.get(_AFTER_COMMIT, [])
    while pending:
        callback = pending.pop(0)
        try:
            callback()
        except Exception:
            # The transaction is committed: a failed follow-up is logged, not turned into an
            # error for a client whose change was kept (a job not sent is requeued as stranded).
            log.exception("work after commit failed: %r", callback)


def _forget_after_commit(session: Session) -> None:
    session.info.get(_AFTER_COMMIT, []).clear()


def get_session(request: Request) -> Iterator[Session]:
    """Commit when the request handler succeeds, roll back when it raises; services only flush,
    and routers register what must follow the commit with `after_commit`."""
    engine = request.app.state.engine
    if request.method in ("GET", "HEAD"):
        engine = engine.execution_options(sqlite_begin="DEFERRED")
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except AppError as exc:
            # Some refusals must still be remembered, e.g. a wrong login code counts as a try.
            if exc.persist_changes:
                session.commit()
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise


# scope="function": commit before the response is sent, so a client that reads right after a
# write sees it, and a failed commit is an error response rather than a success already sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
