"""Row ids: one spelling per ticket or notice, a positive integer of at most 18 digits."""

import pytest

from shared.ids import MAX_ROW_ID, row_id

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "value", [12, "12", "012", MAX_ROW_ID, str(MAX_ROW_ID), "9" * 18, "0" * 17 + "1"]
)
def test_ids_in_range_are_read(value):
    assert row_id(value) == int(value)


@pytest.mark.parametrize(
    "value",
    [
        0,
        "0",
        -1,
        MAX_ROW_ID + 1,
        str(MAX_ROW_ID + 1),
        "+12",
        " 12",
        "١٢",
        "１２",
        "12.0",
        12.0,
        True,
        None,
        "",
        "abc",
        "1" * 19,
        "0" * 18 + "1",
        "9" * 5000,  # int() refuses over 4,300 digits: must be None, not a ValueError
        10**18,
    ],
)
def test_anything_else_names_no_row(value):
    assert row_id(value) is None
