"""docs/api.md, the API's human-readable reference, lists every route the gateway serves."""

import re
from pathlib import Path

import pytest

from services.gateway.errors import CODE_BY_STATUS
from services.gateway.routes import by_path

pytestmark = pytest.mark.unit

API_DOC = Path(__file__).resolve().parents[4] / "docs" / "api.md"


def test_every_route_is_in_the_reference_and_nothing_else():
    listed = set(re.findall(r"^\| `([A-Z]+) (/[^`]*)` \|", API_DOC.read_text(), re.M))
    served = {(method.upper(), path) for path, methods in by_path().items() for method in methods}
    assert listed == served


def test_every_error_code_in_the_reference_is_one_the_gateway_answers_with():
    codes = set(re.findall(r"`([a-z_]+)`", API_DOC.read_text().split("## Errors")[1]))
    documented = codes & set(CODE_BY_STATUS.values())
    assert documented >= {"validation_failed", "not_found", "conflict", "rate_limited"}
    statuses = re.findall(r"^\| (\d{3})(?:, (\d{3}))? \| `([a-z_]+)`", API_DOC.read_text(), re.M)
    for first, second, code in statuses:
        assert CODE_BY_STATUS[int(first)] == code.split("`")[0]
        if second:
            assert int(second) in CODE_BY_STATUS
