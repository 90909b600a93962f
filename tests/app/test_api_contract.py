"""The client contract: every operation of the OpenAPI document has a stable id, a summary,
examples and its error answers; every answer the service gives matches what the document
declares (schemathesis over every route); docs/api.md lists every error code."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.openapi.utils import (
    validation_error_definition,
    validation_error_response_definition,
)
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.openapi.checks import JsonSchemaError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from app.errors import ErrorBody
from app.openapi import (
    api_routes,
    error_catalogue,
    operation_id,
    render_error_catalogue,
    render_operations,
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
DOC = ROOT / "docs" / "api.md"
REF = "#/components/schemas/"
# Bodies no example can show: files (their protocol is in docs/api.md) and empty answers.
BINARY_MEDIA = ("image/", "video/", "application/octet-stream", "application/pdf")


@pytest.fixture(scope="module")
def document(service: ContractService) -> dict[str, Any]:
    return service.app.openapi()


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema whose examples show the body: through $ref, arrays and Page's items."""
    while True:
        if "$ref" in schema:
            name = schema["$ref"].removeprefix(REF)
            schema = document["components"]["schemas"][name]
            if name.startswith("Page_"):
                schema = schema["properties"]["items"]
            continue
        if schema.get("type") == "array" and "items" in schema:
            schema = schema["items"]
            continue
        refs = [s for s in schema.get("anyOf", []) if "$ref" in s]
        if len(refs) == 1:
            schema = refs[0]
            continue
        return schema


def _has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    return bool(_schema(document, media.get("schema", {})).get("examples"))


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


