"""ASGI middleware for every response: the real client behind trusted proxies, security headers."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


class TrustedProxyHeaders:
    """Take the client address (and the scheme) from X-Forwarded-For / X-Forwarded-Proto, but
    only when the connecting peer is a configured proxy; from anyone else they are ignored, so
    a client cannot pick the address its rate limits and audit events are keyed on."""

    def __init__(self, app: ASGIApp, *, trusted: Iterable[str]) -> None:
        self.app = app
        self.networks: list[IPNetwork] = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _trusted(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and self._trusted(client[0]):
            scope = dict(scope)
            headers = scope.get("headers") or []
            forwarded = ",".join(
                v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"
            ).split(",")
            # Walk from the nearest hop: the first address that is not one of our proxies is
            # the client; anything further left was written by the client itself.
            for hop in reversed([h.strip() for h in forwarded if h.strip()]):
                ip = _ip(hop)
                if ip is None:
                    break
                scope["client"] = (str(ip), 0)
                if not self._trusted(str(ip)):
                    break
            proto = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-proto"]
            if proto:
                last = proto[-1].split(",")[-1].strip().lower()
                if last in ("http", "https"):
                    secure = last == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = last
        await self.app(scope, receive, send)


# Pages and API: only our own scripts, styles, images and connections (the pages load only
# same-origin modules); camera frames and fetched media are blob: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc pages load Swagger UI / ReDoc from a CDN with an inline script.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """Adds CSP, nosniff, a referrer policy and frame denial to every HTTP response, and HSTS
    when the request came over HTTPS (directly or through a trusted TLS proxy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        policy = (
            DOCS_CONTENT_SECURITY_POLICY if path.startswith(DOCS_PATHS) else CONTENT_SECURITY_POLICY
        )
        extra = [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"permissions-policy", b"camera=(self), microphone=(self), geolocation=()"),
        ]
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS.encode()))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers.extend((k, v) for k, v in extra if k not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
