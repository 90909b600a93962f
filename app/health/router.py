"""Liveness and readiness probes for the process and its database (public)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable")
def readyz(request: Request) -> JSONResponse:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        # The driver's words name hosts and ports: logged here, not sent to whoever asks.
        log.error("readiness: database unreachable: %s", exc)
        return JSONResponse(
            status_code=503,
            content={"error": "DatabaseUnavailable", "detail": "The database is unreachable."},
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "database": "ok"})
