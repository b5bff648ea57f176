"""Key rotation and the start-up key check, against a real PostgreSQL database.

A scratch database with one text column and one JSON-held value stands in for a
service's tables; the service-level proof (real stack, both services) is in
``tests/privacy``.
"""

import io
import threading

import pytest
import sqlalchemy as sa

from services.tickets.settings import TicketsSettings
from shared.crypto import (
    Binding,
    Keyring,
    MissingDataKey,
    TamperedValue,
    generate_key,
    key_id_of,
    sealed_columns,
)
from shared.db import make_engine
from shared.key_check import LegacyBindingRefused, check_stored_keys, count_by_format, count_by_key
from shared.tests.sealed_before import seal_as_before
from tests.stack import BASE_PG
from tools import registry, rotate_keys
from tools.migrate import drop_database, ensure_database
from tools.rotate_keys import rotate_column

pytestmark = pytest.mark.integration

# Declared as a service's manifest.py would: the commands find "scratch" here.
NAME = "scratch"
SETTINGS = TicketsSettings
DATABASE_SETTING = "tickets_database_url"
INSTANCES_SETTING = "tickets_instances"
MIGRATIONS = "."
EVENT_QUEUES = ()
ENCRYPTED_COLUMNS = (("notes", "body", "id"), ("events", "body", "event_id", "sealed"))
SEALED_CONTEXT = {"notes": ("owner",), "events": ("routing_key",)}
NOTES, EVENTS = sealed_columns(ENCRYPTED_COLUMNS, SEALED_CONTEXT)
OLD, NEW = generate_key(), generate_key()
OLD_RING = Keyring.from_spec(f"old={OLD}")
BOTH = Keyring.from_spec(f"new={NEW},old={OLD}")
NEW_ONLY = Keyring.from_spec(f"new={NEW}")
ROWS = 23


@pytest.fixture(scope="module")
def database_url(run_id):
    url = f"{BASE_PG}/helpdesk_t{run_id}_rotation"
    ensure_database(url)
    yield url
    drop_database(url)


@pytest.fixture
def engine(database_url):
    """Fresh scratch tables: ROWS notes (two NULL) and ROWS events, all under ``old``."""
    engine = make_engine(database_url, pool_size=2)
    with engine.begin() as db:
        db.execute(sa.text("DROP TABLE IF EXISTS notes, events"))
        db.execute(sa.text("CREATE TABLE notes (id bigint PRIMARY KEY, owner text, body text)"))
        db.execute(
            sa.text(
                "CREATE TABLE events (id bigserial, event_id uuid UNIQUE, "
                "routing_key text, body jsonb)"
            )
        )
        for i in range(1, ROWS + 1):
            note = {"id": i, "owner": f"owner-{i % 3}"}
            body = None if i in (5, 6) else OLD_RING.encrypt(f"note {i}", NOTES.binding(i, note))
            db.execute(
                sa.text("INSERT INTO notes VALUES (:id, :owner, :body)"), note | {"body": body}
            )
            event_id = f"00000000-0000-0000-0000-{i:012d}"
            event = {"routing_key": f"ticket.kind{i % 2}"}
            sealed = OLD_RING.encrypt(f"event {i}", EVENTS.binding(event_id, event))
            db.execute(
                sa.text(
                    "INSERT INTO events (event_id, routing_key, body) VALUES "
                    "(CAST(:e AS uuid), :r, jsonb_build_object('event_id', CAST(:t AS text), "
                    "'sealed', CAST(:s AS text)))"
                ),
                {"e": event_id, "t": event_id, "s": sealed, "r": event["routing_key"]},
            )
    yield engine
    engine.dispose()


def read_all(engine, keyring, column) -> dict:
    selected = ", ".join([f"{column.id_column} AS id", f"{column.value} AS v", *column.context])
    with engine.connect() as db:
        rows = db.execute(sa.text(f"SELECT {selected} FROM {column.table}")).all()
    return {str(r.id): keyring.decrypt(r.v, column.binding(r.id, r._mapping)) for r in rows}


def seal_notes_as_before(engine, keyring) -> None:
    """Every note's body as the code before context bindings sealed it (hd1)."""
    with engine.begin() as db:
        for note in db.execute(sa.text("SELECT id, owner FROM notes WHERE body IS NOT NULL")):
            old = seal_as_before(keyring, f"note {note.id}", NOTES.binding(note.id, note._mapping))
            db.execute(
                sa.text("UPDATE notes SET body = :b WHERE id = :id"), {"b": old, "id": note.id}
            )


