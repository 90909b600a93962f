"""Rate limits in one place: the limiter (in Redis when configured, so every API process counts
together) and the global budgets, each refusal a 429 saying when a slot frees up."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter, RateLimiter

from app.config import Settings
from app.errors import RateLimited

# The expensive and the login routes, each with its own budget shared by every client, so a
# flood of code requests cannot also stop staff from logging in.
CODE_REQUEST = "code-request"
PENSIONER_LOGIN = "pensioner-login"
STAFF_LOGIN = "staff-login"
ATTEMPT_START = "attempt-start"
SELFIE_CHECK = "selfie-check"


def make_rate_limiter(settings: Settings) -> MovingWindowRateLimiter:
    options: dict[str, str] = {}
    if settings.rate_limit_storage.startswith(("redis", "rediss")):
        # Deployments (and test runs) sharing one Redis keep their counters apart.
        options["key_prefix"] = f"{settings.redis_namespace}:limits"
    return MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage, **options))


def seconds_until_free(limiter: RateLimiter, item: RateLimitItem, *identifiers: str) -> int:
    """Whole seconds until the window of `item` has room for one more request (at least 1)."""
    reset, _remaining = limiter.get_window_stats(item, *identifiers)
    return max(1, math.ceil(reset - time.time()))


def spend_global_budget(*, limiter: RateLimiter, rate: str, budget: str) -> None:
    """Count one request against the budget `budget` that all clients share; refuse when spent.

    Called after the per-client and per-ID limits, so a single client refused by its own limit
    does not use up everybody's budget.
    """
    item = parse(rate)
    if not limiter.hit(item, "global", budget):
        wait = seconds_until_free(limiter, item, "global", budget)
        raise RateLimited(
            f"The service is receiving too many of these requests right now; try again in "
            f"{wait} seconds.",
            retry_after=wait,
        )
