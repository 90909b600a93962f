"""Throughput through the full topology against the single-process benchmark, in one run.

First the single-process figure exactly as scripts/bench_certification.py measures it (one
`lifecert serve` on 127.0.0.1, `lifecert worker --processes N`), then the same measurement
(bench_certification.measure: attempts decided per minute while 50 clients poll the status,
and the status p95) through the topology of tests/topology: Caddy with TLS (deploy/Caddyfile,
its internal CA) in front of two `lifecert serve` processes in network namespaces of their own,
and `lifecert worker --processes N` on a worker host in a third; PostgreSQL and Redis on this
machine. Both runs on PostgreSQL (a new database each), so only the topology differs. Root is
needed (ip netns).

    sudo .venv/bin/python scripts/bench_topology.py [--attempts 24] [--pollers 50]
        [--workers 2] [--poll-interval 0] [--only single|topology]

Prints a JSON object per run, then the topology's figures as a share of the single process's.
Figures on a shared machine are noisy: each run carries the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from bench_certification import measure, run
from harness import load_average, new_workdir, prepare, scratch_database, service_env, token

# The same start limits as bench_certification.run (about 24 starts per attempt to draw the
# clip's challenge).
UNLIMITED_STARTS = {
    "attempt_start_rate": "100000/hour",
    "global_attempt_start_rate": "100000/minute",
    "attempts_failed_limit": "100000",
}
# Each topology process gets these from the topology itself (its own addresses, namespace).
TOPOLOGY_OWNS = ("LIFECERT_DATABASE_URL", "LIFECERT_REDIS_NAMESPACE", "LIFECERT_REDIS_URL")


def run_topology(args: argparse.Namespace) -> dict[str, object]:
    from tests.topology.conftest import build_topology

    workdir = new_workdir("lifecert-bench-topology-")
    with scratch_database("postgresql", workdir) as url:
        env = service_env(workdir, url, **UNLIMITED_STARTS)
        population = prepare(env, 1)
        token_ = token(env, population.pensioners[0], "pensioner")
        passed = {k: v for k, v in env.items() if k not in TOPOLOGY_OWNS}
        with build_topology(
            workdir / "topology",
            database_url=url,
            env=passed,
            worker_processes=args.workers,
        ) as topology:
            # The clients trust Caddy's internal CA only (httpx reads SSL_CERT_FILE).
            os.environ["SSL_CERT_FILE"] = str(topology.root_ca)
            api = topology.hosts[0].process
            assert api is not None
            load_before = load_average()
            result = asyncio.run(measure(topology.edge_url, token_, args, api.pid))
            load_after = load_average()
            os.environ.pop("SSL_CERT_FILE")
    return {
        "run": "topology",
        "path": "client -> Caddy (TLS) -> 2 API hosts -> Redis -> worker host",
        "database": "postgresql",
        "workers": args.workers,
        "pollers": args.pollers,
        **result,
        # api_cpu_ms_per_poll counts API 1 only, which serves about half the polls.
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
        "--only", choices=("single", "topology"), help="one of the two runs, not both"
    )
    args = parser.parse_args()
    if args.attempts < 1 or args.pollers < 1 or args.workers < 1:
        parser.error("--attempts, --pollers and --workers must be at least 1")
    if not 0 <= args.poll_interval <= 60:
        parser.error("--poll-interval must be between 0 and 60 seconds")
    if args.only != "single" and os.geteuid() != 0:
        parser.error("the topology run makes network namespaces: run it as root")
    args.database_url = "postgresql"  # what bench_certification.run reads
    runs: dict[str, dict[str, object]] = {}
    if args.only != "topology":
        runs["single"] = run(args, {}, "single process")
        print(json.dumps(runs["single"], indent=2), flush=True)
    if args.only != "single":
        runs["topology"] = run_topology(args)
        print(json.dumps(runs["topology"], indent=2), flush=True)
    if len(runs) == 2:
        single, topology = runs["single"], runs["topology"]
        print(
            json.dumps(
                {
                    "topology_over_single": {
                        key: round(float(topology[key]) / float(single[key]), 3)  # type: ignore[arg-type]
                        for key in ("decided_per_minute", "status_p50_ms", "status_p95_ms")
                    }
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
