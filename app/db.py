"""Database engine and the per-request session that owns the transaction."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any

import anyio
import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from app.errors import AppError, Overloaded

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


class SessionSlots:
    """How many requests of this process may hold a database session at once.

    Sessions are used from the server's thread pool (40 threads) and draw on a pool of 40
    connections. Unbounded, 200 clients at once filled both: requests holding a connection
    waited for a thread while the threads waited for a connection, until the pool's 30 s
    timeout answered 500. A request now waits for a slot on the event loop (no thread, no
    connection) for at most `db_slot_wait_seconds`, then gets 503 `Overloaded` with
    Retry-After; `db_max_sessions` stays under the threads and connections."""

    def __init__(self, size: int, wait_seconds: float) -> None:
        self.size = size
        self.wait_seconds = wait_seconds
        # One semaphore per event loop (a server has one; tests start several).
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._by_loop = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self.size)
        return semaphore

    def in_use(self) -> int:
        semaphore = self._by_loop.get(asyncio.get_running_loop())
        return 0 if semaphore is None else self.size - semaphore._value

    async def acquire(self) -> asyncio.Semaphore:
        semaphore = self._semaphore()
        try:
            await asyncio.wait_for(semaphore.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            log.warning("no database session free within %.1f s: 503", self.wait_seconds)
            raise Overloaded() from None
        return semaphore


async def _in_thread(call: Callable[[], object]) -> None:
    # Shielded: a client that hangs up must not leave a transaction open or a slot taken.
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(call)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """Commit when the request handler succeeds, roll back when it raises; services only flush,
    and routers register what must follow the commit with `after_commit`. Holds one of the
    process's session slots (`SessionSlots`) for the request."""
    engine = request.app.state.engine
    if request.method in ("GET", "HEAD"):
        engine = engine.execution_options(sqlite_begin="DEFERRED")
    semaphore = await request.app.state.session_slots.acquire()
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    except AppError as exc:
        # Some refusals must still be remembered, e.g. a wrong login code counts as a try.
        await _in_thread(partial(_end, session, commit=exc.persist_changes))
        raise
    except BaseException:
        await _in_thread(partial(_end, session, commit=False))
        raise
    else:
        await _in_thread(partial(_end, session, commit=True))
    finally:
        semaphore.release()


def _end(session: Session, *, commit: bool) -> None:
    """Commit or roll back, then close: one trip to the thread pool per request."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def hold_session_slot(request: Request) -> AsyncIterator[None]:
    """A session slot for a route that reads on its own connection (the status poll)."""
    semaphore = await request.app.state.session_slots.acquire()
    try:
        yield
    finally:
        semaphore.release()


# scope="function": commit before the response is sent, so a client that reads right after a
# write sees it, and a failed commit is an error response rather than a success already sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SessionSlot = Annotated[None, Depends(hold_session_slot, scope="function")]
