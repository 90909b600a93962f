"""Fuzzing the API with schemathesis, shared by scripts/fuzz_api.py (the long run) and
tests/app/test_fuzz.py (a few examples in CI): who calls (a national admin, regional staff, a
pensioner), which rows exist, and one operation fuzzed within a time share, every response
checked for 5xx and against the schema the OpenAPI document declares."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlmodel import Session, select

from app import demo
from app.config import Settings
from models.pensioner import Pensioner
from models.region import Region
from models.staff import StaffUser
from tests.api_contract import STAFF_ROLES, ContractService
from tests.conftest import Factory

CHECKS = [not_a_server_error, response_schema_conformance]
GENEROUS = "100000/minute"
RATE_SETTINGS = (
    "otp_rate_per_id",
    "otp_rate_per_client",
    "attempt_start_rate",
    "selfie_check_rate",
    "otp_login_rate_per_id",
    "otp_login_rate_per_client",
    "staff_login_rate_per_client",
    "global_code_request_rate",
    "global_pensioner_login_rate",
    "global_staff_login_rate",
    "global_attempt_start_rate",
    "global_selfie_check_rate",
)


class OutOfTime(Exception):
    """The operation's share of the time is used up."""


@dataclass
class Tokens:
    national_admin: str
    regional_staff: str
    all_roles: str
    pensioner: str

    def for_operation(self, pensioner_route: bool) -> list[tuple[str, str]]:
        """Who calls: mostly the caller the route is for, sometimes the wrong kind."""
        if pensioner_route:
            return [("pensioner", self.pensioner)] * 3 + [("national-admin", self.national_admin)]
        return [
            ("all-roles", self.all_roles),
            ("national-admin", self.national_admin),
            ("regional-staff", self.regional_staff),
            ("pensioner", self.pensioner),
        ]


@dataclass
class Findings:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # (operation, check title, status) -> [count, curl of the first case]
    failures: dict[tuple[str, str, int], list[Any]] = field(default_factory=dict)
    server_errors: int = 0

    def record(self, label: str, failure: Failure, status: int, curl: str) -> None:
        key = (label, failure.title, status)
        if key not in self.failures:
            self.failures[key] = [0, curl, failure.message[:600]]
        self.failures[key][0] += 1


def lift_rate_limits(target: Settings) -> None:
    for name in RATE_SETTINGS:
        setattr(target, name, GENEROUS)


def prepare(service: ContractService) -> tuple[Tokens, dict[str, list[str]]]:
    """Demo data, the callers' tokens, and the ids of rows that exist, by path parameter."""
    engine = service.app.state.engine
    with Session(engine, expire_on_commit=False) as session:
        demo.load(session, seed=7)
        session.commit()
        factory = Factory(session, service.settings)
        factory.born = factory.born.replace(year=1946)  # apart from the demo's and the service's
        lifetime = timedelta(hours=12)
        national_admin = factory.staff("admin", username="fuzz-national-admin")
        regional = factory.staff(*STAFF_ROLES, scope="11", username="fuzz-regional-staff")
        tokens = Tokens(
            national_admin=factory.token(national_admin, lifetime=lifetime),
            regional_staff=factory.token(regional, lifetime=lifetime),
            all_roles=service.staff_token,
            pensioner=service.pensioner_token,
        )
        known = {
            "pensioner_id": [str(i) for i in session.exec(select(Pensioner.id)).all()],
            "staff_id": [str(i) for i in session.exec(select(StaffUser.id)).all()],
            "code": list(session.exec(select(Region.code)).all()),
        }
    return tokens, known


def _strategy(operation: Any, known: dict[str, list[str]]) -> Any:
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    names = [p.name for p in operation.path_parameters]
    if names and all(n in known for n in names):
        # Rows that exist, so the request gets past the lookup to the code behind it.
        for values in ({n: known[n][i % len(known[n])] for n in names} for i in range(3)):
            strategies.append(
                operation.as_strategy(GenerationMode.POSITIVE, path_parameters=values)
            )
            strategies.append(
                operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=values)
            )
    strategies.extend(operation.schema.get_strategies_from_examples(operation))
    return st.one_of(*strategies)


def fuzz_operation(
    operation: Any,
    *,
    callers: list[tuple[str, str]],
    known: dict[str, list[str]],
    examples: int,
    until: float,
    findings: Findings,
    base_url: str | None,
    random_seed: int | None,
) -> int:
    label = f"{operation.method.upper()} {operation.path}"
    ran = 0

    @given(case=_strategy(operation, known), caller=st.sampled_from(callers))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    def run(case: Any, caller: tuple[str, str]) -> None:
        nonlocal ran
        if time.monotonic() > until:
            raise OutOfTime()  # ends this operation's examples at once
        ran += 1
        headers = {"Authorization": f"Bearer {caller[1]}"}
        kwargs: dict[str, Any] = {"headers": headers, "timeout": 60}
        if base_url is not None:
            kwargs["base_url"] = base_url
        response = case.call(**kwargs)
        findings.cases += 1
        findings.statuses[response.status_code] += 1
        if response.status_code >= 500:
            findings.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            curl = case.as_curl_command(headers={"Authorization": f"Bearer <{caller[0]}>"})
            for failure in group.exceptions:
                findings.record(label, failure, response.status_code, curl)
        except Failure as failure:
            curl = case.as_curl_command(headers={"Authorization": f"Bearer <{caller[0]}>"})
            findings.record(label, failure, response.status_code, curl)

    if random_seed is not None:
        run = seed(random_seed)(run)
    try:
        run()
    except OutOfTime:
        pass
    return ran


def pensioner_operations(service: ContractService) -> set[str]:
    """operationIds of the routes a pensioner calls."""
    return {
        op_id
        for op_id, headers in service.headers.items()
        if headers.get("Authorization", "").endswith(service.pensioner_token)
    }
