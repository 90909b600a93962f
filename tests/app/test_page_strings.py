"""The pages have words for everything the service can tell them: every error code of the
API's `{"error": ...}` bodies (static/js/errors.js) and every value of the enums the pages
show (static/js/strings.js), in Chinese and in English. No browser: the JS tables are read as
text."""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.certifications.service import CertificationStatus
from app.errors import AppError
from app.video_calls.schemas import CallOutcome
from biometrics.errors import BiometricsError
from biometrics.liveness import Action, LivenessReason
from biometrics.pad import PadCue
from models.attempt import AttemptStatus, ReviewStatus
from models.certification import CertificationMethod
from models.consular import DocumentStatus
from models.pensioner import BenefitStatus, Residence
from models.staff import Role
from models.video_call import AppointmentStatus, ExceptionKind

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "static" / "js"
LANGUAGES = {"zh", "en"}

# ---- the JS tables, read as data ----------------------------------------------------------
_TOKEN = re.compile(r'\s+|//[^\n]*|"(?:[^"\\\n]|\\.)*"|[A-Za-z_$][\w$]*|[{}:,]|.')


def js_object(path: Path, name: str) -> dict[str, Any]:
    """The object literal of `export const <name> = {...}` in a JS file: keys (names or
    strings) to strings or nested objects, which is all the pages' tables hold."""
    source = path.read_text(encoding="utf-8")
    head = re.search(rf"export const {name}\s*=\s*", source)
    assert head, f"{path.name} has no `export const {name} = ...`"
    tokens: Iterator[str] = (
        m.group()
        for m in _TOKEN.finditer(source, head.end())
        if not m.group().isspace() and not m.group().startswith("//")
    )

    def value(token: str) -> Any:
        if token.startswith('"'):
            return json.loads(token)
        assert token == "{", f"{path.name} {name}: a table holds strings and objects, not {token!r}"
        table: dict[str, Any] = {}
        while (key := next(tokens)) != "}":
            if key == ",":
                continue
            assert next(tokens) == ":", f"{path.name} {name}: no ':' after {key!r}"
            table[json.loads(key) if key.startswith('"') else key] = value(next(tokens))
        return table

    return value(next(tokens))  # type: ignore[no-any-return]


def page_scripts(page: str) -> str:
    """The source of a page's scripts: the staff console is one module, the pensioner's page
    one module per flow."""
    if page == "STAFF":
        return (JS / "staff.js").read_text(encoding="utf-8")
    files = [JS / "pensioner.js", *sorted((JS / "pensioner").glob("*.js"))]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


# ---- the service's error codes ------------------------------------------------------------
# Read from the source rather than by importing every module: some modules act on import
# (app/worker.py sets the process's job broker), and errors live beside their domains.
@functools.cache
def _trees() -> tuple[ast.Module, ...]:
    paths = [*(ROOT / "app").rglob("*.py"), *(ROOT / "biometrics").rglob("*.py")]
    return tuple(ast.parse(path.read_text(encoding="utf-8")) for path in sorted(paths))


def _error_classes(root: str) -> dict[str, str | None]:
    """The classes descending from the class named `root` (itself included), by the names of
    their bases: class name -> the `code` it sets, or None when it keeps its base's."""
    classes: dict[str, tuple[list[str], str | None]] = {}
    for tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [
                b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
            ]
            code = next(
                (
                    stmt.value.value
                    for stmt in node.body
                    if isinstance(stmt, ast.Assign)
                    and any(getattr(t, "id", None) == "code" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Constant)
                ),
                None,
            )
            classes[node.name] = (bases, code)

    def descends(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == root:
            return True
        if name not in classes or name in seen:
            return False
        return any(descends(base, seen | {name}) for base in classes[name][0])

    return {name: code for name, (_, code) in classes.items() if descends(name)}


def _literal_codes() -> set[str]:
    """Codes written out where bodies are made by hand: error_body("Code", ...),
    {"error": "Code", ...}, and the status-to-code table of app/errors.py's HTTP handler."""
    codes: set[str] = set()
    for tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "error_body":
                codes.update(_strings(node.args[:1]))
            elif isinstance(node, ast.Dict):
                for key, val in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "error":
                        codes.update(_strings([val]))
            elif isinstance(node, ast.Assign) and any(
                getattr(target, "id", None) == "codes" for target in node.targets
            ):
                assert isinstance(node.value, ast.Dict)
                codes.update(_strings(node.value.values))
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and getattr(node.func.value, "id", None) == "codes"
            ):
                codes.update(_strings(node.args[1:]))
    return codes


