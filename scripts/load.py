"""Load: pensioners certifying at once while staff search the register and review cases.

Starts the service as production runs it (scripts/harness.py: `lifecert serve` on 127.0.0.1
with PostgreSQL and Redis, `lifecert worker` processes), creates its data in a new database,
then runs `--users` pensioners concurrently (asyncio + httpx), each as the page does: start an
attempt, check preview photos every 2 s, upload the selfie and the video (frames and a clip
from ../shared/fixtures), poll the status every 1.5 s until decided; meanwhile `--staff` staff
members search the register and open, look at and decide review cases. New flows start during
`--duration` seconds; then the script waits (at most `--drain` seconds) for every uploaded
attempt's decision and compares with the database.

    .venv/bin/python scripts/load.py                          # 200 users, 120 s
    .venv/bin/python scripts/load.py --users 20 --duration 30 # a quick try

Checks (exit status 1 if one fails): no 5xx other than 503 with Retry-After; every 429 and 503
carries Retry-After; no request timed out (`--timeout`); every uploaded attempt has exactly
one decision in the database (status, one decision event, one certification or review case
when its outcome calls for one) and the status the client last saw is the database's. Prints
p50/p95 per endpoint and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
from harness import (
    CLIP,
    HOST,
    frame,
    load_average,
    new_workdir,
    prepare,
    running_service,
    scratch_database,
    service_env,
    token,
    unique_clip,
)

API = "/api/v1"
POLL_SECONDS = 1.5  # static/js/pensioner/attempt.js POLL_MS
CHECK_SECONDS = 2.0  # static/js/pensioner/selfie.js CHECK_EVERY_MS
DECIDED = ("certified", "needs_review", "rejected", "retry")


@dataclass
class Tally:
    """Every answer, by endpoint: latencies, status codes, overload answers, failures."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    timeouts: Counter[str] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    overload_without_retry_after: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    # attempt id -> the status the pensioner last saw; the uploaded ones apart.
    seen: dict[str, str] = field(default_factory=dict)
    uploaded: set[str] = field(default_factory=set)
    reviews_decided: int = 0
    # A pensioner's or staff member's loop that ended on an exception (an unexpected answer).
    client_exceptions: list[str] = field(default_factory=list)

    async def call(
        self, client: httpx.AsyncClient, endpoint: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            self.timeouts[endpoint] += 1
            return None
        except httpx.TransportError as exc:
            self.transport_errors[f"{endpoint}: {type(exc).__name__}"] += 1
            return None
        self.latencies[endpoint].append((time.perf_counter() - started) * 1000)
        code = response.status_code
        self.codes[endpoint][code] += 1
        if code in (429, 503) and "retry-after" not in response.headers:
            self.overload_without_retry_after.append(f"{endpoint} {code} {response.text[:200]}")
        elif code >= 500 and code != 503:
            self.server_errors.append(f"{endpoint} {code} {response.text[:300]}")
        return response


def retry_after(response: httpx.Response) -> float:
    try:
        return max(0.5, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


async def pensioner(
    client: httpx.AsyncClient,
    tally: Tally,
    bearer: str,
    media: dict[str, bytes],
    *,
    start_at: float,
    stop_starting: float,
    stop_polling: float,
) -> None:
    """One person's flow, as the page runs it; waits as told when refused for overload."""
    headers = {"Authorization": f"Bearer {bearer}"}
    base = f"{API}/certifications/attempts"
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    while time.monotonic() < stop_starting:
        started = await tally.call(client, "POST /attempts", "POST", base, headers=headers)
        if started is None:
            return
        if started.status_code in (429, 503):
            await asyncio.sleep(retry_after(started))
            continue
        if started.status_code != 201:
            return  # refused for a reason of its own (e.g. locked out): counted above
        attempt = started.json()
        attempt_id = attempt["id"]
        tally.seen[attempt_id] = attempt["status"]
        for _ in range(random.randint(1, 3)):
            check = await tally.call(
                client,
                "POST /attempts/{id}/selfie-check",
                "POST",
                f"{base}/{attempt_id}/selfie-check",
                headers=headers,
                files={"selfie": ("preview.jpg", media["preview"], "image/jpeg")},
            )
            wait = retry_after(check) if check is not None and check.status_code >= 429 else 0
            await asyncio.sleep(max(CHECK_SECONDS, wait))
        upload = await tally.call(
            client,
            "POST /attempts/{id}/upload",
            "POST",
            f"{base}/{attempt_id}/upload",
            headers=headers,
            files={
                "selfie": ("selfie.jpg", media["selfie"], "image/jpeg"),
                "video": ("video.mp4", unique_clip(media["clip"]), "video/mp4"),
            },
            data={"nonce": attempt["challenge"]["nonce"]},
        )
        if upload is None or upload.status_code != 202:
            continue  # not uploaded: this attempt expires; start another while time allows
        tally.uploaded.add(attempt_id)
        status = tally.seen[attempt_id] = upload.json()["status"]
        while status == "processing" and time.monotonic() < stop_polling:
            await asyncio.sleep(POLL_SECONDS)
            read = await tally.call(
                client,
                "GET /attempts/{id}",
                "GET",
                f"{base}/{attempt_id}",
                headers=headers,
            )
            if read is not None and read.status_code == 200:
                status = tally.seen[attempt_id] = read.json()["status"]
        if status != "retry":
            return  # decided (or the run is over); a person asked to retry starts again


async def staff_member(
    client: httpx.AsyncClient, tally: Tally, bearer: str, *, until: asyncio.Event
) -> None:
    """Search the register, then take the oldest open review case: read it, look at the
    selfie, decide it (approve, or ask for a new attempt); a second or so between actions."""
    headers = {"Authorization": f"Bearer {bearer}"}
    while not until.is_set():
        query = random.choice(["测试", "13800138000", "110105", "测试1"])
        await tally.call(
            client,
            "GET /pensioners?q=",
            "GET",
            f"{API}/pensioners",
            headers=headers,
            params={"q": query, "limit": 20},
        )
        cases = await tally.call(client, "GET /reviews", "GET", f"{API}/reviews", headers=headers)
        if cases is not None and cases.status_code == 200 and cases.json():
            case = random.choice(cases.json()[:5])
            url = f"{API}/reviews/{case['id']}"
            await tally.call(client, "GET /reviews/{id}", "GET", url, headers=headers)
            await tally.call(
                client, "GET /reviews/{id}/media", "GET", f"{url}/media/selfie", headers=headers
            )
            verdict = random.choice(["approve", "new_attempt"])
            body: dict[str, object] = {"verdict": verdict}
            if verdict != "approve":
                body["reason"] = "load test: please record again in better light"
            decided = await tally.call(
                client,
                "POST /reviews/{id}/decision",
                "POST",
                f"{url}/decision",
                headers=headers,
                json=body,
            )
            if decided is not None and decided.status_code == 200:
                tally.reviews_decided += 1
        await asyncio.sleep(random.uniform(0.5, 1.5))


def database_check(url: str, tally: Tally) -> dict[str, object]:
    """Each uploaded attempt has exactly one decision, recorded once, as the client saw it."""
    import sqlalchemy as sa
    from sqlmodel import Session, col, select

    from models.attempt import CertificationAttempt, ReviewCase
    from models.audit import AuditEvent
    from models.certification import Certification

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with Session(engine) as session:
        attempts = {
            str(a.id): a
            for a in session.exec(
                select(CertificationAttempt).where(
                    col(CertificationAttempt.id).in_([uuid.UUID(i) for i in tally.seen])
                )
            ).all()
        }
        events: Counter[str] = Counter()
        # The processing's own decision; a reviewer may change the status afterwards.
        decided_as: dict[str, str] = {}
        for action, after in session.exec(
            select(AuditEvent.action, AuditEvent.after).where(
                col(AuditEvent.action).in_([f"attempt.{s}" for s in DECIDED]),
                AuditEvent.actor_type == "system",
            )
        ).all():
            decided = str((after or {}).get("attempt_id"))
            events[decided] += 1
            decided_as[decided] = action.removeprefix("attempt.")
        cases = Counter(str(a) for a in session.exec(select(ReviewCase.attempt_id)).all())
        certifications = Counter(
            str(e.get("attempt_id"))
            for e in session.exec(select(Certification.evidence)).all()
            if e.get("attempt_id")
        )
    engine.dispose()
    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    undecided = 0
    for attempt_id in tally.seen:
        row = attempts.get(attempt_id)
        if row is None:
            problems.append(f"{attempt_id}: not in the database")
            continue
        status = row.status.value
        if attempt_id not in tally.uploaded:
            if events[attempt_id]:
                problems.append(f"{attempt_id}: never uploaded, yet decided")
            continue
        outcomes[status] += 1
        if status == "processing":
            undecided += 1
            problems.append(f"{attempt_id}: still processing after the drain")
            continue
        if events[attempt_id] != 1:
            problems.append(f"{attempt_id}: {events[attempt_id]} decision events")
        if row.decided_at is None:
            problems.append(f"{attempt_id}: {status} without decided_at")
        want_certifications = 1 if status == "certified" else 0
        if certifications[attempt_id] != want_certifications:
            problems.append(f"{attempt_id}: {status} with {certifications[attempt_id]} certs")
        if (status == "certified") != (row.certification_id is not None):
            problems.append(f"{attempt_id}: {status}, certification_id {row.certification_id}")
        # A review case exactly when the processing decided needs_review (a reviewer's verdict
        # then moves the status on: certified, rejected or retry).
        first = decided_as.get(attempt_id, status)
        want_cases = 1 if first == "needs_review" else 0
        if cases[attempt_id] != want_cases:
            problems.append(f"{attempt_id}: decided {first} with {cases[attempt_id]} review cases")
        if tally.seen[attempt_id] not in (status, first):
            problems.append(
                f"{attempt_id}: client saw {tally.seen[attempt_id]}, database {first} then {status}"
            )
    return {
        "attempts_started": len(tally.seen),
        "attempts_uploaded": len(tally.uploaded),
        "outcomes": dict(outcomes),
        "undecided": undecided,
        "problems": problems,
    }


async def drive(args: argparse.Namespace, base: str, env: dict[str, str], population: Any) -> Tally:
    preview = frame(60)  # a camera frame, 720x1280, as the page sends for hints
    media = {
        "preview": preview,
        "selfie": frame(60, size=(1080, 1920)),
        "clip": CLIP.read_bytes(),
    }
    tally = Tally()
    limits = httpx.Limits(max_connections=args.users + args.staff + 10)
    timeout = httpx.Timeout(args.timeout)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as client:
        now = time.monotonic()
        stop_starting = now + args.duration
        stop_polling = stop_starting + args.drain
        done = asyncio.Event()
        ramp = min(args.duration / 2, 20.0)
        people = [
            asyncio.create_task(
                pensioner(
                    client,
                    tally,
                    token(env, person, "pensioner"),
                    media,
                    start_at=now + random.uniform(0, ramp),
                    stop_starting=stop_starting,
                    stop_polling=stop_polling,
                )
            )
            for person in population.pensioners
        ]
        staff = [
            asyncio.create_task(staff_member(client, tally, token(env, sid, "staff"), until=done))
            for _, sid in population.staff
        ]
        last = 0.0
        while not all(p.done() for p in people):
            await asyncio.sleep(1)
            if time.monotonic() - last > 15:
                last = time.monotonic()
                pending = sum(1 for a in tally.uploaded if tally.seen.get(a) == "processing")
                answers = sum(len(v) for v in tally.latencies.values())
                print(
                    f"  {time.monotonic() - now:5.0f} s: {len(tally.seen)} attempts, "
                    f"{len(tally.uploaded)} uploaded, {pending} processing; {answers} answers, "
                    f"{sum(tally.timeouts.values())} timeouts; load {load_average()}",
                    file=sys.stderr,
                    flush=True,
                )
        done.set()
        for outcome in await asyncio.gather(*staff, *people, return_exceptions=True):
            if isinstance(outcome, BaseException):
                tally.client_exceptions.append(repr(outcome)[:300])
    return tally


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def report(tally: Tally, check: dict[str, object]) -> dict[str, object]:
    endpoints = {
        name: {
            "requests": len(values),
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "codes": dict(sorted(tally.codes[name].items())),
        }
        for name, values in sorted(tally.latencies.items())
    }
    overload = sum(c[429] + c[503] for c in tally.codes.values())
    failures = {
        "server_errors": len(tally.server_errors),
        "overload_without_retry_after": len(tally.overload_without_retry_after),
        "timeouts": sum(tally.timeouts.values()),
        "transport_errors": sum(tally.transport_errors.values()),
        "decision_problems": len(check["problems"]),  # type: ignore[arg-type]
        "client_exceptions": len(tally.client_exceptions),
    }
    return {
        "endpoints": endpoints,
        "overload_answers_429_503": overload,
        "reviews_decided": tally.reviews_decided,
        "database": {k: v for k, v in check.items() if k != "problems"},
        "failures": failures,
        "examples": {
            "server_errors": tally.server_errors[:5],
            "overload_without_retry_after": tally.overload_without_retry_after[:5],
            "timeouts": dict(tally.timeouts),
            "transport_errors": dict(tally.transport_errors),
            "decision_problems": check["problems"][:10],  # type: ignore[index]
            "client_exceptions": tally.client_exceptions[:5],
        },
        "ok": not any(failures.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="concurrent pensioners")
    parser.add_argument("--staff", type=int, default=4, help="staff (reviewers and admins)")
    parser.add_argument("--duration", type=float, default=120, help="seconds flows may start")
    parser.add_argument(
        "--drain", type=float, default=1800, help="then at most this long for the decisions"
    )
    parser.add_argument("--workers", type=int, default=2, help="`lifecert worker --processes`")
    parser.add_argument("--timeout", type=float, default=60, help="seconds a request may take")
    parser.add_argument(
        "--database-url",
        default="postgresql",
        help="'postgresql' (default): a new database on the tests' server, dropped after; "
        "or a URL of an empty database",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=None,
        choices=range(20),
        metavar="0-19",
        help="the workers' CPU niceness (default: LIFECERT_WORKER_NICE's, 10)",
    )
    parser.add_argument("--seed", type=int, default=None, help="for the random choices")
    args = parser.parse_args()
    if args.users < 1 or args.staff < 0 or args.workers < 1:
        parser.error("--users and --workers must be at least 1, --staff at least 0")
    if not (1 <= args.duration <= 3600 and 0 <= args.drain <= 7200 and 1 <= args.timeout <= 600):
        parser.error("--duration 1-3600 s, --drain 0-7200 s, --timeout 1-600 s")
    random.seed(args.seed)
    workdir = new_workdir("lifecert-load-")
    print(f"Service data and logs in {workdir}, on {HOST} only", file=sys.stderr)
    with scratch_database(args.database_url, workdir) as url:
        # One API process: rate limits counted in its memory (Redis would share them with
        # whatever else uses that Redis); jobs on Redis as in production.
        settings = {"rate_limit_storage": "memory://"}
        if args.worker_nice is not None:
            settings["worker_nice"] = str(args.worker_nice)
        env = service_env(workdir, url, **settings)
        roles = tuple(["reviewer", "admin"][i % 2] for i in range(args.staff))
        print(f"Enrolling {args.users} pensioners...", file=sys.stderr, flush=True)
        population = prepare(env, args.users, staff_roles=roles)
        with running_service(env, workers=args.workers) as service:
            load_before = load_average()
            started = time.monotonic()
            tally = asyncio.run(drive(args, service.base, env, population))
            elapsed = time.monotonic() - started
            load_after = load_average()
        check = database_check(url, tally)
    result = {
        "users": args.users,
        "staff": args.staff,
        "workers": args.workers,
        "duration_s": args.duration,
        "wall_s": round(elapsed, 1),
        "database": "postgresql" if url.startswith("postgresql") else url.split(":", 1)[0],
        **report(tally, check),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "logs": str(workdir),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
