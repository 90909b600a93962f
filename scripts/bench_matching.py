"""Benchmark of the monthly matching run: synthetic register and feeds, import, run, and the
same decisions made the straightforward way (pandas + one ORM object per row) for the ratio.

    .venv/bin/python scripts/bench_matching.py --recipients 10000000 --activity 100000000 \
        --deaths 1000000 --ratio-recipients 1000000 --db sqlite --db postgresql \
        --workdir /work/bench-data/bench

The timed path of a monthly run is import (reading the feed files: validation, quarantine,
records files) plus the run (register, decisions, outcomes written and committed). Making
the data and loading the register are not timed; both are kept in the work folder (data
files, a SQLite template file, a PostgreSQL template database) and reused by the next
invocation with the same sizes, since at ten million they take minutes (--fresh to redo,
--clean to delete all at the end). Each timed phase runs in a child process that reports
its own peak memory (max RSS; the PostgreSQL server's memory is not in it). The machine's
load average before and after is printed: other work on the machine slows the figures.

To compare versions of the code, time the run alone with checkouts taking turns:

    .venv/bin/python scripts/bench_matching.py --db sqlite --db postgresql \
        --compare ../before . --rounds 3 --workdir /tmp/bench-matching
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AS_OF = date(2026, 11, 29)
PG_ADMIN = os.environ.get("LIFECERT_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def _child(
    code: str, env: dict[str, str], cwd: Path = ROOT
) -> tuple[dict[str, object], float, float, float]:
    """Run python code in a child (importing the code of the checkout `cwd`); returns its
    JSON result, wall seconds, CPU seconds (user + system, all its threads) and its peak RSS
    in MB (the child reports its own)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code + EPILOGUE], env=env, cwd=cwd, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-2]) if len(lines) > 1 else {}
    peak = json.loads(lines[-1])["peak_rss_kb"] / 1024 if lines else 0.0
    return result, wall, cpu, peak


EPILOGUE = """
import json as _json, resource as _resource
print(_json.dumps({"peak_rss_kb": _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss}))
"""


def _admin() -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_ADMIN).set(drivername="postgresql").render_as_string(hide_password=False)


def _server() -> str:
    from sqlalchemy.engine import make_url

    url = make_url(PG_ADMIN)
    return f"{url.host}-{url.port or 5432}"


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(_admin(), autocommit=True) as conn:
        conn.execute(sql)


def _url(kind: str, work: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{work / (name + '.db')}"
    from sqlalchemy.engine import make_url

    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def _template(kind: str, work: Path, tag: str, data: Path, fresh: bool) -> tuple[str, float | None]:
    """A database with the schema and the register loaded (not timed): made once, kept."""
    name = f"lifecert_bench_tmpl_{tag}"
    server = "" if kind == "sqlite" else "." + _server()
    done = work / f"{name}.{kind}{server}.done"
    if done.exists() and not fresh:
        return name, None
    url = _url(kind, work, name)
    if kind == "sqlite":
        for f in work.glob(f"{name}.db*"):
            f.unlink()
    else:
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "LIFECERT_DATABASE_URL": url, "LIFECERT_DATA_DIR": str(work / "tmpl-var")}
    start = time.perf_counter()
    _child(f"from app.migrate import upgrade; upgrade({url!r})", env)
    _child(LOAD_REGISTER.format(data=str(data)), env)
    if kind == "postgresql":  # as a live register would be: vacuumed, with statistics
        import psycopg
        from sqlalchemy.engine import make_url

        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    done.touch()
    return name, round(time.perf_counter() - start, 1)


