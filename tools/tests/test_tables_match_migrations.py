"""Each service's ``tables.py`` declares what its migrations create (real PostgreSQL).

The migrations are what a database is; ``tables.py`` is where it is read, so it
states the same: every index (method, operator classes, ``WHERE``), key, default and
CHECK constraint (its allowed values).
A migration without the matching declaration, or a declaration no migration made,
fails here with the differences (``tools.tests.schema_drift``).
"""

import importlib
import pprint

import pytest

from tests.stack import migrated_database
from tools import registry
from tools.tests.schema_drift import schema_drift

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", registry.names())
def test_tables_declare_what_the_migrations_create(service, run_id):
    metadata = importlib.import_module(f"services.{service}.tables").metadata
    with migrated_database(f"t{run_id}_tables", service) as url:
        drift = schema_drift(metadata, url)
    assert drift == [], f"{service}: tables.py and the migrations differ:\n{pprint.pformat(drift)}"
