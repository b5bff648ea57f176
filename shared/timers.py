"""A nameko timer whose interval is a setting, read when the service starts.

nameko's ``@timer(interval=...)`` takes its interval when the class is defined, before
any setting is read; ``@settings_timer("scheduler_interval")`` reads it from the
container's ``HELPDESK_SETTINGS`` (a number of seconds or a ``timedelta``) at
set-up, so an operator's ``HELPDESK_SCHEDULER_INTERVAL`` applies.
"""

from __future__ import annotations

from datetime import timedelta

from nameko.timer import Timer


class SettingsTimer(Timer):
    """Fires every ``<setting>`` seconds; with ``eager`` (the default) also at start-up,
    so work that fell due while the service was stopped is taken up at once."""

    def __init__(self, setting: str, eager: bool = True, **kwargs):
        self.setting = setting
        super().__init__(interval=None, eager=eager, **kwargs)

    def setup(self):
        value = getattr(self.container.config["HELPDESK_SETTINGS"], self.setting)
        self.interval = value.total_seconds() if isinstance(value, timedelta) else float(value)
        super().setup()


settings_timer = SettingsTimer.decorator
