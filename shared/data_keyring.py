"""``DataKeyring``: the nameko dependency that gives a service its keyring, loaded
(``shared.data_keys``) and checked against the stored values (``shared.key_check``)
at start."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from shared.crypto import Keyring, MissingDataKey
from shared.data_keys import keyring_from_settings
from shared.key_check import check_stored_keys


class DataKeyring(DependencyProvider):
    """The at-rest keyring, loaded and checked at start: no key, no service.

    ``url_setting`` names the ``Settings`` attribute of the service's database
    and ``encrypted_columns`` its ``ENCRYPTED_COLUMNS``: when both are given, the
    container refuses to start if a stored value needs a key it lacks, or is under
    the old binding while ``HELPDESK_DATA_LEGACY_BINDING`` refuses it.
    """

    def __init__(self, url_setting: str | None = None, encrypted_columns=()):
        self.url_setting = url_setting
        self.encrypted_columns = tuple(encrypted_columns)
        self.keyring: Keyring | None = None

    def setup(self):
        settings = self.container.config["HELPDESK_SETTINGS"]
        name = self.container.service_name
        try:
            self.keyring = keyring_from_settings(settings)
        except ValueError as exc:
            raise RuntimeError(f"{name} cannot start without its data keys: {exc}") from None
        if self.url_setting and self.encrypted_columns and isinstance(self.keyring, Keyring):
            from shared.db import make_engine, pool_options

            engine = make_engine(getattr(settings, self.url_setting), **pool_options(settings, 1))
            try:
                check_stored_keys(engine, self.encrypted_columns, self.keyring)
            except MissingDataKey as exc:
                raise RuntimeError(f"{name} refuses to start: {exc}") from None
            finally:
                engine.dispose()

    def get_dependency(self, worker_ctx):
        return self.keyring
