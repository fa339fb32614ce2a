"""Text messages: a provider interface, and the development provider that writes files.

    provider = sms_from_settings(settings)
    await provider.send(SmsMessage(to="+15550100", body="...", key="shipping.42"))

A provider for a real carrier (Twilio, say) implements `SmsProvider.send`, raising on a
failure worth retrying; `key` is stable across retries of one message, for the provider's
own idempotency key where it has one. The file provider writes `<key>.sms` under var/sms/,
so a retried message replaces its file rather than adding one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shopdb.config import Settings
from shopdb.notifications.mail import file_name, write_atomically


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    key: str


class SmsProvider(Protocol):
    async def send(self, message: SmsMessage) -> None: ...


class FileSmsProvider:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, message: SmsMessage) -> Path:
        return self.directory / file_name(message.key, ".sms")

    async def send(self, message: SmsMessage) -> None:
        text = f"To: {message.to}\n\n{message.body}"
        await asyncio.to_thread(write_atomically, self.path_of(message), text.encode("utf-8"))


def sms_from_settings(settings: Settings) -> SmsProvider:
    # `file` is the only provider shipped (Settings.sms_backend).
    return FileSmsProvider(settings.var_dir / "sms")