def formats_in(engine, column) -> dict:
    with engine.connect() as db:
        return count_by_format(db, column)


def keys_in(engine, column) -> dict:
    with engine.connect() as db:
        return count_by_key(db, column)


def test_rotation_moves_every_value_to_the_active_key(engine):
    before = {c: read_all(engine, OLD_RING, c) for c in (NOTES, EVENTS)}
    seen = []
    for column in (NOTES, EVENTS):
        result = rotate_column(
            engine, column, BOTH, batch=5, progress=lambda *a: seen.append(a), pause=0
        )
        assert result.remaining == 0 and result.tampered == []
    assert keys_in(engine, NOTES) == {"new": ROWS - 2}
    assert keys_in(engine, EVENTS) == {"new": ROWS}
    # Readable with the new key alone, the same text, NULLs untouched.
    assert {c: read_all(engine, NEW_ONLY, c) for c in (NOTES, EVENTS)} == before
    assert before[NOTES]["5"] is None
    # Progress was reported batch by batch, counting up to the total.
    assert [s for s in seen if s[0] == "notes.body"][-1] == ("notes.body", ROWS - 2, ROWS - 2)
    assert len([s for s in seen if s[0] == "notes.body"]) == 5
    # Running again touches nothing.
    assert rotate_column(engine, NOTES, BOTH, batch=5, pause=0).rotated == 0


class Interrupted(Exception):
    pass


def stop_after_two_batches(label, done, total):
    """A progress callback that interrupts the rotation after two batches of 5."""
    if done >= 10:
        raise Interrupted


def test_an_interrupted_rotation_resumes_by_running_again(engine):
    with pytest.raises(Interrupted):
        rotate_column(engine, NOTES, BOTH, batch=5, progress=stop_after_two_batches, pause=0)
    assert keys_in(engine, NOTES) == {"new": 10, "old": ROWS - 12}
    result = rotate_column(engine, NOTES, BOTH, batch=5, pause=0)
    assert result.rotated == ROWS - 12 and result.remaining == 0
    assert read_all(engine, NEW_ONLY, NOTES)["23"] == "note 23"


def test_rows_a_service_holds_are_skipped_then_picked_up(engine):
    """Online: a row locked by a service transaction does not block the rotation."""
    holding, release = threading.Event(), threading.Event()

    def service_transaction():
        with engine.begin() as db:
            db.execute(sa.text("SELECT 1 FROM notes WHERE id = 7 FOR UPDATE"))
            holding.set()
            release.wait(10)

    worker = threading.Thread(target=service_transaction)
    worker.start()
    holding.wait(10)
    try:
        result = rotate_column(engine, NOTES, BOTH, batch=5, passes=1)
        assert result.rotated == ROWS - 3 and result.remaining == 1
    finally:
        release.set()
        worker.join()
    assert rotate_column(engine, NOTES, BOTH, batch=5).remaining == 0


def test_a_tampered_value_is_reported_and_left_alone(engine):
    with engine.begin() as db:
        swapped = db.execute(sa.text("SELECT body FROM notes WHERE id = 1")).scalar_one()
        db.execute(sa.text("UPDATE notes SET body = :b WHERE id = 2"), {"b": swapped})
    result = rotate_column(engine, NOTES, BOTH, batch=5, passes=2, pause=0)
    assert result.tampered == [2] and result.remaining == 1
    assert keys_in(engine, NOTES) == {"new": ROWS - 3, "old": 1}
    with pytest.raises(TamperedValue):
        read_all(engine, BOTH, NOTES)


def test_rotation_without_the_old_key_stops_with_missing_key(engine):
    with pytest.raises(MissingDataKey):
        rotate_column(engine, NOTES, NEW_ONLY, batch=5, pause=0)
    assert keys_in(engine, NOTES) == {"old": ROWS - 2}  # nothing half-done


def test_start_up_check_names_the_missing_key(engine):
    with pytest.raises(MissingDataKey, match=r"'old': 21 values"):
        check_stored_keys(engine, [ENCRYPTED_COLUMNS[0]], NEW_ONLY)
    check_stored_keys(engine, [ENCRYPTED_COLUMNS[0]], BOTH)  # all keys present: fine
    rotate_column(engine, NOTES, BOTH, pause=0)
    check_stored_keys(engine, [ENCRYPTED_COLUMNS[0]], NEW_ONLY)  # rotated: old key not needed


