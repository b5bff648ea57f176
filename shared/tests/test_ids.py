"""Row ids: one spelling per ticket or notice, within PostgreSQL's bigint."""

import pytest

from shared.ids import MAX_ROW_ID, row_id

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", [12, "12", "012", MAX_ROW_ID, str(MAX_ROW_ID)])
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
    ],
)
def test_anything_else_names_no_row(value):
    assert row_id(value) is None
