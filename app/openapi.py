"""The client contract in the OpenAPI document: stable operation ids, the one error body, and
each route's error answers, read from the code the route runs."""

from __future__ import annotations

import ast
import inspect
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import (
    BIOMETRICS_STATUS,
    HANDLER_CODES,
    AppError,
    ErrorBody,
    error_body,
)
from app.openapi_examples import ANSWER_EXAMPLES, EXAMPLES
from biometrics.errors import BiometricsError

E = TypeVar("E", bound=Exception)
REF = "#/components/schemas/"
# Requests with a body can be refused by the size limit (app/limits.py) before any route runs.
BODY_METHODS = {"POST", "PUT", "PATCH"}


def operation_id(route: APIRoute) -> str:
    """`<domain>_<function>`: unique by construction (one function name per module) and stable
    when a path changes, unlike FastAPI's `<function>_<path>_<method>`."""
    module = route.endpoint.__module__.split(".")
    domain = module[1] if len(module) > 2 and module[0] == "app" else module[-1]
    return f"{domain}_{route.name}"


# --- Every code the service can send -------------------------------------------------------


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    message: str  # the default `detail`
    source: str  # where it is defined


def _family(cls: type[E]) -> list[type[E]]:
    """The class and all its subclasses."""
    family = [cls]
    for sub in cls.__subclasses__():
        family += _family(sub)
    return family


def biometrics_status(cls: type[BiometricsError]) -> int:
    return BIOMETRICS_STATUS.get(cls.code, 422)


def _by_name(classes: list[type[E]]) -> list[type[E]]:
    # Subclass order follows import order; a code several classes share (InvalidChange sends
    # ValidationError on purpose) must be described the same way in every process.
    return sorted(classes, key=lambda cls: (cls.__module__, cls.__qualname__))


def error_catalogue() -> dict[str, ErrorCode]:
    """Every error code: the handlers' own, then those of the AppError and BiometricsError
    classes loaded (create_app imports every router, hence every domain's errors)."""
    found: dict[str, ErrorCode] = {
        code: ErrorCode(code, status, message, "app.errors")
        for code, (status, message) in HANDLER_CODES.items()
    }
    for app_cls in _by_name(_family(AppError)):
        found.setdefault(
            app_cls.code,
            ErrorCode(app_cls.code, app_cls.status_code, app_cls.message, app_cls.__module__),
        )
    for bio_cls in _by_name(_family(BiometricsError)):
        doc = (inspect.getdoc(bio_cls) or "").replace("\n", " ")
        found.setdefault(
            bio_cls.__name__,
            ErrorCode(bio_cls.__name__, biometrics_status(bio_cls), doc, bio_cls.__module__),
        )
    return dict(sorted(found.items()))


# --- The errors a route can answer with, read from its code ---------------------------------


@cache
def _module_functions(filename: str) -> dict[int, ast.FunctionDef | ast.AsyncFunctionDef]:
    """A module's functions by the line their code starts on (the first decorator's, if any):
    each file is parsed once."""
    try:
        with open(filename, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError):
        return {}
    found: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.lineno] = node
            if node.decorator_list:
                found[node.decorator_list[0].lineno] = node
    return found


def _function_tree(fn: types.FunctionType) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    code = fn.__code__
    return _module_functions(code.co_filename).get(code.co_firstlineno)


def _namespace(fn: types.FunctionType) -> dict[str, Any]:
    names: dict[str, Any] = dict(fn.__globals__)
    if fn.__closure__:
        cells = (c.cell_contents for c in fn.__closure__)
        names.update(zip(fn.__code__.co_freevars, cells, strict=True))
    return names


def _resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, names)
        if isinstance(owner, types.ModuleType | type):
            return getattr(owner, node.attr, None)
    return None


def _ours(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module.split(".")[0] in {"app", "biometrics", "models"}


def _is_error(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, AppError | BiometricsError)


def _plain_function(obj: Any) -> types.FunctionType | None:
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType) and _ours(obj):
        return obj
    return None