def test_operation_ids_are_unique_stable_and_named_after_the_function(
    service: ContractService, document: dict[str, Any]
) -> None:
    ids = [op["operationId"] for _, _, op in operations(service.app)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for route in api_routes(service.app):
        for method in route.methods:
            op = document["paths"][route.path_format][method.lower()]
            # Not FastAPI's `<function>_<path>_<method>`, which changes with the path.
            assert op["operationId"] == operation_id(route.original_route), route.path
            assert "api_v1" not in op["operationId"], op["operationId"]


def test_every_operation_has_a_summary_written_for_it(service: ContractService) -> None:
    # FastAPI makes one from the function's name when there is none ("Read Pensioner").
    missing = [
        f"{sorted(route.methods)} {route.path_format}"
        for route in api_routes(service.app)
        if not (route.summary or "").strip()
    ]
    assert not missing, f"routes without summary=...: {missing}"


def test_every_operation_has_request_and_response_examples(
    service: ContractService, document: dict[str, Any]
) -> None:
    missing = []
    for method, path, op in operations(service.app):
        body = op.get("requestBody", {}).get("content", {})
        for media_type, media in body.items():
            if not _has_example(document, media):
                missing.append(f"{method} {path}: request {media_type}")
        for status, response in op["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if media_type.startswith(BINARY_MEDIA) or not status.startswith("2"):
                    continue  # error answers: checked by the next test
                if not _has_example(document, media):
                    missing.append(f"{method} {path}: {status} {media_type}")
    assert not missing, "no example (json_schema_extra examples in the model, or app/" + (
        "openapi_examples.py):\n" + "\n".join(missing)
    )


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    wrong = []
    for name, schema in document["components"]["schemas"].items():
        validator = _validator(document, schema)
        for example in schema.get("examples", []):
            for error in validator.iter_errors(example):
                wrong.append(f"{name}: {error.message} at {list(error.instance_path)}")
    assert not wrong, "\n".join(wrong)


def test_every_error_answer_is_the_error_body_with_its_codes(
    service: ContractService, document: dict[str, Any]
) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorCode"]["enum"]) == set(error_catalogue())
    for method, path, op in operations(service.app):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": REF + "ErrorBody"}, (method, path, status)
            for code, example in media["examples"].items():
                assert example["value"]["error"] == code
                assert error_catalogue()[code].status == int(status), (method, path, code)


def test_the_codes_a_route_declares_are_read_from_the_code_it_runs(
    document: dict[str, Any],
) -> None:
    def declared(path: str, method: str, status: int) -> set[str]:
        response = document["paths"][path][method]["responses"].get(str(status), {})
        return set(response.get("content", {}).get("application/json", {}).get("examples", {}))

    upload = "/api/v1/certifications/attempts/{attempt_id}/upload"
    # Raised by the service function the route calls.
    assert {"ChallengeAlreadyUsed", "ChallengeMismatch"} <= declared(upload, "post", 409)
    assert declared(upload, "post", 410) == {"ChallengeExpired"}
    # By the library, through the reading helper.
    assert "FileTooLarge" in declared(upload, "post", 413)
    # By the authentication dependency of the router, and request validation.
    assert declared(upload, "post", 401) == {"NotAuthenticated", "InvalidToken"}
    assert "ValidationError" in declared(upload, "post", 422)
    # A class handed to the helper that raises it (get_in_scope(..., not_found=...)).
    assert "ReviewNotFound" in declared("/api/v1/reviews/{case_id}", "get", 404)
    # A subclass raised in a service (LoginBackoff is a RateLimited).
    assert declared("/api/v1/auth/token", "post", 429) >= {"LoginBackoff"}
    # A body written by hand in a route.
    assert declared("/metrics", "get", 403) == {"MetricsForbidden"}
    # An app-wide handler: any route may fail unexpectedly.
    assert declared("/healthz", "get", 500) == {"InternalError"}
    # A route that raises nothing of its own declares no 404.
    assert declared("/api/v1/staff/me", "get", 404) == set()


async def _answer(
    service: ContractService, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    transport = httpx.ASGITransport(app=service.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.request(method, path, **kwargs)
    return response.status_code, response.json()


def _assert_declared(
    document: dict[str, Any], path: str, method: str, status: int, body: dict[str, Any]
) -> None:
    response = document["paths"][path][method]["responses"][str(status)]
    media = response["content"]["application/json"]
    errors = [e.message for e in _validator(document, media["schema"]).iter_errors(body)]
    assert not errors, (body, errors)
    assert body["error"] in media["examples"], (body["error"], sorted(media["examples"]))


async def test_a_real_422_matches_the_declared_error_body(
    service: ContractService, document: dict[str, Any]
) -> None:
    staff = {"Authorization": f"Bearer {service.staff_token}"}
    status, body = await _answer(
        service, "POST", "/api/v1/pensioners", json={"national_id": 5, "name": ""}, headers=staff
    )
    assert status == 422 and body["error"] == "ValidationError"
    assert {f["field"] for f in body["fields"]} >= {"national_id", "phone"}
    _assert_declared(document, "/api/v1/pensioners", "post", 422, body)
    # What FastAPI declared before (HTTPValidationError) refuses the body the service sends.
    old = jsonschema_rs.Draft202012Validator(
        {
            **validation_error_response_definition,
            "components": {"schemas": {"ValidationError": validation_error_definition}},
        }
    )
    assert not old.is_valid(body)


async def test_a_real_404_and_409_match_the_declared_error_body(
    service: ContractService, document: dict[str, Any]
) -> None:
    staff = {"Authorization": f"Bearer {service.staff_token}"}
    unknown = "/api/v1/pensioners/00000000-0000-4000-8000-000000000000"
    status, body = await _answer(service, "GET", unknown, headers=staff)
    assert (status, body["error"]) == (404, "PensionerNotFound")
    _assert_declared(document, "/api/v1/pensioners/{pensioner_id}", "get", 404, body)

    status, mine = await _answer(
        service, "GET", f"/api/v1/pensioners/{service.pensioner_id}", headers=staff
    )
    assert status == 200
    again = {
        key: mine[key]
        for key in ("national_id", "name", "phone", "region_code", "monthly_amount_fen")
    }
    status, body = await _answer(service, "POST", "/api/v1/pensioners", json=again, headers=staff)
    assert (status, body["error"]) == (409, "DuplicateNationalId")
    _assert_declared(document, "/api/v1/pensioners", "post", 409, body)

    # A pensioner's own routes: an attempt that is not theirs.
    pensioner = {"Authorization": f"Bearer {service.pensioner_token}"}
    attempt = "/api/v1/certifications/attempts/00000000-0000-4000-8000-000000000000"
    status, body = await _answer(service, "GET", attempt, headers=pensioner)
    assert (status, body["error"]) == (404, "AttemptNotFound")
    _assert_declared(document, "/api/v1/certifications/attempts/{attempt_id}", "get", 404, body)


def _api_docs() -> Any:
    spec = importlib.util.spec_from_file_location("api_docs", ROOT / "scripts" / "api_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_api_md_lists_every_error_code_with_what_to_do() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [code for code in error_catalogue() if f"| `{code}` |" not in text]
    assert not missing, f"docs/api.md lacks {missing}: run .venv/bin/python scripts/api_docs.py"


def test_docs_api_md_generated_sections_are_current(document: dict[str, Any]) -> None:
    api_docs = _api_docs()
    text = DOC.read_text(encoding="utf-8")
    sections = {
        "error-catalogue": render_error_catalogue(error_catalogue()),
        "operations": render_operations(document),
    }
    assert api_docs.rewrite(text, sections) == text, (
        "docs/api.md is out of date: run .venv/bin/python scripts/api_docs.py"
    )


def test_the_readme_links_the_api_contract() -> None:
    assert "docs/api.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_response_check_fails_on_a_body_that_breaks_its_schema() -> None:
    """The check above can fail: an app answering 404 with a body its document does not
    declare (FastAPI's old situation with 422) is caught."""
    broken = FastAPI()

    @broken.get("/things/{thing_id}", response_model=None, responses={404: {"model": ErrorBody}})
    def read_thing(thing_id: int) -> Any:
        return JSONResponse(status_code=404, content={"message": f"no thing {thing_id}"})

    operation = schemathesis.openapi.from_asgi("/openapi.json", broken)["/things/{thing_id}"]["GET"]

    @given(case=operation.as_strategy())
    @settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate])
    def run(case: Any) -> None:
        case.call_and_validate(checks=[response_schema_conformance])

    with pytest.raises(BaseExceptionGroup) as caught:
        run()
    assert any(isinstance(e, JsonSchemaError) for e in caught.value.exceptions), caught.value
