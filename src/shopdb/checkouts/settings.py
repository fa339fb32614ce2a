"""What checkouts read of the settings (shopdb.config.Settings):

SHOPDB_CHECKOUT_ABANDON_AFTER_SECONDS   how long after its last update an uncompleted
                                        checkout counts as abandoned (default 10 hours)
SHOPDB_STOREFRONT_URL                   the storefront's base URL; a recovery link is
                                        {storefront}/checkouts/{token}/recover
"""

from __future__ import annotations

from dataclasses import dataclass

from shopdb.config import Settings

TEN_HOURS = 10 * 3600.0


@dataclass(frozen=True)
class CheckoutSettings:
    checkout_abandon_after_seconds: float = TEN_HOURS
    storefront_url: str = "http://localhost:8000"

    @classmethod
    def from_settings(cls, settings: Settings) -> CheckoutSettings:
        return cls(settings.checkout_abandon_after_seconds, settings.storefront_url)

    def recovery_url(self, token: str) -> str:
        return f"{self.storefront_url.rstrip('/')}/checkouts/{token}/recover"
