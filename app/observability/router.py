"""GET /metrics for Prometheus: only for the configured addresses or the metrics bearer token
(LIFECERT_METRICS_ALLOWED_ADDRESSES, LIFECERT_METRICS_TOKEN); with neither set, for nobody."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.config import Settings
from app.observability.metrics import CONTENT_TYPE_LATEST, exposition

router = APIRouter(tags=["health"])


def may_scrape(settings: Settings, request: Request) -> bool:
    token = settings.metrics_token
    given = request.headers.get("authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(allowed, strict=False)
        for allowed in settings.metrics_allowed_addresses
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (the configured scrapers only)",
    response_class=Response,
    responses={403: {"description": "Not a configured scraper"}},
)
def metrics(request: Request) -> Response:
    if not may_scrape(request.app.state.settings, request):
        return JSONResponse(
            status_code=403,
            content={
                "error": "MetricsForbidden",
                "detail": "metrics are served only to LIFECERT_METRICS_ALLOWED_ADDRESSES or "
                "with the LIFECERT_METRICS_TOKEN bearer token",
            },
        )
    return Response(exposition(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
