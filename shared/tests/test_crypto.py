"""The at-rest cipher (shared.crypto), its stored format, key specs and key loading
(shared.data_keys)."""

import base64
import os
import stat
import subprocess
import sys

import pytest

from shared import crypto, data_keys
from shared.config import Settings
from shared.crypto import (
    Binding,
    Keyring,
    MissingDataKey,
    TamperedValue,
    generate_key,
    key_id_of,
    parse_key_spec,
)
from shared.data_keys import keyring_from_settings
from shared.tests.sealed_before import seal_as_before

pytestmark = pytest.mark.unit

K1, K2 = generate_key(), generate_key()
ROW = Binding("messages", "body", 42, (("ticket_id", "7"), ("internal", "false")))


def row(table="messages", column="body", row_id=42, ticket_id="7", internal="false"):
    return Binding(table, column, row_id, (("ticket_id", ticket_id), ("internal", internal)))


def ring(spec=None, active=None):
    return Keyring.from_spec(spec or f"k1={K1},k2={K2}", active)


def flip(stored: str, index: int) -> str:
    """Flip one bit of the decoded blob at ``index`` and re-encode it."""
    prefix, key_id, body = stored.split(":", 2)
    blob = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    blob[index] ^= 0x01
    return f"{prefix}:{key_id}:{base64.urlsafe_b64encode(bytes(blob)).rstrip(b'=').decode()}"


# --- round trip ------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "hello", "ünïcødé ✓ — 日本語", "x" * 70_000, "a:b:c"])
def test_round_trip(text):
    keyring = ring()
    stored = keyring.encrypt(text, ROW)
    assert stored.startswith("hd2:k1:")
    if len(text) >= 5:
        assert text not in stored
    assert keyring.decrypt(stored, ROW) == text


def test_none_stays_none():
    assert ring().encrypt(None, ROW) is None
    assert ring().decrypt(None, ROW) is None
    assert ring().reencrypt(None, ROW) is None


def test_same_text_twice_gives_different_ciphertexts():
    keyring = ring()
    assert keyring.encrypt("same", ROW) != keyring.encrypt("same", ROW)


def test_value_records_its_key_id():
    assert key_id_of(ring(active="k2").encrypt("t", ROW)) == "k2"


# --- bound to its row and to who may read it -------------------------------------------
@pytest.mark.parametrize(
    "other",
    [
        row(row_id=43),
        row(table="tickets", column="description"),
        row(column="x"),
        row(ticket_id="8"),  # the message moved to another ticket
        row(internal="true"),  # an internal note's flag flipped, or the reverse
        Binding("messages", "body", 42),  # bound to less
    ],
)
def test_a_value_moved_to_another_row_column_or_reader_is_refused(other):
    keyring = ring()
    stored = keyring.encrypt("secret", ROW)
    with pytest.raises(TamperedValue, match="authentication"):
        keyring.decrypt(stored, other)


def test_the_associated_data_leads_with_its_version_and_is_unambiguous():
    assert ROW.associated() == b"3:hd2|8:messages|4:body|2:42|9:ticket_id|1:7|8:internal|5:false"
    assert ROW.associated("hd1") == b"messages/body/42"
    # Separators inside a value cannot forge another binding.
    a = Binding("tickets", "description", 1, (("owner_id", "1:a|1:b"),))
    b = Binding("tickets", "description", 1, (("owner_id", "a"), ("b", None)))
    c = Binding("tickets", "description", 1, (("owner_id", "a"), ("b", "~")))
    assert len({a.associated(), b.associated(), c.associated()}) == 3


def test_context_values_are_compared_as_text_whatever_their_type():
    from shared.crypto import EncryptedColumn

    column = EncryptedColumn("messages", "body", "id", context=("ticket_id", "internal"))
    from_python = column.binding(42, {"ticket_id": 7, "internal": False})
    from_json = column.binding("42", {"ticket_id": "7", "internal": "false"})
    assert from_python.associated() == from_json.associated() == ROW.associated()
    with pytest.raises(KeyError):
        column.binding(42, {"ticket_id": 7})  # never bound to less than declared


# --- values sealed before context bindings (hd1) ----------------------------------------
def test_an_old_binding_value_is_refused_by_default(caplog):
    keyring = ring()
    old = seal_as_before(keyring, "secret", ROW)
    with pytest.raises(TamperedValue, match="old binding"):
        keyring.decrypt(old, ROW)
    assert any(getattr(r, "value_of", None) == "messages/body/42" for r in caplog.records)


