"""ASGI middleware that refuses request bodies over a size limit before they are read whole."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body over {limit} bytes")


def too_large_body(limit: int) -> dict[str, str]:
    return {
        "error": "PayloadTooLarge",
        "detail": f"The request body is larger than the limit of {limit} bytes "
        f"({limit / 1048576:.1f} MB); send a smaller file.",
    }


class BodySizeLimit:
    """Checks Content-Length up front and counts streamed bytes for chunked uploads."""

    def __init__(self, app: ASGIApp, *, default: int, by_path: dict[str, int] | None = None):
        """by_path maps a regular expression matched against the path to its own limit."""
        self.app = app
        self.default = default
        self.by_path = [(re.compile(p), limit) for p, limit in (by_path or {}).items()]

    def _limit(self, path: str) -> int:
        for pattern, limit in self.by_path:
            if pattern.match(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(send, limit)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        body = json.dumps(too_large_body(limit)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