def _copy(kind: str, work: Path, template: str) -> str:
    name = f"lifecert_bench_{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        shutil.copyfile(work / f"{template}.db", work / f"{name}.db")
    else:
        _pg(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    os.sync()  # the copy's gigabytes on disk before the clock starts, not during the run
    return _url(kind, work, name)


def _drop(kind: str, work: Path, url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database or ""
    if kind == "sqlite":
        for f in work.glob(f"{Path(name).stem}.db*"):
            f.unlink()
    else:
        _pg(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


LOAD_REGISTER = """
from pathlib import Path
from sqlmodel import Session
from app.config import get_settings
from app.db import make_engine
from app.matching import synthetic
settings = get_settings()
with Session(make_engine(settings)) as session:
    synthetic.load_register(session=session, settings=settings, folder=Path({data!r}))
    session.commit()
"""


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
    started = time.perf_counter()
    r = service.import_file(session=session, settings=settings, actor=SYSTEM,
                            feed_type=FeedType(kind), source_authority=source, path=path,
                            today=date({y}, {m}, {d}))
    session.commit()
    counts[kind] = {{"accepted": r.accepted, "quarantined": r.quarantined,
                    "seconds": round(time.perf_counter() - started, 1)}}
print(json.dumps(counts))
"""
)

RUN = (
    PRELUDE
    + """
import os
import sqlalchemy as sa
from app.audit.service import SYSTEM
from app.matching import service
from models.matching import RunKind
backend = None  # PostgreSQL: the server process of the run's connection, for its CPU time
if session.get_bind().dialect.name == "postgresql":
    backend = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
def backend_cpu():
    fields = Path(f"/proc/{{backend}}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
db_cpu = backend_cpu() if backend and Path(f"/proc/{{backend}}/stat").exists() else None
run = service.run(session=session, settings=settings, actor=SYSTEM, kind=RunKind.monthly,
                  as_of=date({y}, {m}, {d}))
started = time.perf_counter()
session.commit()  # on SQLite this includes the WAL checkpoint SQLite does on commit
run.timings["commit_s"] = round(time.perf_counter() - started, 3)
if db_cpu is not None:  # the server on this machine: its CPU for the run (user + system)
    run.timings["db_cpu_s"] = round(backend_cpu() - db_cpu, 1)
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


def _data(
    args: argparse.Namespace, recipients: int, activity: int, deaths: int
) -> tuple[Path, float | None]:
    """The synthetic files (not timed): made once per size, kept for the next invocation."""
    data = args.workdir / f"data-{recipients}-{activity}-{deaths}"
    done = data / ".done"
    if done.exists() and not args.fresh:
        return data, None
    shutil.rmtree(data, ignore_errors=True)
    start = time.perf_counter()
    cmd = [
        str(ROOT / ".venv/bin/lifecert"),
        "gen-synthetic",
        str(data),
        f"--recipients={recipients}",
        f"--activity={activity}",
        f"--deaths={deaths}",
        f"--as-of={AS_OF}",
        "--no-load-register",
    ]
    env = {**os.environ, "LIFECERT_DATA_DIR": str(args.workdir / "gen-var")}
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    done.touch()
    return data, round(time.perf_counter() - start, 1)


def _phase(result: dict[str, object], name: str, wall: float, cpu: float, rss: float) -> None:
    result[name] = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mb": round(rss)}


def bench(
    kind: str, args: argparse.Namespace, size: tuple[int, int, int], naive: bool
) -> dict[str, object]:
    """One monthly run (import + run) on a fresh copy of the template; the naive way too."""
    work = args.workdir
    data, generated = _data(args, *size)
    tag = "_".join(str(n) for n in size)
    template, loaded = _template(kind, work, tag, data, args.fresh)
    y, m, d = AS_OF.year, AS_OF.month, AS_OF.day
    result: dict[str, object] = {
        "db": kind,
        "recipients": size[0],
        "activity": size[1],
        "deaths": size[2],
        "generate_s": generated if generated is not None else "reused",
        "register_load_s": loaded if loaded is not None else "reused",
        "load_average_before": [round(x, 1) for x in os.getloadavg()],
    }
    url = _copy(kind, work, template)
    env = {
        **os.environ,
        "LIFECERT_DATABASE_URL": url,
        "LIFECERT_DATA_DIR": str(work / f"var-{kind}"),
        "LIFECERT_DUCKDB_MEMORY_LIMIT": args.memory,
    }
    shutil.rmtree(work / f"var-{kind}", ignore_errors=True)
    try:
        # A template made before a newer migration: bring the copy up to date (not timed).
        _child(f"from app.migrate import upgrade; upgrade({url!r})", env)
        naive_result: dict[str, object] | None = None
        if naive:  # on the same starting state, before the run; its writes are rolled back
            naive_result, wall, cpu, naive_rss = _child(
                NAIVE.format(data=str(data), y=y, m=m, d=d, sample=args.naive_sample), env
            )
            naive_result["peak_rss_mb"] = round(naive_rss)
        imported, wall, cpu, rss = _child(IMPORT.format(data=str(data), y=y, m=m, d=d), env)
        _phase(result, "import", wall, cpu, rss)
        result["imported"] = imported
        import_wall = wall
        run, wall, cpu, rss = _child(RUN.format(y=y, m=m, d=d), env)
        _phase(result, "run", wall, cpu, rss)
        result["monthly_run_s"] = round(import_wall + wall, 1)
        result["peak_rss_mb"] = max(result["import"]["peak_rss_mb"], round(rss))  # type: ignore[index]
        result["timings"] = run["timings"]
        result["counts"] = run["counts"]
        if naive_result is not None:
            per_row = naive_result["write_sample_s"] / max(naive_result["sampled"], 1)  # type: ignore[operator]
            estimate = naive_result["decide_s"] + per_row * naive_result["certify"]  # type: ignore[operator]
            timings = run["timings"]  # type: ignore[index]
            ours = timings["decide_s"] + timings["write_s"] + timings["load_s"]  # type: ignore[index]
            result["naive"] = {
                **naive_result,
                "estimated_total_s": round(estimate, 1),
                "ratio_vs_run": round(estimate / ours, 1),
                "ratio_vs_import_and_run": round(estimate / result["monthly_run_s"], 1),  # type: ignore[operator]
            }
    finally:
        _drop(kind, work, url)
        shutil.rmtree(work / f"var-{kind}", ignore_errors=True)
    result["load_average_after"] = [round(x, 1) for x in os.getloadavg()]
    return result


def compare(kind: str, args: argparse.Namespace, size: tuple[int, int, int]) -> None:
    """The run alone, for two or more checkouts of the code (--compare): the feeds imported
    once (with the first), then runs on fresh copies of that database, the checkouts taking
    turns in alternating order, so a machine busy with other work slows each about as much.
    Prints a line per run and the medians per checkout."""
    work, trees = args.workdir, [Path(t).resolve() for t in args.compare]
    data, _ = _data(args, *size)
    template, _ = _template(kind, work, "_".join(str(n) for n in size), data, args.fresh)
    imported = f"{template}_imported"
    var = work / f"var-compare-{kind}"
    env = {**os.environ, "LIFECERT_DATA_DIR": str(var), "LIFECERT_DUCKDB_MEMORY_LIMIT": args.memory}
    shutil.rmtree(var, ignore_errors=True)
    url = _copy(kind, work, template)
    _child(
        f"from app.migrate import upgrade; upgrade({url!r})",
        {**env, "LIFECERT_DATABASE_URL": url},
        trees[0],
    )
    y, m, d = AS_OF.year, AS_OF.month, AS_OF.day
    _child(
        IMPORT.format(data=str(data), y=y, m=m, d=d),
        {**env, "LIFECERT_DATABASE_URL": url},
        trees[0],
    )
    _rename(kind, work, url, imported)
    runs: dict[Path, list[dict[str, float]]] = {t: [] for t in trees}
    try:
        for r in range(args.rounds):
            for tree in trees if r % 2 == 0 else trees[::-1]:
                copy = _copy(kind, work, imported)
                load = os.getloadavg()[0]
                try:
                    res, wall, cpu, rss = _child(
                        RUN.format(y=y, m=m, d=d), {**env, "LIFECERT_DATABASE_URL": copy}, tree
                    )
                finally:
                    _drop(kind, work, copy)
                t = cast(dict[str, float], res["timings"])
                one = {
                    "wall_s": round(wall, 1),
                    "cpu_s": round(cpu, 1),
                    # CPU of our process and, on PostgreSQL, of the server process serving
                    # it: less sensitive than wall time to other work on the machine.
                    "work_cpu_s": round(cpu + t.get("db_cpu_s", 0.0), 1),
                    "run_s": round(t["total_s"] + t["commit_s"], 1),
                    "peak_rss_mb": round(rss),
                    "load_average": round(load, 1),
                }
                runs[tree].append(one)
                print(
                    json.dumps({"db": kind, "round": r, "code": str(tree), **one, "timings": t}),
                    flush=True,
                )
    finally:
        _drop(kind, work, _url(kind, work, imported))
        shutil.rmtree(var, ignore_errors=True)
    for tree, found in runs.items():
        keys = ("wall_s", "cpu_s", "work_cpu_s", "run_s", "peak_rss_mb")
        medians = {k: statistics.median(x[k] for x in found) for k in keys}
        print(
            json.dumps({"db": kind, "code": str(tree), "runs": len(found), "median": medians}),
            flush=True,
        )


def _rename(kind: str, work: Path, url: str, name: str) -> None:
    from sqlalchemy.engine import make_url

    if kind == "sqlite":
        Path(make_url(url).database or "").rename(work / f"{name}.db")
    else:
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg(f'ALTER DATABASE "{make_url(url).database}" RENAME TO "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--activity", type=int, default=10_000_000)
    parser.add_argument("--deaths", type=int, default=100_000)
    parser.add_argument(
        "--ratio-recipients",
        type=int,
        default=1_000_000,
        help="Also run this size (activity and deaths in proportion) with the naive way, "
        "for the ratio; 0: none",
    )
    parser.add_argument("--db", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--memory", default="4GB", help="DuckDB memory limit")
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=20_000,
        help="ORM writes timed on this many rows, extrapolated to all",
    )
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-matching")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="CHECKOUT",
        help="Time only the run, alternating these checkouts of the code (see compare())",
    )
    parser.add_argument("--rounds", type=int, default=3, help="With --compare: runs of each")
    parser.add_argument("--fresh", action="store_true", help="Remake data and templates")
    parser.add_argument("--clean", action="store_true", help="Delete data and templates at the end")
    args = parser.parse_args()
    if args.ratio_recipients and importlib.util.find_spec("pandas") is None:
        parser.error(
            "the naive comparison needs pandas: pip install -e '.[bench]' "
            "(or --ratio-recipients 0 to skip it)"
        )
    args.workdir.mkdir(parents=True, exist_ok=True)
    main_size = (args.recipients, args.activity, args.deaths)
    sizes = [(main_size, args.ratio_recipients == args.recipients)]
    if args.ratio_recipients and args.ratio_recipients != args.recipients:
        scale = args.ratio_recipients / args.recipients
        ratio_size = (
            args.ratio_recipients,
            int(args.activity * scale),
            int(args.deaths * scale),
        )
        sizes.append((ratio_size, True))
    if args.compare:
        for kind in args.db or ["sqlite"]:
            compare(kind, args, main_size)
        return
    try:
        for kind in args.db or ["sqlite"]:
            for size, naive in sizes:
                print(json.dumps(bench(kind, args, size, naive), indent=2), flush=True)
    finally:
        if args.clean:
            for kind in args.db or ["sqlite"]:
                for size, _ in sizes:
                    name = "lifecert_bench_tmpl_" + "_".join(str(n) for n in size)
                    if kind == "postgresql":
                        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
