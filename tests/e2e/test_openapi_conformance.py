"""Schemathesis against the running stack: its answers never contradict /openapi.json.

Schemathesis reads the document the gateway serves, generates requests for every
operation (valid ones and invalid ones, then call sequences that follow the
document's links) and checks each answer: never a 5xx, only documented status
codes, content types and headers, bodies that match the documented schemas,
invalid input refused, no operation served without a valid token. It runs
once as a user and once as an admin, a bounded number of examples per operation
and a fixed seed, so a run takes about a minute and a failure can be replayed.

Left out, on purpose, is ``positive_data_acceptance`` (a request the document
allows must succeed): the document cannot say everything a field's validity
depends on (an opaque cursor that must be one the API issued, a resolution note
allowed only with ``resolved``), so those answers are a documented 422 that this
check would count as failures. Left out too is ``ensure_resource_availability`` (a
resource just created can be fetched): the stateful phase sends a step again with the
same data, Idempotency-Key included, and by the contract a repeat gets the first
answer again, naming a resource that a step in between may have deleted (a macro, in
one CI run: created, deleted, then "created" again by the repeat). That a created
resource is there is checked by the end-to-end tests of each collection.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import faults_logged_since, log_marks, unique

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = 30  # per operation and phase: about a minute for both roles on 2 cores
SEED = 20261203
ROOT = Path(__file__).resolve().parents[2]
# The ``st`` command, with more room for recursion: its negative-case generator
# recurses through the document's nested anyOf schemas and, now and then, hit
# Python's default limit inside ``ast`` (a "Runtime Error" of the tool, not a finding);
# and with our hooks (schemathesis_hooks.py) loaded.
ST = [
    sys.executable,
    "-c",
    "import sys, threading; sys.setrecursionlimit(20000); threading.stack_size(256 << 20);"
    f"sys.path.insert(0, {str(ROOT)!r}); import tests.e2e.schemathesis_hooks;"
    "from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())",
]


@pytest.fixture(scope="module")
def stack(make_stack):
    """A stack of its own: as an admin, schemathesis creates teams, which route (and
    may assign) every later ticket; on the shared stack they would steer other tests'."""
    return make_stack()


@pytest.mark.parametrize("role", ["user", "admin"])
def test_every_answer_conforms_to_the_openapi_document(stack, role, tmp_path):
    token = stack.token(unique(f"schemathesis-{role}"), role, "Schema Thesis")
    marks = log_marks(stack)
    result = subprocess.run(
        [
            *ST,
            "run",
            f"{stack.base_url}/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance,ensure_resource_availability",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "2",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        cwd=tmp_path,  # schemathesis keeps a .schemathesis cache in its working directory
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-4000:]
    # Every operation was tested (a document it could not read would test none).
    selected = re.search(r"Selected: (\d+)/(\d+)", result.stdout)
    tested = re.search(r"Tested: (\d+)", result.stdout)
    assert selected and tested and tested[1] == selected[1] == selected[2], result.stdout[-3000:]
    assert int(tested[1]) >= 19
    assert not faults_logged_since(stack, marks)
