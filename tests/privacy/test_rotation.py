"""Key rotation on a running stack, by the documented procedure (docs/security.md).

1. The services get the new key, active, beside the old one (restart).
2. ``helpdesk-rotate-keys`` re-encrypts both databases while the API keeps
   taking writes.
3. ``--check --without OLD`` says the old key is no longer needed.
4. The services restart with the new key only and every text reads back intact.
5. A service given only the old key refuses to start, naming the key it lacks.

And the upgrade to context bindings: values sealed with the old, row-only binding
read while ``HELPDESK_DATA_LEGACY_BINDING=accept``, the same command re-seals them
online, and afterwards they are bound to their readers.
"""

import time

import pytest
import sqlalchemy as sa

from shared.crypto import Keyring, generate_key
from shared.db import make_engine
from shared.tests.sealed_before import seal_as_before
from tests.e2e.conftest import Api
from tests.privacy.scenario import (
    DATABASES,
    SERVICES,
    execute,
    formats_in_use,
    keys_in_use,
    read_back,
    replies_meanwhile,
    restart_services,
    rotate_keys,
    sealed_rows,
    seed,
)
from tools.rotate_keys import declared_columns

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The owner keeps replying while the command runs: more than the hourly reply limit.
WRITES_DURING_ROTATION = {"HELPDESK_MESSAGES_PER_HOUR": "1000"}


def test_rotation_leaves_everything_readable_and_nothing_under_the_old_key(make_stack):
    stack = make_stack(**WRITES_DURING_ROTATION)
    seeded = seed(stack)
    old = stack.env["HELPDESK_DATA_KEYS"]
    assert old.startswith("t1=")
    new = f"t2={generate_key()}"
    assert keys_in_use(stack).keys() == {"t1"}

    # 1. Every service can read both keys; new text is sealed under t2 from now on.
    restart_services(stack, f"{new},{old}")

    # 2. Rotate online: the API keeps taking replies while the command runs.
    with replies_meanwhile(seeded, "rotation") as (written, failures):
        rotation = rotate_keys(stack, "--batch", "2")
    assert rotation.returncode == 0, rotation.stderr
    assert "messages.body: 2/" in rotation.stderr  # progress, batch by batch
    assert "notices.body: done" in rotation.stderr
    assert failures == [] and written

    # 3. Nothing is left under the old key; the check command says so.
    assert keys_in_use(stack).keys() == {"t2"}
    check = rotate_keys(stack, "--check", "--without", "t1")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "key t1: 0 values: safe to remove" in check.stdout

    # 4. Only the new key: everything reads back, old text and new.
    restart_services(stack, new)
    read_back(seeded)
    messages = seeded.user.get(f"/api/v1/tickets/{seeded.resolved_id}").json()["messages"]
    assert [m["body"] for m in messages][3:] == written

    # 5. Only the old key: the services refuse to start and say why.
    stack.env["HELPDESK_DATA_KEYS"] = old
    for service in SERVICES:
        stack.stop(service)
        stack.start(service)
    deadline = time.monotonic() + 60
    labels = [label for label in stack.procs if label.split(".")[0] in SERVICES]
    while time.monotonic() < deadline and any(stack.procs[x].poll() is None for x in labels):
        time.sleep(0.3)
    for label in labels:
        assert stack.procs[label].poll() not in (None, 0), f"{label} started without its key"
    for service in SERVICES:
        logs = stack.logs(service)
        assert "refuses to start" in logs and "'t2'" in logs, logs[-2000:]
        assert seeded.marker not in logs
    for service in SERVICES:
        stack.stop(service)
    restart_services(stack, new)
    read_back(seeded)


def seal_everything_as_before(stack) -> int:
    """Every sealed value of both databases re-written as the code before context
    bindings wrote it (hd1, bound to its row only): a database being upgraded."""
    keyring = Keyring.from_spec(stack.env["HELPDESK_DATA_KEYS"])
    done = 0
    for service, var in DATABASES.items():
        engine = make_engine(stack.env[var], pool_size=1)
        try:
            with engine.begin() as db:
                for column in declared_columns(service):
                    update = sa.text(
                        f"UPDATE {column.table} SET {column.assignment()} "
                        f"WHERE {column.id_column} = :id"
                    )
                    for row in sealed_rows(db, column):
                        binding = column.binding(row.id, row._mapping)
                        old = seal_as_before(keyring, keyring.decrypt(row.v, binding), binding)
                        db.execute(update, {"id": row.id, "new": old})
                        done += 1
        finally:
            engine.dispose()
    return done


def bindings_in_use(stack) -> set:
    """The binding versions of every stored value of both services."""
    return {prefix for prefix, _ in formats_in_use(stack)}


def test_the_rotation_command_reseals_values_of_the_old_binding(make_stack):
    """An upgrade: values sealed before context bindings keep reading while
    accepted, the rotation command re-seals them online, then they are bound."""
    stack = make_stack(**WRITES_DURING_ROTATION)
    seeded = seed(stack)
    assert seal_everything_as_before(stack) >= 11
    assert bindings_in_use(stack) == {"hd1"}

    # Refused by default: the services read none of it.
    response = seeded.user.get(f"/api/v1/tickets/{seeded.resolved_id}")
    assert response.status_code == 500 and seeded.marker not in response.text
    assert "old binding" in response.json()["error"]["message"]

    # During the upgrade: accepted (with a warning), so everything reads back.
    restart_services(stack, HELPDESK_DATA_LEGACY_BINDING="accept")
    read_back(seeded)
    assert "stored values are still sealed with the old binding" in stack.logs("tickets")

    # The re-seal, while the API keeps taking replies.
    with replies_meanwhile(seeded, "the re-seal", most=20) as (written, failures):
        reseal = rotate_keys(stack, "--batch", "2")
    assert reseal.returncode == 0, reseal.stderr
    assert "binding hd2" in reseal.stderr and "messages.body: 2/" in reseal.stderr
    assert failures == [] and written
    assert bindings_in_use(stack) == {"hd2"}
    check = rotate_keys(stack, "--check")
    assert "old binding (hd1): 0 values" in check.stdout, check.stdout

    # Re-sealed: the old binding refused again, everything reads, and is now bound.
    restart_services(stack, HELPDESK_DATA_LEGACY_BINDING="refuse")
    read_back(seeded)
    messages = seeded.user.get(f"/api/v1/tickets/{seeded.resolved_id}").json()["messages"]
    assert [m["body"] for m in messages][3:] == written
    url = stack.env["HELPDESK_TICKETS_DATABASE_URL"]
    execute(url, "UPDATE tickets SET owner_id = 'someone-else' WHERE id = :id", id=seeded.closed_id)
    thief = Api(stack, "someone-else", "user")
    response = thief.get(f"/api/v1/tickets/{seeded.closed_id}")
    assert response.status_code == 500 and seeded.marker not in response.text
    assert response.json()["error"]["code"] == "data_integrity_error"
