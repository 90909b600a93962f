"""The 18-character resident ID: birth date and ISO 7064 MOD 11-2 check character."""

from datetime import date

import pytest

from app import national_id


@pytest.mark.parametrize(
    "valid", ["11010519491231002X", "11010519491231002x", "440524188001010014"]
)
def test_valid_numbers(valid: str) -> None:
    assert national_id.validate(valid) == valid.upper()


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ("110105194912310021", "check character"),
        ("11010519491331002X", "real date of birth"),
        ("1101051949123100", "18 characters"),
        ("11010519491231002Y", "18 characters"),
        ("110105285001010014", "impossible"),
    ],
)
def test_invalid_numbers_say_why(value: str, phrase: str) -> None:
    with pytest.raises(national_id.NationalIdError, match=phrase):
        national_id.validate(value)


def test_make_builds_valid_numbers_with_sex() -> None:
    male = national_id.make("310115", date(1945, 7, 1), 11)
    female = national_id.make("310115", date(1945, 7, 1), 12)
    assert national_id.validate(male) == male
    assert (national_id.sex(male), national_id.sex(female)) == ("M", "F")
    assert national_id.birth_date(male) == date(1945, 7, 1)