def _literal_codes(node: ast.Dict) -> Iterator[str]:
    for key, value in zip(node.keys, node.values, strict=True):
        if (
            isinstance(key, ast.Constant)
            and key.value == "error"
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            yield value.value


@cache
def _raised_by(fn: types.FunctionType) -> frozenset[str]:
    """Codes `fn` may answer with: its own `raise SomeError(...)`, error bodies it writes, and
    what the functions it calls raise, minus what an enclosing `except` catches. Calls through
    objects (an engine's methods) are not followed."""
    tree = _function_tree(fn)
    if tree is None:
        return frozenset()
    names = _namespace(fn)
    # Recursion through mutually calling functions ends here with what is known so far.
    _raised_by_guard.add(fn)
    codes: set[str] = set()

    def caught_by(handlers: list[ast.ExceptHandler]) -> tuple[type, ...]:
        caught: list[type] = []
        for handler in handlers:
            reraises = any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler))
            if handler.type is None or reraises:
                continue
            kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught += [k for k in (_resolve(t, names) for t in kinds) if isinstance(k, type)]
        return tuple(caught)

    def error_codes(cls: type[AppError | BiometricsError]) -> str:
        return cls.__name__ if issubclass(cls, BiometricsError) else cls.code

    def visit(node: ast.AST, caught: tuple[type, ...]) -> None:
        if isinstance(node, ast.Try):
            inner = caught + caught_by(node.handlers)
            for statement in node.body:
                visit(statement, inner)
            after: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
            for part in after:
                visit(part, caught)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) and (
            node is not tree
        ):
            return  # a nested function runs only if called, and then it is resolved by name
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            cls = _resolve(target, names)
            if _is_error(cls) and not issubclass(cls, caught):
                codes.add(error_codes(cls))
        elif isinstance(node, ast.Call):
            made = _resolve(node.func, names)
            if _is_error(made) and not issubclass(made, caught):
                codes.add(error_codes(made))  # an error built to be answered, not raised
            elif made is error_body and node.args and isinstance(node.args[0], ast.Constant):
                codes.add(str(node.args[0].value))
            callee = _plain_function(made)
            if callee is not None and callee not in _raised_by_guard:
                codes.update(_codes_escaping(callee, caught))
            # An error class handed to a helper that raises it: get_in_scope(..., not_found=X).
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                cls = _resolve(argument, names)
                if _is_error(cls) and not issubclass(cls, caught):
                    codes.add(error_codes(cls))
        elif isinstance(node, ast.Dict):
            codes.update(_literal_codes(node))
        for child in ast.iter_child_nodes(node):
            visit(child, caught)

    visit(tree, ())
    _raised_by_guard.discard(fn)
    return frozenset(codes)


_raised_by_guard: set[types.FunctionType] = set()


def _codes_escaping(fn: types.FunctionType, caught: tuple[type, ...]) -> set[str]:
    if not caught:
        return set(_raised_by(fn))
    catalogue = _classes_by_code()
    return {
        code
        for code in _raised_by(fn)
        if not (code in catalogue and issubclass(catalogue[code], caught))
    }


@cache
def _classes_by_code() -> dict[str, type]:
    classes: dict[str, type] = {}
    for app_cls in _by_name(_family(AppError)):
        classes.setdefault(app_cls.code, app_cls)
    for bio_cls in _by_name(_family(BiometricsError)):
        classes.setdefault(bio_cls.__name__, bio_cls)
    return classes


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def route_error_codes(route: Any) -> set[str]:
    """The codes a route may answer with, from its endpoint, its dependencies, FastAPI's own
    request validation and the body size limit."""
    codes: set[str] = set()
    for call in _calls(route.dependant):
        fn = _plain_function(call)
        if fn is not None:
            codes |= _raised_by(fn)
    if route.body_field is not None or _has_params(route.dependant):
        codes.add("ValidationError")
    if route.methods & BODY_METHODS:
        codes.add("PayloadTooLarge")
    return codes


# The handlers of these answer with the error of the route that raised it (read per route).
_PER_ROUTE = (AppError, BiometricsError, RequestValidationError, StarletteHTTPException)


def any_route_codes(app: FastAPI) -> set[str]:
    """Codes any route may answer with: those of the app's handlers for other exceptions (an
    unexpected failure, a database or Redis out of reach)."""
    codes: set[str] = set()
    for kind, handler in app.exception_handlers.items():
        if isinstance(kind, type) and issubclass(kind, _PER_ROUTE):
            continue
        fn = _plain_function(handler)
        if fn is not None:
            codes |= _raised_by(fn)
    return codes


def _has_params(dependant: Dependant) -> bool:
    own = (
        dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
    )
    return bool(own) or any(_has_params(sub) for sub in dependant.dependencies)


# --- The document ------------------------------------------------------------------------


def error_responses(codes: set[str], catalogue: dict[str, ErrorCode]) -> dict[int | str, Any]:
    by_status: dict[int, list[ErrorCode]] = {}
    for code in sorted(codes):
        entry = catalogue[code]
        by_status.setdefault(entry.status, []).append(entry)
    responses: dict[int | str, Any] = {}
    for status, entries in sorted(by_status.items()):
        listed = ", ".join(f"`{e.code}`" for e in entries)
        response: dict[str, Any] = {
            "description": f"Error codes: {listed} (see docs/api.md for what to do).",
            "content": {
                "application/json": {
                    "schema": {"$ref": REF + "ErrorBody"},
                    "examples": {
                        e.code: {"value": {"error": e.code, "detail": e.message}} for e in entries
                    },
                }
            },
        }
        if status in (423, 429, 503):
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before trying again (when given).",
                    "schema": {"type": "integer"},
                }
            }
        responses[status] = response
    return responses


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every route of the document as FastAPI serves it: the path with its prefixes, and the
    dependant with the routers' dependencies (the authentication) included."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute) and context.include_in_schema:
            yield context


