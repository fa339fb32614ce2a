"""A real SMTP server (aiosmtpd) on 127.0.0.1 at a port the system picks, in the test's loop,
and the process's cipher for sealed job payloads, installed from the test's settings."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from shopdb.keys import field_cipher
from shopdb.notifications import outbox
from tests.fixtures.database import Backend


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    port: int
    received: list[Received] = field(default_factory=list)
    # Recipients answered `550` at RCPT TO.
    refused: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    handler = SmtpServer(port=0)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="shopdb-test", loop=loop), "127.0.0.1", 0
    )
    handler.port = server.sockets[0].getsockname()[1]
    try:
        yield handler
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
def sealing_cipher(backend: Backend) -> Iterator[None]:
    """Gift card codes in job payloads sealed and opened with the test settings' keys."""
    outbox.use_cipher(field_cipher(backend.settings))
    try:
        yield
    finally:
        outbox.use_cipher(None)