def test_a_service_without_a_needed_key_refuses_to_start(
    engine, database_url, amqp_url, container_factory, make_settings
):
    from nameko.rpc import rpc

    from shared.data_keyring import DataKeyring

    class Scratch:
        name = "scratch"
        keyring = DataKeyring("tickets_database_url", [ENCRYPTED_COLUMNS[0]])

        @rpc
        def ping(self):
            return "pong"

    def settings(keys, **env):
        return make_settings(
            HELPDESK_AMQP_URL=amqp_url,
            HELPDESK_TICKETS_DATABASE_URL=database_url,
            HELPDESK_DATA_KEYS=keys,
            **env,
        ).nameko_config()

    container = container_factory(Scratch, settings(f"new={NEW}"))
    with pytest.raises(RuntimeError, match=r"scratch refuses to start: .*'old': 21 values"):
        container.start()
    container = container_factory(Scratch, settings(f"new={NEW},old={OLD}"))
    container.start()
    container.stop()

    # Values under the old binding: refused at start unless the upgrade accepts them.
    seal_notes_as_before(engine, OLD_RING)
    container = container_factory(Scratch, settings(f"new={NEW},old={OLD}"))
    with pytest.raises(RuntimeError, match=r"refuses to start: 21 .* old binding"):
        container.start()
    container = container_factory(
        Scratch, settings(f"new={NEW},old={OLD}", HELPDESK_DATA_LEGACY_BINDING="accept")
    )
    container.start()
    container.stop()


def register_scratch(monkeypatch):
    """Make this module the only registered service, for the commands under test."""
    monkeypatch.setattr(registry, "MANIFESTS", (__name__,))
    registry.services.cache_clear()  # and again after the test (below)


@pytest.fixture(autouse=True)
def _registry_as_it_was():
    yield
    registry.services.cache_clear()


def test_check_command_reports_keys_and_what_can_be_removed(
    engine, database_url, make_settings, monkeypatch
):
    register_scratch(monkeypatch)
    settings = make_settings(HELPDESK_TICKETS_DATABASE_URL=database_url)
    seal_notes_as_before(engine, OLD_RING)
    out = io.StringIO()
    totals = rotate_keys.check(settings, ["scratch"], BOTH, out)
    assert totals == {"old": 2 * ROWS - 2}
    text = out.getvalue()
    assert "notes.body" in text and "events.body.sealed" in text
    assert "key old: 44 values still need it" in text
    assert "(old binding: 21)" in text and "old binding (hd1): 21 values: run the rotation" in text
    assert rotate_keys.rotate(settings, ["scratch"], BOTH, batch=7, err=io.StringIO()) == 0
    out = io.StringIO()
    assert rotate_keys.check(settings, ["scratch"], BOTH, out) == {"new": 2 * ROWS - 2}
    assert "key old: 0 values: safe to remove" in out.getvalue()
    assert "old binding (hd1): 0 values" in out.getvalue()


def test_command_line(engine, database_url, monkeypatch, capsys):
    register_scratch(monkeypatch)
    monkeypatch.setenv("HELPDESK_ENV", "test")
    monkeypatch.setenv("HELPDESK_TICKETS_DATABASE_URL", database_url)
    monkeypatch.setenv("HELPDESK_DATA_KEYS", f"old={OLD},new={NEW}")
    monkeypatch.setenv("HELPDESK_DATA_ACTIVE_KEY", "new")
    assert rotate_keys.main(["scratch", "--check", "--without", "old"]) == 1
    assert rotate_keys.main(["scratch", "--batch", "4"]) == 0
    err = capsys.readouterr().err
    assert "notes.body: 4/21 re-encrypted" in err and "notes.body: done, 21" in err
    assert rotate_keys.main(["scratch", "--check", "--without", "old"]) == 0
    assert rotate_keys.main(["scratch", "--check", "--without", "new"]) == 1  # the active key
    monkeypatch.setenv("HELPDESK_DATA_KEYS", f"new={NEW}")
    assert rotate_keys.main(["scratch", "--check"]) == 0
    with pytest.raises(SystemExit):
        rotate_keys.main(["nope"])
    monkeypatch.setenv("HELPDESK_DATA_KEYS", "broken")
    with pytest.raises(SystemExit) as exit:
        rotate_keys.main(["scratch"])
    assert exit.value.code == 2
    assert "helpdesk-rotate-keys: configuration error" in capsys.readouterr().err