def add_examples(document: dict[str, Any]) -> None:
    """The examples of app/openapi_examples.py: in each body's schema, and for answers without
    one of their own, beside the answer."""
    schemas = document.get("components", {}).get("schemas", {})
    for name, examples in EXAMPLES.items():
        if name in schemas:
            schemas[name]["examples"] = examples
    for item in document["paths"].values():
        for operation in item.values():
            for status, by_media in ANSWER_EXAMPLES.get(operation["operationId"], {}).items():
                content = operation["responses"][status].setdefault("content", {})
                for media_type, example in by_media.items():
                    content.setdefault(media_type, {})["example"] = example


def install_contract(app: FastAPI) -> None:
    """Builds the document with every route's error answers in the one error body (instead of
    FastAPI's HTTPValidationError, which the service never sent)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            catalogue = error_catalogue()
            everywhere = any_route_codes(app)
            for route in api_routes(app):
                route_codes = route_error_codes(route) | everywhere
                if unknown := route_codes - catalogue.keys():
                    raise RuntimeError(f"{route.path}: codes missing from the catalogue: {unknown}")
                for method in route.methods:
                    responses = document["paths"][route.path_format][method.lower()]["responses"]
                    responses.pop("422", None)  # FastAPI's HTTPValidationError
                    for status, response in error_responses(route_codes, catalogue).items():
                        declared = responses.get(str(status), {}).get("description")
                        if declared and declared != response["description"]:
                            response["description"] = f"{declared}. {response['description']}"
                        responses[str(status)] = response
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            add_examples(document)
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            body = ErrorBody.model_json_schema(ref_template=REF + "{model}")
            schemas.update(body.pop("$defs", {}))
            body["properties"]["error"] = {"$ref": REF + "ErrorCode"}
            schemas["ErrorBody"] = body
            schemas["ErrorCode"] = {
                "type": "string",
                "description": "A stable error code; docs/api.md says what a client should do.",
                "enum": list(catalogue),
            }
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- The error catalogue of docs/api.md -----------------------------------------------------

RETRY = "retry with backoff, after Retry-After when given"
RELOGIN = "log in again"
SHOW = "show the message"
FIX = "fix the input and send again"
STAFF = "contact staff"
# What a client does, by status; the codes below differ from their status's rule.
ACTION_BY_STATUS = {
    400: FIX,
    401: RELOGIN,
    403: SHOW,
    404: f"{SHOW}; refresh what is shown",
    405: f"{FIX} (a client bug)",
    409: f"{SHOW}; reload the resource",
    410: f"{SHOW}; start the flow again",
    412: "update the app",
    413: FIX,
    415: FIX,
    422: FIX,
    423: f"{SHOW}; do not retry",
    429: RETRY,
    500: f"{RETRY}; {STAFF} if it persists",
    503: RETRY,
}
ACTION_BY_CODE = {
    "InvalidCredentials": f"{SHOW} (wrong username or password)",
    "OtpInvalid": f"{SHOW}; ask for a new code",
    "InvalidFeedKey": f"{STAFF}: the feed key is wrong or revoked",
    "MetricsForbidden": f"{STAFF}: scrapers are configured on the server",
    "StaffAccountLocked": f"{SHOW}; an administrator unlocks the account",
    "AttemptsLockedOut": f"{SHOW}; offer a video call or a community visit (`human_routes`)",
    "ChallengeExpired": "start a new attempt and record within the challenge's validity",
    "ChallengeAlreadyUsed": "start a new attempt",
    "MediaMissing": STAFF,
    "MediaUnreadable": STAFF,
    "DecoderBusy": RETRY,
    "VideoDecodeTimeout": f"{SHOW}; record a shorter or smaller clip",
    "CohortTooSmall": f"{STAFF}: too few enrolled faces to decide",
    "IncompatibleEmbeddings": STAFF,
    "ValidationError": f"{FIX}: `fields` says which",
}


def client_action(entry: ErrorCode) -> str:
    return ACTION_BY_CODE.get(entry.code) or ACTION_BY_STATUS.get(entry.status, SHOW)


def render_error_catalogue(catalogue: dict[str, ErrorCode]) -> str:
    """The markdown table of docs/api.md's error catalogue (scripts/api_docs.py writes it)."""
    lines = [
        "| code | HTTP | what a client does | meaning (the default `detail`) |",
        "| --- | --- | --- | --- |",
    ]
    for entry in sorted(catalogue.values(), key=lambda e: (e.status, e.code)):
        meaning = " ".join(entry.message.split()).replace("|", "\\|") or "-"
        lines.append(f"| `{entry.code}` | {entry.status} | {client_action(entry)} | {meaning} |")
    return "\n".join(lines) + "\n"


def render_operations(document: dict[str, Any]) -> str:
    """The markdown table of every operation: id, method, path, summary."""
    lines = ["| operationId | method | path | summary |", "| --- | --- | --- | --- |"]
    rows = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            summary = operation.get("summary", "").replace("|", "\\|")
            rows.append(
                f"| `{operation['operationId']}` | {method.upper()} | `{path}` | {summary} |"
            )
    return "\n".join(lines + sorted(rows)) + "\n"
