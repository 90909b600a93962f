"""A short fuzzing run for CI (the long one is scripts/fuzz_api.py): a few generated valid and
invalid requests for the operations where fuzzing found server errors and for the listings,
from a national admin, regional staff and a pensioner, on rows that exist. No 5xx, and every
response as the OpenAPI document declares it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis

from tests.api_contract import ContractService, build_service
from tests.fuzzing import (
    Findings,
    Tokens,
    fuzz_operation,
    lift_rate_limits,
    pensioner_operations,
    prepare,
)

# Each operation gets at most this many cases and seconds; a fixed seed keeps CI repeatable.
EXAMPLES = 12
SECONDS_PER_OPERATION = 20.0
SEED = 20261201
OPERATIONS = [
    ("PATCH", "/api/v1/pensioners/{pensioner_id}"),
    ("POST", "/api/v1/pensioners"),
    ("GET", "/api/v1/pensioners"),
    ("POST", "/api/v1/overpayments/{claim_id}/steps"),
    ("GET", "/api/v1/verification-tasks"),
    ("GET", "/api/v1/match-candidates"),
    ("PATCH", "/api/v1/me"),
    ("POST", "/api/v1/auth/pensioner/token"),
    ("GET", "/api/v1/reports/monthly"),
]


@dataclass
class Fuzzing:
    service: ContractService
    schema: Any
    tokens: Tokens
    known: dict[str, list[str]]
    pensioner_ops: set[str]


@pytest.fixture(scope="module")
def fuzzing(tmp_path_factory: pytest.TempPathFactory) -> Fuzzing:
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    service = build_service(tmp_path_factory.mktemp("fuzz"))
    lift_rate_limits(service.settings)
    tokens, known = prepare(service)
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.served)
    return Fuzzing(service, schema, tokens, known, pensioner_operations(service))


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_get_no_5xx_and_conforming_answers(
    method: str, path: str, fuzzing: Fuzzing
) -> None:
    operation = fuzzing.schema[path][method]
    findings = Findings()
    crashes_before = len(fuzzing.service.crashes)
    fuzz_operation(
        operation,
        callers=fuzzing.tokens.for_operation(
            operation.definition.raw["operationId"] in fuzzing.pensioner_ops
        ),
        known=fuzzing.known,
        examples=EXAMPLES,
        until=time.monotonic() + SECONDS_PER_OPERATION,
        findings=findings,
        base_url=None,
        random_seed=SEED,
    )
    assert findings.cases > 0
    problems = [
        f"{label} [{status}] {title} x{count}: {message}\n{curl}"
        for (label, title, status), (count, curl, message) in findings.failures.items()
    ]
    assert not problems, "\n\n".join(problems)
    assert findings.server_errors == 0, findings.statuses
    assert fuzzing.service.crashes[crashes_before:] == []
