"""Email senders: SMTP (aiosmtplib) in production, .eml files under var/mail/ in development.

    mailer = mailer_from_settings(settings)
    await mailer.send(message)      # an email.message.EmailMessage (rendering.build_email)

A sender raises DeliveryRefused when the server refuses the recipient for good (a 5xx
answer); anything else it raises (connection refused, timeout, 4xx) is worth a retry, which
the job queue makes.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from shopdb.config import Settings
from shopdb.notifications.errors import DeliveryRefused

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# The file backend writes a message this small in the event loop, a larger one in a thread.
WRITE_IN_LOOP_BYTES = 64 * 1024


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def file_name(message_id: str, suffix: str) -> str:
    """A file name from a Message-ID: the same message written twice (a retried job) lands in
    the same file, not in a second one."""
    return _UNSAFE.sub("_", message_id.strip("<> ")) + suffix


def write_atomically(path: Path, data: bytes) -> None:
    """Readers (a developer's mail viewer, a test) never see half a message."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


class FileMailer:
    """Writes each message as `<message id>.eml` in `directory` (var/mail/ by default)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, message: EmailMessage) -> Path:
        return self.directory / file_name(str(message["Message-ID"]), ".eml")

    async def send(self, message: EmailMessage) -> None:
        data = message.as_bytes()
        if len(data) <= WRITE_IN_LOOP_BYTES:
            # A few KB to the page cache: less time than handing them to a thread costs.
            write_atomically(self.path_of(message), data)
        else:
            await asyncio.to_thread(write_atomically, self.path_of(message), data)


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                # True requires STARTTLS (a server without it fails the send: never a silent
                # fall back to plain text); False never tries it (a local relay).
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusals = exc.recipients
            if refusals and all(r.code >= 500 for r in refusals):
                raise DeliveryRefused(refusals[0].code, refusals[0].message) from exc
            raise
        except aiosmtplib.SMTPRecipientRefused as exc:
            if exc.code >= 500:
                raise DeliveryRefused(exc.code, exc.message) from exc
            raise


def mailer_from_settings(settings: Settings) -> Mailer:
    if settings.email_backend == "smtp":
        assert settings.smtp_host is not None  # Settings refuses smtp without a host
        password = settings.smtp_password
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=None if password is None else password.get_secret_value(),
            timeout=settings.smtp_timeout_seconds,
        )
    return FileMailer(settings.var_dir / "mail")
