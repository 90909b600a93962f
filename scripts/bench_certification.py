"""Throughput of remote certification on the Redis queue, and status latency under polling.

Starts the real service (`lifecert serve`, Redis job backend) and `lifecert worker
--processes 2`, enrols pensioners, submits attempts with a 12 MP selfie and a ~12 s 720p
liveness clip, and meanwhile polls the status endpoint from 50 concurrent clients.

    .venv/bin/python scripts/bench_certification.py [--attempts 24] [--pollers 50]

Prints JSON: attempts decided per minute (by outcome) and the status endpoint's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import av
import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
CLIP = FIXTURES / "videos" / "live" / "liveportrait_driving_d13.mp4"
COHORT = sorted((FIXTURES / "faces").glob("dlibjohns_*/*.jpg"))[:24] + sorted(
    (FIXTURES / "faces").glob("fr_*/*.jpg")
)


def frame(index: int, size: tuple[int, int] | None = None) -> bytes:
    with av.open(str(CLIP)) as container:
        for i, f in enumerate(container.decode(video=0)):
            if i == index:
                image = f.to_image()
                if size:
                    image = image.resize(size, Image.Resampling.LANCZOS)
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=92)
                return buffer.getvalue()
    raise ValueError(index)


def unique_clip(data: bytes) -> bytes:
    """The same clip with a trailing MP4 `free` box: new bytes, same pictures."""
    payload = secrets.token_bytes(16)
    return data + struct.pack(">I", 8 + len(payload)) + b"free" + payload


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(env: dict[str, str], pensioners: int) -> list[str]:
    """Migrate, then enrol a cohort and the pensioner(s) who will certify; their ids."""
    os.environ.update(env)
    from sqlmodel import Session

    from app.audit.service import SYSTEM
    from app.config import get_settings
    from app.db import make_engine
    from app.faces import service as faces
    from app.migrate import upgrade
    from biometrics import DlibFaceEngine
    from models.region import Region
    from tests.conftest import Factory

    settings = get_settings()
    settings.ensure_dirs()
    upgrade(settings.resolved_database_url)
    engine = DlibFaceEngine()
    ids = []
    with Session(make_engine(settings), expire_on_commit=False) as session:
        session.add(Region(code="110105", name="bench"))
        session.add(Region(code="110108", name="bench cohort"))
        session.commit()
        factory = Factory(session, settings)
        for photo in COHORT:
            other = factory.pensioner("110108")
            analysis = faces.analyze(
                photo.read_bytes(), engine=engine, settings=settings, gate="selfie"
            )
            if analysis.embedding is not None:
                faces._add_face(
                    session=session,
                    settings=settings,
                    pensioner=other,
                    analysis=analysis,
                    data=photo.read_bytes(),
                    source=faces.FaceSource.enrolment,
                    actor=SYSTEM,
                )
        enrolment = frame(240)
        for _ in range(pensioners):
            person = factory.pensioner("110105")
            faces.enrol(
                session=session,
                settings=settings,
                engine=engine,
                pensioner=person,
                data=enrolment,
                actor=SYSTEM,
            )
            ids.append(str(person.id))
        session.commit()
    return ids


async def run(args: argparse.Namespace) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="lifecert-bench-"))
    port = free_port()
    env = {
        "LIFECERT_ENV": "test",
        "LIFECERT_DATA_DIR": str(workdir),
        "LIFECERT_DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'bench.db'}",
        "LIFECERT_SECRET_KEY": secrets.token_urlsafe(40),
        "LIFECERT_JOB_BACKEND": "redis",
        "LIFECERT_REDIS_NAMESPACE": f"lifecert-bench-{uuid.uuid4().hex[:8]}",
        "LIFECERT_ATTEMPT_START_RATE": "1000/hour",
        "LIFECERT_ATTEMPTS_FAILED_LIMIT": "100000",
        "OMP_NUM_THREADS": "1",
    }
    ids = prepare(env, 1)
    from datetime import timedelta

    from app.security import create_access_token

    tokens = [
        create_access_token(
            subject=i, kind="pensioner", key=env["LIFECERT_SECRET_KEY"], lifetime=timedelta(hours=2)
        )
        for i in ids
    ]
    child_env = {**os.environ, **env}
    lifecert = str(Path(sys.executable).with_name("lifecert"))
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(
        [lifecert, "serve", "--port", str(port)],
        env=child_env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    workers = subprocess.Popen(
        [lifecert, "worker", "--processes", str(args.workers)],
        env=child_env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    selfie = frame(60, size=(3000, 4000))  # 12 MP, portrait like a phone
    clip = CLIP.read_bytes()
    base = f"http://127.0.0.1:{port}/api/v1/certifications/attempts"
    latencies: list[float] = []
    errors: list[str] = []
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            for _ in range(100):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            # Warm the workers up (model loading) before the clock starts.
            attempt_ids: list[tuple[str, str]] = []
            started = time.perf_counter()
            token = tokens[0]
            headers = {"Authorization": f"Bearer {token}"}
            for _ in range(args.attempts):
                # The clip blinks, then opens the mouth: take the challenges that ask for that
                # (the others would only be abandoned, as a person could).
                while True:
                    attempt = (await client.post(base, headers=headers)).json()
                    if attempt["challenge"]["actions"] == ["blink", "open_mouth"]:
                        break
                upload = await client.post(
                    f"{base}/{attempt['id']}/upload",
                    headers=headers,
                    files={
                        "selfie": ("s.jpg", selfie, "image/jpeg"),
                        "video": ("v.mp4", unique_clip(clip), "video/mp4"),
                    },
                    data={"nonce": attempt["challenge"]["nonce"]},
                )
                assert upload.status_code == 202, upload.text
                attempt_ids.append((attempt["id"], token))
            submitted = time.perf_counter() - started
            done: dict[str, str] = {}
            stop = asyncio.Event()

            async def poller(k: int) -> None:
                while not stop.is_set():
                    attempt_id, token = attempt_ids[k % len(attempt_ids)]
                    t0 = time.perf_counter()
                    r = await client.get(
                        f"{base}/{attempt_id}", headers={"Authorization": f"Bearer {token}"}
                    )
                    latencies.append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {r.text[:200]}")
                        continue
                    status = r.json()["status"]
                    if status != "processing":
                        done[attempt_id] = status
                    k += args.pollers

            tasks = [asyncio.create_task(poller(k)) for k in range(args.pollers)]
            while len(done) < len(attempt_ids) and time.perf_counter() - started < 1800:
                await asyncio.sleep(0.5)
            elapsed = time.perf_counter() - started
            stop.set()
            await asyncio.gather(*tasks)
    finally:
        for proc in (server, workers):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
    outcomes: dict[str, int] = {}
    for status in done.values():
        outcomes[status] = outcomes.get(status, 0) + 1
    return {
        "attempts": len(attempt_ids),
        "decided": len(done),
        "outcomes": outcomes,
        "workers": args.workers,
        "selfie": "3000x4000 JPEG (12 MP)",
        "clip": f"{CLIP.name} (720x1280, 11.7 s)",
        "upload_seconds": round(submitted, 1),
        "wall_seconds": round(elapsed, 1),
        "decided_per_minute": round(len(done) / elapsed * 60, 2),
        "status_polls": len(latencies),
        "status_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "status_p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "pollers": args.pollers,
        "status_errors": len(errors),
        "first_errors": errors[:3],
        "server_log": str(workdir / "server.log"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=24)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