def _strings(nodes: list[ast.expr]) -> set[str]:
    return {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def service_error_codes() -> set[str]:
    app_codes = {code for code in _error_classes("AppError").values() if code}
    # The handler sends a library error under its class name (app/errors.py).
    library_codes = set(_error_classes("BiometricsError"))
    return app_codes | library_codes | _literal_codes()


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_the_code_finder_agrees_with_the_running_service() -> None:
    import app.main  # noqa: F401  (every router, so every domain's errors)

    codes = service_error_codes()
    assert {cls.code for cls in [AppError, *_subclasses(AppError)]} <= codes
    assert {cls.__name__ for cls in [BiometricsError, *_subclasses(BiometricsError)]} <= codes


def test_the_code_finder_sees_every_kind_of_code() -> None:
    codes = service_error_codes()
    # A domain class, a class beside its domain, a library error, a handler's literal, the
    # HTTP table's default and a body written by hand.
    assert {"SlotTaken", "ReviewClosed", "CorruptVideo", "ValidationError", "HTTPError"} <= codes
    assert {"PayloadTooLarge", "MethodNotAllowed"} <= codes


def _declared_codes() -> dict[str, set[str]]:
    """`code = "..."` in the body of every class under app/, read as text: what the finder
    must see however the classes are spread over the domains' errors modules."""
    declared: dict[str, set[str]] = {}
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if (
                    isinstance(item, ast.Assign)
                    and [getattr(t, "id", None) for t in item.targets] == ["code"]
                    and isinstance(item.value, ast.Constant)
                ):
                    declared.setdefault(path.relative_to(ROOT).as_posix(), set()).add(
                        item.value.value
                    )
    return declared


def test_the_code_finder_sees_every_error_class_beside_its_domain() -> None:
    declared = _declared_codes()
    # Errors live beside their domains; app/errors.py keeps the base and the generic ones.
    domains = {p for p in declared if p.endswith("/errors.py") and p != "app/errors.py"}
    assert len(domains) >= 10, sorted(declared)
    codes = service_error_codes()
    unseen = {p: sorted(c - codes) for p, c in declared.items() if c - codes}
    assert not unseen, f"error classes the page-strings check does not see: {unseen}"


def test_every_error_code_has_words_in_both_languages() -> None:
    table = js_object(JS / "errors.js", "ERRORS")
    missing = sorted(service_error_codes() - table.keys())
    assert not missing, f"static/js/errors.js has no words for {missing}"
    for code, words in table.items():
        assert isinstance(words, dict) and set(words) == LANGUAGES, code
        assert all(text.strip() for text in words.values()), code


def test_the_error_table_holds_only_codes_the_service_sends() -> None:
    stale = sorted(js_object(JS / "errors.js", "ERRORS").keys() - service_error_codes())
    assert not stale, f"static/js/errors.js has words for codes the service no longer has: {stale}"


def test_both_pages_turn_codes_into_the_tables_words() -> None:
    for page in ("STAFF", "PENSIONER"):
        assert "errorWords(" in page_scripts(page), page


# ---- the enums the pages show -------------------------------------------------------------
def appended_to(path: Path, name: str) -> set[str]:
    """The strings a module appends to a list called `name` (`name.append("...")`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "append"
            and getattr(node.func.value, "id", None) == name
        ):
            found.update(
                n.value
                for arg in node.args
                for n in ast.walk(arg)  # both branches of `"a" if ... else "b"`
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            )
    assert found, f"{path} appends nothing to {name}"
    return found


# Why an enrolment photo waits for a second staff member (app/faces/service.py).
ENROLMENT_WAITS = appended_to(ROOT / "app" / "faces" / "service.py", "waits_for")

# Why an attempt waits for a reviewer (app/attempts/processing.py): the liveness check's and
# the selfie's presentation-attack findings, and the face decision's own reasons. The console
# shows any other reason (a calibration slice's name) as it comes.
REVIEW_REASONS = {
    *LivenessReason,
    "selfie_presentation_attack",
    *(f"selfie_{cue.value}" for cue in PadCue),
    *("face_review", "face_match", "face_no_match", "assisted_attempt"),
    *("cohort_too_small", "probe_not_normalised", "no_video_frames"),
    *("face_selfie_video_disagree", "no_calibration", "calibration_for_another_model"),
    "calibration_too_few_pairs",
}

# (page's table, key prefix, the values it is shown with). Each page builds the key with a
# template, `${prefix}${value}`, so a value missing from the table would show as a raw key.
PAGE_ENUMS: list[tuple[str, str, set[str]]] = [
    ("PENSIONER", "status.", {*CertificationStatus, BenefitStatus.suspended}),
    # The result screen shows an uploaded attempt: never one still awaiting its upload.
    ("PENSIONER", "result.", set(AttemptStatus) - {AttemptStatus.awaiting_upload}),
    ("PENSIONER", "video.status.", set(AppointmentStatus)),
    # The call ends with the appointment's status once the agent records the outcome.
    ("PENSIONER", "call.ended.", {*CallOutcome, AppointmentStatus.awaiting_confirmation}),
    ("PENSIONER", "action.", set(Action)),
    ("STAFF", "role.", set(Role)),
    ("STAFF", "method.", set(CertificationMethod)),
    ("STAFF", "residence.", set(Residence)),
    ("STAFF", "benefit.", set(BenefitStatus)),
    ("STAFF", "status.", {*CertificationStatus, BenefitStatus.suspended, BenefitStatus.terminated}),
    ("STAFF", "av.kind.", set(ExceptionKind)),
    ("STAFF", "review_status.", set(ReviewStatus)),
    ("STAFF", "call_status.", set(AppointmentStatus)),
    ("STAFF", "doc_status.", set(DocumentStatus)),
    ("STAFF", "reason.", REVIEW_REASONS),
    ("STAFF", "waits.", ENROLMENT_WAITS),
]


@pytest.mark.parametrize(
    ("page", "prefix", "values"), PAGE_ENUMS, ids=[f"{p}-{k}" for p, k, _ in PAGE_ENUMS]
)
def test_every_enum_value_the_pages_show_has_words(
    page: str, prefix: str, values: set[str]
) -> None:
    assert f"`{prefix}${{" in page_scripts(page), f"the {page} page no longer shows {prefix}*"
    strings = js_object(JS / "strings.js", page)
    assert set(strings) == LANGUAGES
    for language, texts in strings.items():
        missing = sorted(f"{prefix}{v}" for v in values if f"{prefix}{v}" not in texts)
        assert not missing, f"{page}.{language} in static/js/strings.js lacks {missing}"


def test_the_reader_fails_on_a_table_it_cannot_read(tmp_path: Path) -> None:
    script = tmp_path / "bad.js"
    script.write_text('export const T = { zh: { a: "一" }, en: { a: 1 } };\n', encoding="utf-8")
    with pytest.raises(AssertionError, match="not '1'"):
        js_object(script, "T")
    script.write_text('export const T = { zh: { "a.b": "一, \\"二\\"" } };\n', encoding="utf-8")
    assert js_object(script, "T") == {"zh": {"a.b": '一, "二"'}}