def test_an_old_binding_value_opens_while_accepted_with_a_warning(caplog, monkeypatch):
    monkeypatch.setattr(crypto, "_LEGACY_READS", crypto._LegacyReads())
    keyring = Keyring.from_spec(f"k1={K1}", accept_legacy=True)
    old = seal_as_before(keyring, "secret", ROW)
    assert keyring.decrypt(old, ROW) == "secret"
    assert keyring.decrypt(old, ROW) == "secret"
    warnings = [r for r in caplog.records if "old binding" in r.getMessage()]
    assert len(warnings) == 1  # at most one a minute, with a count
    assert warnings[0].value_of == "messages/body/42" and "secret" not in warnings[0].getMessage()
    # Still bound to its row: moved to another, it is refused.
    with pytest.raises(TamperedValue):
        keyring.decrypt(old, row(row_id=43))


def test_a_current_value_relabelled_as_old_never_opens():
    keyring = Keyring.from_spec(f"k1={K1}", accept_legacy=True)
    stored = keyring.encrypt("secret", ROW).replace("hd2:", "hd1:", 1)
    with pytest.raises(TamperedValue, match="authentication"):
        keyring.decrypt(stored, ROW)


def test_reencrypt_reseals_an_old_binding_value_even_when_refusing_them():
    keyring = ring()
    assert not keyring.accept_legacy
    new = keyring.reencrypt(seal_as_before(keyring, "secret", ROW), ROW)
    assert new.startswith("hd2:k1:")
    assert keyring.decrypt(new, ROW) == "secret"
    with pytest.raises(TamperedValue):
        keyring.decrypt(new, row(ticket_id="8"))
    assert keyring.reencrypt(new, ROW) is new


def test_the_legacy_binding_setting(make_settings):
    from shared.config import ConfigError

    assert not make_settings().data_legacy_binding
    assert make_settings(HELPDESK_DATA_LEGACY_BINDING="accept").data_legacy_binding
    assert keyring_from_settings(make_settings(HELPDESK_DATA_LEGACY_BINDING="accept")).accept_legacy
    with pytest.raises(ConfigError, match="refuse or accept"):
        make_settings(HELPDESK_DATA_LEGACY_BINDING="yes")


# --- keys ------------------------------------------------------------------------------
def test_a_value_under_a_key_not_configured_raises_missing_key():
    stored = ring().encrypt("secret", ROW)
    only_k2 = Keyring.from_spec(f"k2={K2}")
    with pytest.raises(MissingDataKey, match="'k1'"):
        only_k2.decrypt(stored, ROW)


def test_a_relabelled_key_id_fails_authentication():
    keyring = ring()
    stored = keyring.encrypt("secret", ROW).replace("hd2:k1:", "hd2:k2:")
    with pytest.raises(TamperedValue):
        keyring.decrypt(stored, ROW)


def test_same_key_material_under_another_id_still_opens_nothing_else():
    # Key ids are labels; what protects the value is the key material.
    stored = Keyring.from_spec(f"a={K1}").encrypt("secret", ROW)
    with pytest.raises(TamperedValue):
        Keyring.from_spec(f"a={K2}").decrypt(stored, ROW)


def test_reencrypt_moves_a_value_to_the_active_key():
    old = ring(active="k1").encrypt("secret", ROW)
    both = ring(active="k2")
    new = both.reencrypt(old, ROW)
    assert key_id_of(new) == "k2"
    assert Keyring.from_spec(f"k2={K2}").decrypt(new, ROW) == "secret"
    assert both.reencrypt(new, ROW) is new  # already under the active key: untouched


def test_reencrypt_refuses_a_tampered_value():
    old = ring(active="k1").encrypt("secret", ROW)
    with pytest.raises(TamperedValue):
        ring(active="k2").reencrypt(old, row(row_id=99))


# --- malformed values ------------------------------------------------------------------
@pytest.mark.parametrize(
    "stored",
    [
        "plain text someone wrote by hand",
        "",
        "hd1:k1",
        "hd3:k1:AAAA",
        "hd2::AAAA",
        "hd2:k 1:AAAA",
        "hd2:k1:not*base64!",
        "hd2:k1:AAAA",  # shorter than nonce + tag
        "hd2:k1:" + "A" * 38,  # 28 bytes, all zero: right length, wrong tag
    ],
)
def test_malformed_values_are_tampered_not_crashes(stored):
    with pytest.raises(TamperedValue):
        ring().decrypt(stored, ROW)


