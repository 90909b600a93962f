"""Fuzz the API with schemathesis: every operation of the OpenAPI document, with generated valid
and invalid requests, as a national admin, a regional staff member and a pensioner. Checks that
no request gets a 5xx (schemathesis's not_a_server_error) and that every response matches the
schema the document declares for it (response_schema_conformance).

    .venv/bin/python scripts/fuzz_api.py [--max-seconds 300] [--examples 200]
        [--serve] [--operations REGEX] [--seed N] [--json]

By default the app is built in process (tests/api_contract.py: a new SQLite database with the
demo data, jobs recorded and never run); `--serve` runs the same database behind a real
`lifecert serve` on 127.0.0.1 instead. The run is bounded by `--max-seconds` (shared evenly
among the operations still to run) and by `--examples` per operation. Path parameters are
drawn half the time from rows that exist (pensioners, staff, regions), so requests reach past
the 404s. The per-client, per-ID and global rate limits are lifted: a fuzzer that only ever
sees 429 finds nothing.

Prints one line per failure kind (operation, check, status, a curl command to reproduce it)
and a summary: operations, cases, failures, 5xx; exit code 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import schemathesis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.api_contract import ContractService, build_service  # noqa: E402
from tests.conftest import TEST_SECRET  # noqa: E402
from tests.fuzzing import (  # noqa: E402
    GENEROUS,
    RATE_SETTINGS,
    Findings,
    fuzz_operation,
    lift_rate_limits,
    pensioner_operations,
    prepare,
)


def _serve(service: ContractService, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LIFECERT_ENV": "test",
        "LIFECERT_DATA_DIR": str(service.settings.data_dir),
        "LIFECERT_DATABASE_URL": str(service.settings.database_url),
        "LIFECERT_SECRET_KEY": TEST_SECRET,
        **{f"LIFECERT_{name.upper()}": GENEROUS for name in RATE_SETTINGS},
    }
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/lifecert"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(service.settings.data_dir / "serve.log", "wb"),  # noqa: SIM115
    )
    # Generous: on a loaded machine importing the face engine alone takes a while.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("lifecert serve did not answer /healthz within 300 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--examples", type=int, default=200, help="at most, per operation")
    parser.add_argument("--serve", action="store_true", help="fuzz a lifecert serve on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--operations", default="", help="regex on 'METHOD /path'")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    # Generated multipart bodies with bytes outside latin-1 in their part headers are refused
    # (422), and the parser warns about each one.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="lifecert-fuzz-"))
    service = build_service(workdir)
    lift_rate_limits(service.settings)
    tokens, known = prepare(service)
    process = None
    base_url = None
    if args.serve:
        process = _serve(service, args.port)
        base_url = f"http://127.0.0.1:{args.port}"
        try:
            schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=120)
        except BaseException:
            process.terminate()
            process.wait(timeout=30)
            raise
    else:
        schema = schemathesis.openapi.from_asgi("/openapi.json", service.served)
    pattern = re.compile(args.operations)
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if pattern.search(f"{operation.method.upper()} {operation.path}"):
            operations.append(operation)
    pensioner_ops = pensioner_operations(service)

    findings = Findings()
    fuzz_start = time.monotonic()
    deadline = fuzz_start + args.max_seconds
    tested = 0
    try:
        for index, operation in enumerate(operations):
            now = time.monotonic()
            if now >= deadline:
                break
            share = (deadline - now) / (len(operations) - index)
            callers = tokens.for_operation(operation.definition.raw["operationId"] in pensioner_ops)
            ran = fuzz_operation(
                operation,
                callers=callers,
                known=known,
                examples=args.examples,
                until=now + share,
                findings=findings,
                base_url=base_url,
                random_seed=args.seed,
            )
            tested += ran > 0
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    elapsed = time.monotonic() - fuzz_start

    for (label, title, status), (count, curl, message) in sorted(findings.failures.items()):
        print(f"FAIL {label} [{status}] {title} x{count}\n  {message}\n  {curl}\n")
    crashes = service.crashes
    for crash in dict.fromkeys(crashes):
        print(f"CRASH {crash}")
    summary = {
        "mode": "lifecert serve" if args.serve else "in process",
        "operations": len(operations),
        "operations_tested": tested,
        "cases": findings.cases,
        "failures": sum(c for c, _, _ in findings.failures.values()),
        "failure_kinds": len(findings.failures),
        "server_errors_5xx": findings.server_errors,
        "statuses": dict(sorted(findings.statuses.items())),
        "seconds": round(elapsed, 1),
        "setup_seconds": round(fuzz_start - started, 1),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['operations_tested']}/{summary['operations']} operations, "
            f"{summary['cases']} cases in {summary['seconds']} s: {summary['failures']} failures "
            f"({summary['failure_kinds']} kinds), {summary['server_errors_5xx']} 5xx; "
            f"statuses {summary['statuses']}"
        )
    return 1 if findings.failures or findings.server_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
