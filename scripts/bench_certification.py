"""Throughput of remote certification on the Redis queue, and status latency under polling.

Starts the real service (`lifecert serve`, Redis job backend) and `lifecert worker
--processes 2` (scripts/harness.py), enrols a pensioner, submits attempts with a 12 MP selfie
and a ~12 s 720p liveness clip, and meanwhile polls the status endpoint from 50 concurrent
clients, each sending its next request as soon as the last is answered (a worst case: the
pages poll every 1.5 s, which `--poll-interval 1.5` reproduces).

    .venv/bin/python scripts/bench_certification.py [--attempts 24] [--pollers 50]
    .venv/bin/python scripts/bench_certification.py --compare   # naive, then as configured

`--naive` runs the workers the old way (LIFECERT_WORKER_NICE=0: face work at the API's CPU
priority); `--compare` runs the naive way and then the default in one go. Prints JSON per
run: attempts decided per minute (by outcome), the status endpoint's p50/p95 and the load
average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx
import numpy as np
from harness import (
    CLIP,
    CLIP_ACTIONS,
    cpu_seconds,
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

NAIVE = {"worker_nice": "0"}


async def measure(
    base: str, token_: str, args: argparse.Namespace, api_pid: int
) -> dict[str, object]:
    selfie = frame(60, size=(3000, 4000))  # 12 MP, portrait like a phone
    clip = CLIP.read_bytes()
    url = f"{base}/api/v1/certifications/attempts"
    headers = {"Authorization": f"Bearer {token_}"}
    latencies: list[float] = []
    errors: list[str] = []
    async with httpx.AsyncClient(timeout=60) as client:
        attempt_ids: list[str] = []
        started = time.perf_counter()
        for _ in range(args.attempts):
            # Take the challenges the clip answers (the others would only be abandoned, as a
            # person could).
            while True:
                started_attempt = await client.post(url, headers=headers)
                if started_attempt.status_code != 201:
                    raise RuntimeError(f"start refused: {started_attempt.text[:300]}")
                attempt = started_attempt.json()
                if attempt["challenge"]["actions"] == CLIP_ACTIONS:
                    break
            upload = await client.post(
                f"{url}/{attempt['id']}/upload",
                headers=headers,
                files={
                    "selfie": ("s.jpg", selfie, "image/jpeg"),
                    "video": ("v.mp4", unique_clip(clip), "video/mp4"),
                },
                data={"nonce": attempt["challenge"]["nonce"]},
            )
            assert upload.status_code == 202, upload.text
            attempt_ids.append(attempt["id"])
        submitted = time.perf_counter() - started
        done: dict[str, str] = {}
        stop = asyncio.Event()

        async def poller(k: int) -> None:
            while not stop.is_set():
                attempt_id = attempt_ids[k % len(attempt_ids)]
                t0 = time.perf_counter()
                r = await client.get(f"{url}/{attempt_id}", headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
                status = r.json()["status"]
                if status != "processing":
                    done[attempt_id] = status
                k += args.pollers
                if args.poll_interval:
                    await asyncio.sleep(args.poll_interval)

        api_cpu = cpu_seconds(api_pid)
        tasks = [asyncio.create_task(poller(k)) for k in range(args.pollers)]
        while len(done) < len(attempt_ids) and time.perf_counter() - started < 1800:
            await asyncio.sleep(0.5)
        elapsed = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*tasks)
        api_cpu = cpu_seconds(api_pid) - api_cpu
    outcomes: dict[str, int] = {}
    for status in done.values():
        outcomes[status] = outcomes.get(status, 0) + 1
    return {
        "attempts": len(attempt_ids),
        "decided": len(done),
        "outcomes": outcomes,
        "upload_seconds": round(submitted, 1),
        "wall_seconds": round(elapsed, 1),
        "decided_per_minute": round(len(done) / elapsed * 60, 2),
        "status_polls": len(latencies),
        "status_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "status_p95_ms": round(float(np.percentile(latencies, 95)), 1),
        # CPU the API process spent per status request (the pollers are nearly all it serves
        # then): what a request costs, whatever share of the cores the API got.
        "api_cpu_ms_per_poll": round(api_cpu / max(1, len(latencies)) * 1000, 2),
        "status_errors": len(errors),
        "first_errors": errors[:3],
    }


def run(args: argparse.Namespace, overrides: dict[str, str], label: str) -> dict[str, object]:
    workdir = new_workdir("lifecert-bench-")
    with scratch_database(args.database_url, workdir) as url:
        env = service_env(
            workdir,
            url,
            # About 24 starts per attempt to draw the clip's challenge: no start limits.
            attempt_start_rate="100000/hour",
            global_attempt_start_rate="100000/minute",
            attempts_failed_limit="100000",
            **overrides,
        )
        population = prepare(env, 1)
        token_ = token(env, population.pensioners[0], "pensioner")
        with running_service(env, workers=args.workers) as service:
            load_before = load_average()
            result = asyncio.run(measure(service.base, token_, args, service.processes[0].pid))
            load_after = load_average()
    return {
        "run": label,
        "settings": overrides or "defaults",
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "workers": args.workers,
        "pollers": args.pollers,
        "poll_interval_s": args.poll_interval,
        "selfie": "3000x4000 JPEG (12 MP)",
        "clip": f"{CLIP.name} (720x1280, 11.7 s)",
        **result,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "logs": str(workdir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--attempts", type=int, default=24)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=0.0,
        help="seconds each poller waits between requests (0: none, the worst case)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a database URL; 'postgresql' for a new database on the tests' server; "
        "default: a new SQLite file",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--naive", action="store_true", help="face work at the API's priority")
    mode.add_argument("--compare", action="store_true", help="the naive run, then the default")
    args = parser.parse_args()
    if args.attempts < 1 or args.pollers < 1 or args.workers < 1:
        parser.error("--attempts, --pollers and --workers must be at least 1")
    if not 0 <= args.poll_interval <= 60:
        parser.error("--poll-interval must be between 0 and 60 seconds")
    runs = [(NAIVE, "naive")] if args.naive or args.compare else []
    if not args.naive:
        runs.append(({}, "default"))
    for overrides, label in runs:
        print(json.dumps(run(args, overrides, label), indent=2), flush=True)


if __name__ == "__main__":
    main()
