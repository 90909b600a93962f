"""The one error hierarchy of the service and the one place that maps errors to HTTP."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.limits import BodyTooLarge, too_large_body
from biometrics.errors import BiometricsError

log = logging.getLogger(__name__)
# Seconds a client waits before trying again when PostgreSQL or Redis is unreachable.
UNAVAILABLE_RETRY_AFTER = 5


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


class AppError(Exception):
    """A domain error: `code` is stable for clients, `message` is for people."""

    status_code = 400
    code = "BadRequest"
    message = "The request could not be processed."
    persist_changes = False
    # Seconds a client should wait before trying again (sent as Retry-After), if it should.
    retry_after: int | None = None

    def __init__(
        self, message: str | None = None, *, persist_changes: bool | None = None, **extra: Any
    ) -> None:
        self.message = message or self.message
        if persist_changes is not None:
            self.persist_changes = persist_changes
        self.extra = extra
        super().__init__(self.message)


class NotAuthenticated(AppError):
    status_code = 401
    code = "NotAuthenticated"
    message = "Log in first: this request needs a valid access token."


class InvalidToken(AppError):
    status_code = 401
    code = "InvalidToken"
    message = "The access token is invalid or has expired; log in again."


class PermissionDenied(AppError):
    status_code = 403
    code = "PermissionDenied"
    message = "Your account does not have the role needed for this action."


class NotFound(AppError):
    status_code = 404
    code = "NotFound"
    message = "Not found."


class ServiceUnavailable(AppError):
    """Redis (the job queue, the shared rate limits or the call rooms) is unreachable."""

    status_code = 503
    code = "ServiceUnavailable"
    message = "The service is briefly unavailable; nothing was saved. Try again in a few seconds."
    retry_after = UNAVAILABLE_RETRY_AFTER


class Overloaded(AppError):
    """Every database session this process allows is in use and none freed up in time."""

    status_code = 503
    code = "Overloaded"
    message = "The service is busy; nothing was saved. Try again in a few seconds."
    retry_after = UNAVAILABLE_RETRY_AFTER


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "UnsupportedMediaType"


class Conflict(AppError):
    status_code = 409
    code = "Conflict"


class UnprocessableEntity(AppError):
    status_code = 422
    code = "Invalid"


class OutOfScope(AppError):
    status_code = 403
    code = "RegionOutOfScope"
    message = "The region is outside your region scope."


class RateLimited(AppError):
    status_code = 429
    code = "RateLimited"
    message = "Too many requests; wait a few minutes and try again."
    retry_after = 60


def error_body(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "detail": detail, **extra}


class FieldProblem(BaseModel):
    field: str = Field(description="Where: a dotted path into the body, or the parameter name")
    message: str
    type: str = Field(description="pydantic's error type, e.g. `missing`, `string_too_long`")


class ErrorBody(BaseModel):
    """The body of every error answer (4xx and 5xx) the service sends."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "error": "ValidationError",
                    "detail": "Invalid request: national_id: String should have at most 18 "
                    "characters",
                    "fields": [
                        {
                            "field": "national_id",
                            "message": "String should have at most 18 characters",
                            "type": "string_too_long",
                        }
                    ],
                },
                {"error": "AttemptNotFound", "detail": "No such certification attempt for you."},
            ]
        },
    )

    error: str = Field(description="The stable code a client acts on (docs/api.md)")
    detail: str = Field(description="What happened and what to do, for people")
    fields: list[FieldProblem] | None = Field(
        default=None, description="ValidationError only: each invalid field"
    )
    retry_after: int | None = Field(
        default=None, description="LoginBackoff only: seconds to wait (also in Retry-After)"
    )