@pytest.mark.parametrize("index", [0, 11, 12, -1])
def test_any_flipped_bit_is_detected(index):
    keyring = ring()
    stored = keyring.encrypt("the original text", ROW)
    with pytest.raises(TamperedValue):
        keyring.decrypt(flip(stored, index), ROW)


def test_tampering_crosses_rpc_as_itself_with_a_clear_message(caplog):
    from nameko.exceptions import deserialize, serialize

    from shared.errors import HelpdeskError

    keyring = ring()
    stored = keyring.encrypt("the original text", ROW)
    with pytest.raises(TamperedValue) as info:
        keyring.decrypt(stored, row(row_id=43))
    error = info.value
    assert isinstance(error, HelpdeskError) and error.code == "data_integrity_error"
    assert "integrity check" in error.message and "the original text" not in error.message
    # The operators' log line says where, never what.
    assert any(getattr(r, "value_of", None) == "messages/body/43" for r in caplog.records)
    assert all("the original text" not in r.getMessage() for r in caplog.records)
    again = deserialize(serialize(error))
    assert type(again) is TamperedValue and again.message == error.message
    assert again.details == {"reason": "failed authentication"}


def test_truncated_value_is_detected():
    keyring = ring()
    stored = keyring.encrypt("the original text", ROW)
    with pytest.raises(TamperedValue):
        keyring.decrypt(stored[:-4], ROW)


# --- key specs -------------------------------------------------------------------------
def test_spec_with_commas_newlines_and_comments():
    spec = f"# rotated 2026-11\nk2={K2}  # new\n\nk1={K1},\n"
    assert [k for k, _ in parse_key_spec(spec)] == ["k2", "k1"]
    assert Keyring.from_spec(spec).active == "k2"
    assert Keyring.from_spec(spec, "k1").active == "k1"


def test_padded_key_material_is_accepted():
    padded = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert padded.endswith("=")
    assert len(parse_key_spec(f"p={padded}")[0][1]) == 32


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"{K1}", "must look like id=base64key"),
        (f"=={K1}", "must look like id=base64key"),
        (f"a:b={K1}", "must look like id=base64key"),
        (f"{'x' * 33}={K1}", "must look like id=base64key"),
        ("k1=not base64 at all!", "not valid base64url"),
        ("k1=" + K1[:-1] + "*", "not valid base64url"),
        ("k1=" + base64.urlsafe_b64encode(b"short").decode(), "32 bytes"),
        (f"k1={K1},k1={K2}", "listed twice"),
        ("", "no data keys"),
        ("# only a comment\n", "no data keys"),
    ],
)
def test_key_spec_errors_are_clear(spec, message):
    with pytest.raises(ValueError, match=message) as info:
        Keyring.from_spec(spec)
    assert K1 not in str(info.value) and K2 not in str(info.value)


def test_active_key_must_be_configured():
    with pytest.raises(ValueError, match="'k9' is not among"):
        ring(active="k9")


# --- keys from settings ----------------------------------------------------------------
def test_keys_from_settings(make_settings):
    keyring = keyring_from_settings(
        make_settings(HELPDESK_DATA_KEYS=f"k1={K1},k2={K2}", HELPDESK_DATA_ACTIVE_KEY="k2")
    )
    assert keyring.key_ids == ("k1", "k2") and keyring.active == "k2"


