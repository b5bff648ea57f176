"""The gateway's settings, read from the environment at start-up.

The HTTP, JWT and stream settings every front process shares are ``shared.config.Settings``;
the gateway serves the tickets' catalog itself (no RPC per ``GET /api/v1/catalog``),
so it reads the catalog's settings as the tickets service does. A gateway-only
setting is one ``env_setting`` field here.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.tickets.settings import CatalogSettings


@dataclass(frozen=True)
class GatewaySettings(CatalogSettings):
    """Every setting of the gateway."""
