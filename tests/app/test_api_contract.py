"""The client contract: every operation of the OpenAPI document has a stable id, a summary,
examples and its error answers; every answer the service gives matches what the document
declares (schemathesis over every route); docs/api.md lists every error code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api_contract import ContractService, build_service, operations


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> ContractService:
    return build_service(tmp_path_factory.mktemp("contract"))


# A few examples per operation keep the run short; scripts/fuzz_api.py runs long.
EXAMPLES_PER_OPERATION = 4


def _check_operation(operation: Any, service: ContractService) -> None:
    schema = operation.schema
    headers = service.headers_for(operation.definition.raw["operationId"])
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        *schema.get_strategies_from_examples(operation),
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=headers, checks=[response_schema_conformance, content_type_conformance]
        )

    run()


def test_every_response_matches_the_document(service: ContractService) -> None:
    """schemathesis's response-schema check over every operation: statuses declared with a
    body are checked against it, error answers against the one error body."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.served)
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        checked += 1
        try:
            _check_operation(operation, service)
        except Exception as exc:  # every operation's failure is reported, not only the first
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert checked == len(list(operations(service.app)))
    assert not failures, "\n\n".join(failures)
    # Crashes answered 500 with the error body pass this check; scripts/fuzz_api.py hunts them.
    print(f"{checked} operations, statuses {dict(service.served.statuses)}")
    print(f"unexpected 500s: {service.crashes}")


ROOT = Path(__file__).resolve().parents[2]
