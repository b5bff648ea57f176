"""deploy/make_secrets.py: a deployment's secrets, made once, usable as they are."""

from __future__ import annotations

import socket
import ssl
import stat
import threading

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from deploy.make_secrets import PASSWORDS, SECRETS_GID, make_secrets
from services.gateway.settings import FrontSettings
from shared.crypto import Binding, Keyring
from tests.deploy.conftest import compose

pytestmark = pytest.mark.unit


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def made(tmp_path):
    # As a checkout has it: the directory is committed (its .gitignore), mode 0755.
    secrets = tmp_path / "deploy" / "secrets"
    secrets.mkdir(parents=True)
    secrets.chmod(0o755)
    (secrets / ".gitignore").write_text("*\n!.gitignore\n")
    written = make_secrets(tmp_path, "help.example.com", internal_tls=True)
    return tmp_path, written


def test_writes_every_secret_compose_reads_with_safe_modes(made):
    root, written = made
    secrets = root / "deploy" / "secrets"
    names = {p.relative_to(root).as_posix() for p in written}
    assert names == {
        ".env",
        *(
            f"deploy/secrets/{n}"
            for n in (
                "jwt_secret",
                "data_keys",
                "tls.pem",
                "ca.pem",
                "ca-key.pem",
                "postgres.pem",
                "postgres-key.pem",
                "rabbitmq.pem",
                "rabbitmq-key.pem",
            )
        ),
    }
    assert _mode(secrets) == 0o700  # also when the checkout made it 0755
    assert _mode(root / ".env") == 0o600
    assert _mode(secrets / "ca-key.pem") == 0o600  # signs certificates; never mounted
    # Read by the containers' non-root users through the image's group, by no one else.
    for name in ("jwt_secret", "data_keys", "tls.pem"):
        assert _mode(secrets / name) == 0o640, name
        assert (secrets / name).stat().st_gid == SECRETS_GID, name
    # Copied into place by their servers' root entrypoints (compose.tls.yml).
    for name in ("postgres-key.pem", "rabbitmq-key.pem"):
        assert _mode(secrets / name) == 0o600, name
    for name in ("ca.pem", "postgres.pem", "rabbitmq.pem"):  # certificates are public
        assert _mode(secrets / name) == 0o644, name
    for path in [secrets, *written]:
        assert not _mode(path) & stat.S_IWOTH, path
    assert not [p for p in written if _mode(p) & stat.S_IROTH and not p.name.endswith(".pem")]


def test_running_again_tightens_what_an_older_version_left_readable(made):
    root, _ = made
    secrets = root / "deploy" / "secrets"
    secrets.chmod(0o755)
    (secrets / "jwt_secret").chmod(0o644)
    (secrets / "data_keys").chmod(0o644)
    before = (secrets / "jwt_secret").read_bytes()
    assert make_secrets(root, "help.example.com", internal_tls=True) == []
    assert _mode(secrets) == 0o700
    assert _mode(secrets / "jwt_secret") == 0o640 and _mode(secrets / "data_keys") == 0o640
    assert (secrets / "jwt_secret").read_bytes() == before


def test_the_secrets_are_accepted_by_the_services(made, tmp_path):
    root, _ = made
    secrets = root / "deploy" / "secrets"
    jwt = (secrets / "jwt_secret").read_text().strip()
    settings = FrontSettings.from_env(
        {
            "HELPDESK_ENV": "production",
            "HELPDESK_JWT_SECRET": jwt,
            "HELPDESK_AMQP_URL": "amqps://helpdesk:made@rabbitmq:5671/helpdesk",
        }
    )
    assert settings.jwt_secret == jwt
    keyring = Keyring.from_spec((secrets / "data_keys").read_text())
    row = Binding("tickets", "description", 1, (("owner_id", "someone"),))
    assert keyring.decrypt(keyring.encrypt("a ticket's text", row), row) == "a ticket's text"
    passwords = dict(line.split("=", 1) for line in (root / ".env").read_text().splitlines())
    assert set(passwords) == set(PASSWORDS)  # the administrative ones and each service's
    for value in passwords.values():
        assert len(value) >= 32 and value.isalnum()  # safe inside a URL
    assert compose("config", "-q", env=passwords).returncode == 0


def test_the_public_certificate_names_the_host_and_matches_its_key(made):
    root, _ = made
    pem = (root / "deploy" / "secrets" / "tls.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "help.example.com"
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["help.example.com"]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(root / "deploy" / "secrets" / "tls.pem")  # fails if key != cert


def test_internal_certificates_pass_verify_full_for_their_own_host_only(made):
    root, _ = made
    secrets = root / "deploy" / "secrets"
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(secrets / "postgres.pem", secrets / "postgres-key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve(count):
        for _ in range(count):
            conn, _ = listener.accept()
            try:
                server.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, args=(2,), daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=secrets / "ca.pem")
    try:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client.wrap_socket(raw, server_hostname="postgres") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            client.wrap_socket(raw, server_hostname="rabbitmq")
    finally:
        thread.join(5)
        listener.close()


def test_running_again_overwrites_nothing(made):
    root, _ = made
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert make_secrets(root, "other.example.com", internal_tls=True) == []
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_an_older_env_gains_the_service_passwords_and_keeps_its_own(made):
    root, _ = made
    env = root / ".env"
    env.write_text("HELPDESK_POSTGRES_PASSWORD=old0\nHELPDESK_RABBITMQ_PASSWORD=old1\n")
    env.chmod(0o644)
    assert make_secrets(root, "help.example.com", internal_tls=True) == [env]
    values = dict(line.split("=", 1) for line in env.read_text().splitlines())
    assert set(values) == set(PASSWORDS)
    assert values["HELPDESK_POSTGRES_PASSWORD"] == "old0"
    assert values["HELPDESK_RABBITMQ_PASSWORD"] == "old1"
    assert _mode(env) == 0o600
