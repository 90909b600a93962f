"""Writes the generated parts of docs/api.md from the code: the error catalogue and the table of
operations. `--check` changes nothing and exits 1 when the file is out of date (the contract
test runs the same comparison).

    .venv/bin/python scripts/api_docs.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "api.md"
SECTION = re.compile(
    r"(<!-- generated: (?P<name>[a-z-]+) \(scripts/api_docs.py\) -->\n)(?P<body>.*?)"
    r"(<!-- end generated: (?P=name) -->)",
    re.DOTALL,
)


def generated_sections() -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from app.config import Environment, Settings
    from app.main import create_app
    from app.openapi import error_catalogue, render_error_catalogue, render_operations

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            env=Environment.test,
            data_dir=Path(scratch),
            database_url=f"sqlite:///{scratch}/docs.db",
            secret_key="api-docs-only-key-never-used-to-sign-anything",
        )
        document = create_app(settings).openapi()
    return {
        "error-catalogue": render_error_catalogue(error_catalogue()),
        "operations": render_operations(document),
    }


def rewrite(text: str, sections: dict[str, str]) -> str:
    found = {m.group("name") for m in SECTION.finditer(text)}
    if missing := sections.keys() - found:
        raise SystemExit(f"{DOC}: no generated section for {sorted(missing)}")
    return SECTION.sub(lambda m: m.group(1) + sections[m.group("name")] + m.group(4), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is stale")
    args = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    updated = rewrite(text, generated_sections())
    if args.check:
        if updated != text:
            print(f"{DOC} is out of date: run .venv/bin/python scripts/api_docs.py")
            return 1
        return 0
    DOC.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
