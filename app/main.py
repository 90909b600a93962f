"""create_app(): settings, database engine, routers, error handlers and the web pages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.appointments.router import agent_router as video_agent_router
from app.appointments.router import router as appointments_router
from app.attempts.jobs import JobQueue, make_queue
from app.attempts.router import router as attempts_router
from app.attempts.router import staff_router as assisted_router
from app.attempts.router import status_router as attempt_status_router
from app.attempts.service import make_rng, requeue_stranded
from app.audit.router import router as audit_router
from app.auth.router import router as auth_router
from app.auth.senders import make_sender
from app.config import Settings, get_settings
from app.consular.router import router as consular_router
from app.consular.router import staff_router as consular_staff_router
from app.db import SessionSlots, make_engine
from app.deps import current_pensioner, current_pensioner_id, current_staff
from app.errors import install_error_handlers
from app.faces.router import calibration_router, pending_router
from app.faces.router import router as faces_router
from app.faces.service import CohortCache
from app.feeds.dependencies import feed_sender
from app.feeds.router import intake_router as feed_intake_router
from app.feeds.router import router as feeds_router
from app.health.router import router as health_router
from app.kit.rate_limits import make_rate_limiter
from app.limits import BodySizeLimit
from app.matching.router import router as matching_router
from app.middleware import SecurityHeaders, TrustedProxyHeaders
from app.observability.logs import RequestId, configure_logging
from app.observability.metrics import RequestMetrics, StateCollector
from app.observability.router import router as metrics_router
from app.openapi import install_contract, operation_id
from app.overpayments.router import router as overpayments_router
from app.pensioners.router import me_router
from app.pensioners.router import router as pensioners_router
from app.regions.router import router as regions_router
from app.reports.router import router as reports_router
from app.reviews.router import router as reviews_router
from app.staff.router import router as staff_router
from app.verification_tasks.router import router as verification_tasks_router
from app.video_calls.router import router as video_calls_router
from app.video_calls.router import ws_router as signalling_router
from app.video_calls.signalling import make_signal_hub
from biometrics import DlibFaceEngine, FaceEngine
from biometrics.decode import set_decode_concurrency

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
API_PREFIX = "/api/v1"


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    face_engine: FaceEngine | None = None,
    job_queue: JobQueue | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    settings.ensure_dirs()
    engine = engine or make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Jobs of the embedded pool die with the process: queue what a restart left undone.
        if settings.job_backend == "inprocess":
            with Session(engine) as session:
                requeue_stranded(
                    session=session,
                    queue=app.state.job_queue,
                    older_than=timedelta(0),
                    lease=timedelta(0),
                )
        yield
        await app.state.signal_hub.aclose()
        if app.state.job_queue is not None:
            app.state.job_queue.shutdown()
        engine.dispose()

    app = FastAPI(
        title="lifecert",
        version="0.1.0",
        description="Remote benefit-eligibility certification (proof of life).",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_slots = SessionSlots(settings.db_max_sessions, settings.db_slot_wait_seconds)
    app.state.rate_limiter = make_rate_limiter(settings)
    app.state.otp_sender = make_sender(settings)
    # The dlib models load on first use, not here, so start-up stays fast.
    app.state.face_engine = face_engine or DlibFaceEngine()
    app.state.cohort_cache = CohortCache()
    set_decode_concurrency(
        settings.max_concurrent_decodes, wait_seconds=settings.decode_wait_seconds
    )
    app.state.challenge_rng = make_rng(settings)
    app.state.job_queue = job_queue if job_queue is not None else make_queue(settings)
    # Signalling rooms of calls, in this process or in Redis (app/video_calls/signalling.py).
    app.state.signal_hub = make_signal_hub(
        backend=settings.signalling,
        redis_url=settings.redis_url,
        namespace=settings.redis_namespace,
    )

    hub = app.state.signal_hub
    app.state.metrics = CollectorRegistry(auto_describe=False)
    app.state.metrics.register(
        StateCollector(engine, lambda: (hub.local_rooms(), dict(hub.local_parties())))
    )
    if settings.log_format:
        configure_logging(settings.log_format)

    install_error_handlers(app)
    upload_limit = settings.max_photo_bytes + settings.max_video_bytes + 64 * 1024
    app.add_middleware(
        BodySizeLimit,
        default=settings.max_body_bytes,
        by_path={
            f"^{API_PREFIX}/pensioners/import$": settings.max_import_bytes,
            f"^{API_PREFIX}/faces/imports$": settings.face_import_max_archive_bytes,
            # A multipart form adds a little to the photo itself.
            f"^{API_PREFIX}/pensioners/[^/]+/faces$": settings.max_photo_bytes + 64 * 1024,
            f"^{API_PREFIX}/feeds/[^/]+/batches$": settings.max_feed_bytes,
            f"^{API_PREFIX}/certifications/attempts/[^/]+/upload$": upload_limit,
            f"^{API_PREFIX}/certifications/attempts/[^/]+/selfie-check$": settings.max_photo_bytes
            + 64 * 1024,
            f"^{API_PREFIX}/pensioners/[^/]+/assisted-attempts/[^/]+/upload$": upload_limit,
            f"^{API_PREFIX}/video-calls/[^/]+/frames$": settings.max_photo_bytes + 64 * 1024,
            f"^{API_PREFIX}/certifications/consular-documents$": settings.max_scan_bytes
            + 64 * 1024,
        },
    )

    # Added last, so they run first: every response (413s too) carries the headers, and
    # everything below sees the client address a trusted proxy forwarded.
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedProxyHeaders, trusted=settings.trusted_proxies)
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestId)

    api = APIRouter(prefix=API_PREFIX)
    # Public: login and health. Everything else requires a staff or pensioner token.
    api.include_router(auth_router)
    staff_only = [Depends(current_staff)]
    api.include_router(pensioners_router, dependencies=staff_only)
    api.include_router(faces_router, dependencies=staff_only)
    api.include_router(calibration_router, dependencies=staff_only)
    api.include_router(pending_router, dependencies=staff_only)
    api.include_router(staff_router, dependencies=staff_only)
    api.include_router(regions_router, dependencies=staff_only)
    api.include_router(audit_router, dependencies=staff_only)
    api.include_router(feeds_router, dependencies=staff_only)
    # An agency's feed key or an administrator's token.
    api.include_router(feed_intake_router, dependencies=[Depends(feed_sender)])
    api.include_router(matching_router, dependencies=staff_only)
    api.include_router(verification_tasks_router, dependencies=staff_only)
    api.include_router(overpayments_router, dependencies=staff_only)
    api.include_router(reports_router, dependencies=staff_only)
    pensioner_only = [Depends(current_pensioner)]
    api.include_router(me_router, dependencies=pensioner_only)
    api.include_router(attempts_router, dependencies=pensioner_only)
    api.include_router(attempt_status_router, dependencies=[Depends(current_pensioner_id)])
    api.include_router(assisted_router, dependencies=staff_only)
    api.include_router(reviews_router, dependencies=staff_only)
    api.include_router(appointments_router, dependencies=pensioner_only)
    api.include_router(consular_router, dependencies=pensioner_only)
    api.include_router(video_agent_router, dependencies=staff_only)
    api.include_router(video_calls_router, dependencies=staff_only)
    api.include_router(consular_staff_router, dependencies=staff_only)
    # The signalling WebSocket authenticates with the room token in its query string.
    api.include_router(signalling_router)
    app.include_router(api)
    app.include_router(health_router)
    app.include_router(metrics_router)
    install_contract(app)

    static = settings.static_dir or STATIC_DIR
    app.mount("/", StaticFiles(directory=static, html=True), name="static")
    logging.getLogger("app").setLevel(logging.INFO)
    return app
