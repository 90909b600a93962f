"""Money in request bodies: a whole number of fen, sent as a JSON integer."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo

# validate(..., context={CSV_TEXT: True}): amounts arrive as text (the CSV import).
CSV_TEXT = "csv_text"
# A monthly benefit above one million yuan is a typing error, not a pension.
MAX_MONTHLY_FEN = 100_000_000


def _whole_fen(value: Any, info: ValidationInfo) -> Any:
    # Without this, 3500.0 would pass as 3500 and "3500" as well: an amount that left a
    # spreadsheet as a float would be taken silently, and 3500.5 refused only by accident.
    if isinstance(value, bool | float):
        raise ValueError("an amount is a whole number of fen, written without a decimal point")
    if isinstance(value, str) and not (info.context or {}).get(CSV_TEXT):
        raise ValueError("an amount is a JSON number of fen, not text")
    return value


# The bounds come before the check so that the OpenAPI document shows them as
# minimum/maximum of the integer.
Fen = Annotated[int, Field(ge=0), BeforeValidator(_whole_fen)]
MonthlyFen = Annotated[int, Field(ge=0, le=MAX_MONTHLY_FEN), BeforeValidator(_whole_fen)]
