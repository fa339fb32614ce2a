"""Queueing notifications that carry a secret: the gift card email.

Most notifications are queued by their domain with an id (`enqueue(session, KIND, {...})`),
and the worker reads the rest from the database. A gift card's code cannot be read back (the
database keeps its keyed hash, shopdb.gift_cards.codes), yet its email must show it: the job
carries the code sealed with the application's PII cipher, under its own context, and the
worker opens it. So the jobs table never holds a code in the clear.

Which cipher: the process's (`use_cipher`, for the wiring or a test); until one is installed,
the one of the process's settings (`get_settings()`, what `create_app()` and `shopdb worker`
run with), as for gift card codes themselves.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.jobs.kinds import GIFT_CARDS_ISSUED_EMAIL
from shopdb.jobs.queue import enqueue
from shopdb.kit.crypto import FieldCipher

GIFT_CARD_CODE = "jobs.gift_card_code"

_cipher: FieldCipher | None = None


def use_cipher(cipher: FieldCipher | None) -> None:
    """Install the process's cipher for sealed job payloads (None: back to the settings')."""
    global _cipher  # one per process, see the module's docstring
    _cipher = cipher


def current_cipher() -> FieldCipher:
    global _cipher
    if _cipher is None:
        from shopdb.config import get_settings
        from shopdb.keys import field_cipher

        _cipher = field_cipher(get_settings())
    return _cipher


async def queue_gift_card_issued(
    session: AsyncSession, gift_card_id: int, code: str, *, actor: str | None
) -> None:
    """Queue the 'gift card issued' email in the caller's transaction."""
    sealed = current_cipher().encrypt(code, context=GIFT_CARD_CODE)
    await enqueue(
        session, GIFT_CARDS_ISSUED_EMAIL, {"giftCardId": gift_card_id, "code": sealed}, actor=actor
    )


def open_gift_card_code(sealed: str) -> str:
    return current_cipher().decrypt(sealed, context=GIFT_CARD_CODE)
