"""Benchmark of the monthly matching run: synthetic register and feeds, import, run, and the
same decisions made the straightforward way (pandas + one ORM object per row) for the ratio.

    .venv/bin/python scripts/bench_matching.py --recipients 1000000 --activity 10000000 \
        --deaths 100000 --db sqlite --db postgresql

Each phase runs in a child process so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AS_OF = date(2026, 11, 29)
PG_ADMIN = os.environ.get("LIFECERT_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def _child(code: str, env: dict[str, str]) -> tuple[dict[str, object], float, float]:
    """Run python code in a child; returns its JSON result, wall seconds and peak RSS in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return (json.loads(lines[-1]) if lines else {}), wall, max(peak, before) / 1024


def _database(kind: str, work: Path) -> str:
    if kind == "sqlite":
        db = work / "bench.db"
        db.unlink(missing_ok=True)
        return f"sqlite:///{db}"
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"lifecert_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_ADMIN).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def _drop(url: str) -> None:
    if url.startswith("postgresql"):
        import psycopg
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        admin = (
            make_url(PG_ADMIN).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


PRELUDE = """
import json, time
from datetime import date
from pathlib import Path
from sqlmodel import Session
from app.config import get_settings
from app.db import make_engine
settings = get_settings()
session = Session(make_engine(settings), expire_on_commit=False)
"""

IMPORT = (
    PRELUDE
    + """
from app.audit.service import SYSTEM
from app.feeds import service
from models.records import FeedType
data = Path({data!r})
counts = {{}}
for path in sorted(data.glob("*.parquet")):
    if path.stem == "register":
        continue
    kind = "death" if path.stem == "deaths" else path.stem.removeprefix("activity_")
    source = {{"death": "public_security"}}.get(kind, "agency")
    r = service.import_file(session=session, settings=settings, actor=SYSTEM,
                            feed_type=FeedType(kind), source_authority=source, path=path,
                            today=date({y}, {m}, {d}))
    session.commit()
    counts[kind] = [r.accepted, r.quarantined]
print(json.dumps(counts))
"""
)

RUN = (
    PRELUDE
    + """
from app.audit.service import SYSTEM
from app.matching import service
from models.matching import RunKind
run = service.run(session=session, settings=settings, actor=SYSTEM, kind=RunKind.monthly,
                  as_of=date({y}, {m}, {d}))
session.commit()
print(json.dumps({{"counts": run.counts, "timings": run.timings}}))
"""
)

# The straightforward way: pandas for the decisions, one ORM object per outcome.
NAIVE = (
    PRELUDE
    + """
import pandas as pd, uuid
from datetime import datetime, timezone, timedelta
from sqlmodel import select
from app.certifications.service import add_months
from models.certification import Certification, CertificationMethod
from models.pensioner import Pensioner
from app.feeds.schemas import FEED_SPECS
from models.records import FeedType
t0 = time.perf_counter()
reg = pd.read_sql("SELECT id, national_id, certified_until FROM pensioner",
                  session.connection())
reg["certified_until"] = pd.to_datetime(reg["certified_until"])
data = Path({data!r})
strong, weak = {{"hospital_visit", "air_travel", "rail_travel"}}, {{"insurance_claim", "card_use",
                                                                     "benefit_payment"}}
window = {{"hospital_visit": 90, "air_travel": 90, "rail_travel": 90, "insurance_claim": 90,
          "card_use": 60, "benefit_payment": 60}}
as_of = pd.Timestamp(date({y}, {m}, {d}))
frames = []
for kind in strong | weak:
    col = FEED_SPECS[FeedType(kind)].date_column
    f = pd.read_parquet(data / f"activity_{{kind}}.parquet", columns=["national_id", col])
    f = f.rename(columns={{col: "event_date"}})
    f["national_id"] = f["national_id"].str.replace(r"[\\s\\-.]", "", regex=True).str.upper()
    f["event_date"] = pd.to_datetime(f["event_date"])
    f = f[(f["event_date"] > as_of - pd.Timedelta(days=window[kind])) & (f["event_date"] <= as_of)]
    f["strong"] = kind in strong
    frames.append(f)
act = pd.concat(frames)
deaths = pd.read_parquet(data / "deaths.parquet", columns=["national_id", "source_authority"])
dead = set(deaths.loc[deaths["source_authority"] == "public_security", "national_id"])
m = act.merge(reg, on="national_id")
g = m.groupby("id").agg(strong=("strong", "sum"),
                        weak_days=("event_date", lambda s: s[~m.loc[s.index, "strong"]].nunique()))
due = reg.set_index("id")
ok = g[(g["strong"] >= 1) | (g["weak_days"] >= 2)].join(due)
ok = ok[~ok["national_id"].isin(dead)]
ok = ok[ok["certified_until"].isna() | (ok["certified_until"] <= as_of + pd.Timedelta(days=60))]
decide_s = time.perf_counter() - t0
sample = ok.head({sample})
t1 = time.perf_counter()
valid = add_months(date({y}, {m}, {d}), 12)
for i, (pid, row) in enumerate(sample.iterrows()):
    p = session.get(Pensioner, uuid.UUID(str(pid).replace("-", "")))
    session.add(Certification(pensioner_id=p.id, method=CertificationMethod.data_comparison,
                              certified_at=datetime.now(timezone.utc), valid_until=valid,
                              evidence={{"strong": int(row["strong"])}},
                              decided_by_type="system", decided_by_id="naive"))
    p.certified_until = valid
    session.add(p)
    if i % 1000 == 999:
        session.flush()
session.flush()
write_s = time.perf_counter() - t1
session.rollback()
print(json.dumps({{"decide_s": decide_s, "certify": len(ok), "sampled": len(sample),
                  "write_sample_s": write_s}}))
"""
)


def bench(kind: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    url = _database(kind, work)
    env = {
        **os.environ,
        "LIFECERT_DATABASE_URL": url,
        "LIFECERT_DATA_DIR": str(work / kind),
        "LIFECERT_DUCKDB_MEMORY_LIMIT": args.memory,
    }
    shutil.rmtree(work / kind, ignore_errors=True)
    data = work / "data"
    y, m, d = AS_OF.year, AS_OF.month, AS_OF.day
    result: dict[str, object] = {"db": kind}
    try:
        _child(f"from app.migrate import upgrade; upgrade({url!r})", env)
        t = time.perf_counter()
        cmd = [
            str(ROOT / ".venv/bin/lifecert"),
            "gen-synthetic",
            str(data),
            f"--recipients={args.recipients}",
            f"--activity={args.activity}",
            f"--deaths={args.deaths}",
            f"--as-of={AS_OF}",
        ]
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        result["generate_and_load_register_s"] = round(time.perf_counter() - t, 1)
        imported, wall, rss = _child(IMPORT.format(data=str(data), y=y, m=m, d=d), env)
        result["import"] = {"wall_s": round(wall, 1), "peak_rss_mb": round(rss), **imported}
        naive: dict[str, object] | None = None
        if args.recipients <= args.naive_max:  # before the run, on the same starting state
            naive, wall, naive_rss = _child(
                NAIVE.format(data=str(data), y=y, m=m, d=d, sample=args.naive_sample), env
            )
        run, wall, rss = _child(RUN.format(y=y, m=m, d=d), env)
        result["run"] = {"wall_s": round(wall, 1), "peak_rss_mb": round(rss), **run}
        if naive is not None:
            per_row = naive["write_sample_s"] / max(naive["sampled"], 1)  # type: ignore[operator]
            estimate = naive["decide_s"] + per_row * naive["certify"]  # type: ignore[operator]
            timings = run["timings"]  # type: ignore[index]
            ours = timings["decide_s"] + timings["write_s"] + timings["load_s"]  # type: ignore[index]
            result["naive"] = {
                **naive,
                "peak_rss_mb": round(naive_rss),
                "estimated_total_s": round(estimate, 1),
                "ratio_vs_duckdb_run": round(estimate / ours, 1),
            }
    finally:
        _drop(url)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--activity", type=int, default=10_000_000)
    parser.add_argument("--deaths", type=int, default=100_000)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--memory", default="4GB", help="DuckDB memory limit")
    parser.add_argument(
        "--naive-max",
        type=int,
        default=1_000_000,
        help="Run the naive comparison up to this many recipients",
    )
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=20_000,
        help="ORM writes timed on this many rows, extrapolated to all",
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-matching")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for kind in args.db or ["sqlite"]:
        print(json.dumps(bench(kind, args, args.workdir), indent=2), flush=True)


if __name__ == "__main__":
    main()