# Codes sent by the handlers and routes themselves, not by an error class: code -> (status,
# the detail a client sees or what it means).
HANDLER_CODES: dict[str, tuple[int, str]] = {
    "ValidationError": (422, "The request does not match the declared parameters or body."),
    "MethodNotAllowed": (405, "The path exists but not with this method."),
    "HTTPError": (400, "The request could not be read (any other HTTP-level refusal)."),
    "PayloadTooLarge": (413, "The request body is larger than the route's limit."),
    "MetricsForbidden": (403, "Metrics are served to the configured scrapers only."),
    "DatabaseUnavailable": (503, "The database is unreachable (readiness probe)."),
    "InternalError": (500, "Something went wrong on our side; please try again later."),
}


# Library errors know nothing of HTTP; this is where they get a status.
BIOMETRICS_STATUS = {
    "file_too_large": 413,
    "image_too_large": 413,
    "image_too_dense": 413,
    "decoder_busy": 503,
    "unsupported_format": 415,
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BiometricsError)
    async def _biometrics_error(_request: Request, exc: BiometricsError) -> JSONResponse:
        status = BIOMETRICS_STATUS.get(exc.code, 422)
        return JSONResponse(
            status_code=status,
            content=error_body(type(exc).__name__, exc.message),
            # A busy decoder frees up within seconds: say when to come back.
            headers={"Retry-After": "5"} if status == 503 else None,
        )

    # PostgreSQL or Redis down (a restart, a fail-over), or no pooled connection free: a 503
    # saying when to come back, never a 500; what the driver said is logged, not sent (it names
    # hosts, ports and drivers).
    def _unavailable(what: str, code: str, message: str) -> Handler:
        async def handler(request: Request, exc: Exception) -> JSONResponse:
            log.error("%s (%s %s): %s", what, request.method, request.url.path, exc)
            return JSONResponse(
                status_code=503,
                content=error_body(code, message),
                headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER)},
            )

        return handler

    database_down = _unavailable(
        "database unavailable",
        "DatabaseUnavailable",
        "The database is briefly unreachable; nothing was saved. Try again in a few seconds.",
    )
    app.add_exception_handler(sa.exc.OperationalError, database_down)
    app.add_exception_handler(sa.exc.InterfaceError, database_down)
    # The pool stayed empty for its whole timeout (app.db.SessionSlots should prevent it).
    app.add_exception_handler(
        sa.exc.TimeoutError,
        _unavailable("no database connection free", Overloaded.code, Overloaded.message),
    )
    redis_down = _unavailable(
        "redis unavailable", ServiceUnavailable.code, ServiceUnavailable.message
    )
    app.add_exception_handler(redis.exceptions.ConnectionError, redis_down)
    app.add_exception_handler(redis.exceptions.TimeoutError, redis_down)

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
        wait = exc.extra.get("retry_after", exc.retry_after)
        if wait is not None:
            headers["Retry-After"] = str(int(wait))
        return JSONResponse(
            status_code=exc.status_code,
            content=jsonable_encoder(error_body(exc.code, exc.message, **exc.extra)),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "message": str(err.get("msg", "")).removeprefix("Value error, "),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return JSONResponse(
            status_code=422,
            content=jsonable_encoder(
                error_body("ValidationError", f"Invalid request: {summary}", fields=fields)
            ),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # Any other failure: the same body as every error (Starlette still logs and re-raises
        # the exception after this answer is sent).
        return JSONResponse(
            status_code=500,
            content=error_body("InternalError", HANDLER_CODES["InternalError"][1]),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI reports any failure while reading a body as 400; a streamed body cut off by
        # the size limit is a 413.
        if isinstance(exc.__cause__, BodyTooLarge):
            return JSONResponse(status_code=413, content=too_large_body(exc.__cause__.limit))
        codes = {404: "NotFound", 405: "MethodNotAllowed", 401: "NotAuthenticated"}
        return JSONResponse(
            status_code=exc.status_code,
            content=error_body(codes.get(exc.status_code, "HTTPError"), str(exc.detail)),
            headers=getattr(exc, "headers", None),
        )