def test_keys_from_a_key_file(make_settings, tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# production keys\nk2={K2}\nk1={K1}\n")
    keyring = keyring_from_settings(make_settings(HELPDESK_DATA_KEY_FILE=path))
    assert keyring.active == "k2" and set(keyring.key_ids) == {"k1", "k2"}


def test_unreadable_key_file_is_a_clear_error(make_settings, tmp_path):
    with pytest.raises(ValueError, match="HELPDESK_DATA_KEY_FILE unreadable"):
        keyring_from_settings(make_settings(HELPDESK_DATA_KEY_FILE=tmp_path / "absent"))


def test_bad_spec_names_its_source(make_settings, tmp_path):
    path = tmp_path / "keys"
    path.write_text("k1=tooshort\n")
    with pytest.raises(ValueError, match=r"HELPDESK_DATA_KEY_FILE \(.*\): data key 'k1'"):
        keyring_from_settings(make_settings(HELPDESK_DATA_KEY_FILE=path))
    with pytest.raises(ValueError, match="HELPDESK_DATA_KEYS: data key 'k1'"):
        keyring_from_settings(make_settings(HELPDESK_DATA_KEYS="k1=tooshort"))


def test_keys_and_key_file_together_are_ambiguous(make_settings, tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"k1={K1}\n")
    with pytest.raises(ValueError, match="not both"):
        keyring_from_settings(
            make_settings(HELPDESK_DATA_KEYS=f"k2={K2}", HELPDESK_DATA_KEY_FILE=path)
        )


# Production as a deployment configures it, but for what a test leaves out.
PRODUCTION = {
    "HELPDESK_ENV": "production",
    "HELPDESK_JWT_SECRET": "s" * 40,
    "HELPDESK_AMQP_URL": "amqps://helpdesk:pw@rabbitmq:5671/helpdesk",
}


def test_production_without_keys_refuses_to_start():
    settings = Settings.from_env(PRODUCTION)
    with pytest.raises(ValueError, match="no data keys: set HELPDESK_DATA_KEYS"):
        keyring_from_settings(settings)


def test_development_key_is_made_once_outside_the_repository(make_settings, tmp_path, monkeypatch):
    key_file = tmp_path / "config" / "helpdesk" / "data-keys"
    monkeypatch.setattr(data_keys, "DEV_KEY_FILE", key_file)
    first = keyring_from_settings(make_settings(HELPDESK_ENV="development"))
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = keyring_from_settings(make_settings(HELPDESK_ENV="development"))
    value = first.encrypt("kept", ROW)
    assert second.decrypt(value, ROW) == "kept"  # the same key, not a new one


def test_the_default_development_key_file_is_outside_the_repository():
    from tools.localrun import ROOT

    assert ROOT.resolve() not in data_keys.DEV_KEY_FILE.resolve().parents


def test_generate_command_prints_a_usable_entry(capsys):
    assert data_keys.main(["generate"]) == 0
    entry = capsys.readouterr().out.strip()
    assert Keyring.from_spec(entry).encrypt("x", ROW).startswith("hd2:k")
    assert data_keys.main([]) == 2


# --- encryption off, for measurement only ----------------------------------------------
def test_encryption_off_is_refused_in_production():
    from shared.config import ConfigError

    with pytest.raises(ConfigError, match="measurement only"):
        Settings.from_env({**PRODUCTION, "HELPDESK_DATA_ENCRYPTION": "off"})
    with pytest.raises(ConfigError, match="on or off"):
        Settings.from_env({"HELPDESK_ENV": "test", "HELPDESK_DATA_ENCRYPTION": "maybe"})


def test_values_written_with_encryption_off_are_refused_once_it_is_on(make_settings):
    off = keyring_from_settings(make_settings(HELPDESK_DATA_ENCRYPTION="off"))
    stored = off.encrypt("readable", ROW)
    assert stored == "readable" and off.decrypt(stored, ROW) == "readable"
    with pytest.raises(TamperedValue, match="not in the encrypted format"):
        ring().decrypt(stored, ROW)


def test_services_starting_together_share_one_development_key(make_settings, tmp_path, monkeypatch):
    import concurrent.futures

    monkeypatch.setattr(data_keys, "DEV_KEY_FILE", tmp_path / "helpdesk" / "data-keys")
    settings = make_settings(HELPDESK_ENV="development")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rings = list(pool.map(lambda _: keyring_from_settings(settings), range(16)))
    value = rings[0].encrypt("shared", ROW)
    assert all(r.decrypt(value, ROW) == "shared" for r in rings)
    assert [p.name for p in (tmp_path / "helpdesk").iterdir()] == ["data-keys"]


# --- the cipher stands alone ---------------------------------------------------------------


def test_the_cipher_imports_no_database_framework_or_key_storage():
    # The cipher is pure: what stores keys, scans tables or runs a service lives
    # elsewhere (shared.data_keys, shared.key_check, shared.data_keyring). Only
    # shared.errors' typed RPC error (TamperedValue) brings nameko's exceptions.
    probe = (
        "import sys, shared.crypto; "
        "print(sorted(m for m in ('nameko.extensions', 'sqlalchemy', 'shared.config', "
        "'shared.data_keys', 'shared.key_check', 'shared.data_keyring') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_generate_command_runs_as_a_module():
    out = subprocess.run(
        [sys.executable, "-m", "shared.data_keys", "generate"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Keyring.from_spec(out.stdout.strip()).key_ids[0].startswith("k")