def test_every_service_declares_its_encrypted_columns():
    declared = {s: {c.label for c in rotate_keys.declared_columns(s)} for s in registry.names()}
    assert {"tickets.description", "tickets.resolution_note", "tickets.closed_note"} <= declared[
        "tickets"
    ]
    assert {"messages.body", "outbox.body.sealed"} <= declared["tickets"]
    assert "notices.body" in declared["notifications"]


def test_values_are_bound_to_their_row_and_its_context_in_the_declared_column():
    assert NOTES.binding(3, {"owner": "o"}) == Binding("notes", "body", 3, (("owner", "o"),))
    assert key_id_of(OLD_RING.encrypt("x", NOTES.binding(3, {"owner": "o"}))) == "old"


def test_every_service_binds_who_may_read_its_values():
    bound = {
        (c.table, c.column): c.context
        for s in registry.names()
        for c in rotate_keys.declared_columns(s)
    }
    for column in ("description", "resolution_note", "closed_note"):
        assert "owner_id" in bound["tickets", column]
    assert {"ticket_id", "internal"} <= set(bound["messages", "body"])
    assert {"recipient_id", "ticket_id"} <= set(bound["notices", "body"])
    assert "routing_key" in bound["outbox", "body"]
    # Every sealed column of a table is bound alike (a column added later too).
    for table in {t for t, _ in bound}:
        assert len({bound[k] for k in bound if k[0] == table}) == 1, table


# --- the re-seal from the old, row-only binding (hd1) -----------------------------------
def test_rotation_reseals_old_binding_values_under_the_same_key(engine):
    seal_notes_as_before(engine, OLD_RING)
    assert formats_in(engine, NOTES) == {("hd1", "old"): ROWS - 2}
    with pytest.raises(TamperedValue, match="old binding"):
        read_all(engine, OLD_RING, NOTES)  # refused by default
    result = rotate_column(engine, NOTES, OLD_RING, batch=5, pause=0)
    assert result.rotated == ROWS - 2 and result.remaining == 0 and result.tampered == []
    assert formats_in(engine, NOTES) == {("hd2", "old"): ROWS - 2}
    assert read_all(engine, OLD_RING, NOTES)["23"] == "note 23"
    # Now bound to the owner: a note moved to another owner is refused.
    with engine.begin() as db:
        db.execute(sa.text("UPDATE notes SET owner = 'someone else' WHERE id = 4"))
    with pytest.raises(TamperedValue, match="authentication"):
        read_all(engine, OLD_RING, NOTES)
    assert rotate_column(engine, NOTES, OLD_RING, batch=5, pause=0).rotated == 0


def test_an_interrupted_reseal_resumes_and_rotates_the_key_at_once(engine):
    seal_notes_as_before(engine, OLD_RING)

    with pytest.raises(Interrupted):
        rotate_column(engine, NOTES, BOTH, batch=5, progress=stop_after_two_batches, pause=0)
    assert formats_in(engine, NOTES) == {("hd2", "new"): 10, ("hd1", "old"): ROWS - 12}
    assert rotate_column(engine, NOTES, BOTH, batch=5, pause=0).rotated == ROWS - 12
    assert read_all(engine, NEW_ONLY, NOTES)["23"] == "note 23"


def test_start_up_check_refuses_old_binding_values_unless_accepted(engine, caplog):
    seal_notes_as_before(engine, OLD_RING)
    with pytest.raises(LegacyBindingRefused, match="21 stored values are sealed with the old"):
        check_stored_keys(engine, [ENCRYPTED_COLUMNS[0]], BOTH)
    accepting = Keyring.from_spec(f"new={NEW},old={OLD}", accept_legacy=True)
    check_stored_keys(engine, [ENCRYPTED_COLUMNS[0]], accepting)
    assert "21 stored values are still sealed with the old binding" in caplog.text
    assert read_all(engine, accepting, NOTES)["7"] == "note 7"  # served during the upgrade
    rotate_column(engine, NOTES, BOTH, pause=0)
    check_stored_keys(engine, [ENCRYPTED_COLUMNS[0]], BOTH)  # re-sealed: refusing is fine


def test_start_up_check_refuses_unencrypted_values(engine):
    with engine.begin() as db:
        db.execute(sa.text("UPDATE notes SET body = 'typed by hand: not sealed' WHERE id = 3"))
    with pytest.raises(MissingDataKey, match="1 stored values are not encrypted"):
        check_stored_keys(engine, [ENCRYPTED_COLUMNS[0]], BOTH)
