"""Short-lived TURN credentials for the browsers (the TURN REST API scheme that coturn checks
with `use-auth-secret`): username `<expiry unix time>:<subject>`, password
base64(HMAC-SHA1(secret, username)). Nothing is stored: coturn recomputes the password with the
same secret and refuses a username whose time has passed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from app.config import IceServer, Settings

# A call in progress is not cut off: its relay stays usable this long after the join window.
TURN_GRACE = timedelta(hours=1)


def turn_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def turn_server(*, secret: str, urls: list[str], subject: str, expires_at: datetime) -> IceServer:
    username = f"{int(expires_at.timestamp())}:{subject}"
    return IceServer(urls=urls, username=username, credential=turn_password(secret, username))


def ice_servers_for(settings: Settings, *, subject: str, until: datetime) -> list[IceServer]:
    """The configured STUN/TURN servers, and the service's TURN relay with credentials for
    this subject valid until the call's window closes (plus TURN_GRACE)."""
    servers = list(settings.ice_servers)
    if settings.turn_secret and settings.turn_urls:
        servers.append(
            turn_server(
                secret=settings.turn_secret,
                urls=settings.turn_urls,
                subject=subject,
                expires_at=until + TURN_GRACE,
            )
        )
    return servers
