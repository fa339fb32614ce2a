"""The senders: .eml and .sms files for development, SMTP to a real local server."""

from __future__ import annotations

import email
import socket
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from pydantic import ValidationError

from shopdb.config import Settings
from shopdb.notifications.errors import DeliveryRefused
from shopdb.notifications.mail import FileMailer, SmtpMailer, mailer_from_settings
from shopdb.notifications.rendering import ORDER_CONFIRMATION, Line, Totals, build_email, render
from shopdb.notifications.sms import FileSmsProvider, SmsMessage, sms_from_settings
from tests.notifications.conftest import SmtpServer


def message(key: str = "order_confirmation.1", to: str = "ann@example.com") -> EmailMessage:
    rendered = render(
        ORDER_CONFIRMATION,
        {
            "shop_name": "Acme",
            "customer_name": "Ann <Lee>",
            "order_number": "#1001",
            "lines": [Line("Tee", None, 2, Decimal("10.00"), Decimal("20.00"))],
            "totals": Totals("USD", Decimal("20.00"), Decimal("20.00")),
        },
    )
    return build_email(rendered, to=to, sender="Acme <shop@acme.example>", key=key)


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(parsed: EmailMessage) -> tuple[str, str]:
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class TestFileMailer:
    async def test_writes_each_message_as_an_eml_file_named_by_its_message_id(
        self, tmp_path: Path
    ) -> None:
        mailer = FileMailer(tmp_path / "mail")
        sent = message()

        await mailer.send(sent)

        assert listing(tmp_path / "mail") == ["order_confirmation.1_acme.example.eml"]
        parsed = parse((tmp_path / "mail" / "order_confirmation.1_acme.example.eml").read_bytes())
        assert parsed["To"] == "ann@example.com"
        assert parsed["Subject"] == "Acme: order #1001 confirmed"
        text, html = parts(parsed)
        assert "Hello Ann <Lee>," in text
        assert "Hello Ann &lt;Lee&gt;," in html

    async def test_a_retried_message_replaces_its_file(self, tmp_path: Path) -> None:
        mailer = FileMailer(tmp_path)

        await mailer.send(message("k.1"))
        await mailer.send(message("k.1"))
        await mailer.send(message("k.2"))

        assert listing(tmp_path) == [
            "k.1_acme.example.eml",
            "k.2_acme.example.eml",
        ]


class TestFileSms:
    async def test_writes_each_text_under_its_key(self, tmp_path: Path) -> None:
        provider = FileSmsProvider(tmp_path / "sms")

        await provider.send(SmsMessage("+15550100", "Your order has shipped.", "ship.9"))

        written = tmp_path / "sms" / "ship.9.sms"
        assert written.read_text() == "To: +15550100\n\nYour order has shipped."


class TestSmtp:
    async def test_a_real_server_receives_both_parts_and_the_headers(
        self, smtp_server: SmtpServer
    ) -> None:
        mailer = SmtpMailer("127.0.0.1", smtp_server.port, security="none", timeout=5)

        await mailer.send(message())

        (received,) = smtp_server.received
        assert received.sender == "shop@acme.example"
        assert received.recipients == ["ann@example.com"]
        arrived = received.message
        assert arrived["Subject"] == "Acme: order #1001 confirmed"
        assert arrived["From"] == "Acme <shop@acme.example>"
        assert arrived["To"] == "ann@example.com"
        assert arrived["Message-ID"] == "<order_confirmation.1@acme.example>"
        assert arrived.get_content_type() == "multipart/alternative"
        text, html = parts(arrived)
        assert "2 x Tee: 20.00 USD" in text
        assert "Total: 20.00 USD" in text
        assert "Hello Ann &lt;Lee&gt;," in html
        assert "<td>Tee</td>" in html

    async def test_a_refused_recipient_is_a_permanent_refusal(
        self, smtp_server: SmtpServer
    ) -> None:
        smtp_server.refused.add("gone@example.com")
        mailer = SmtpMailer("127.0.0.1", smtp_server.port, security="none", timeout=5)

        with pytest.raises(DeliveryRefused) as refused:
            await mailer.send(message(to="gone@example.com"))

        assert refused.value.code == 550
        assert smtp_server.received == []

    async def test_starttls_required_fails_against_a_server_without_it(
        self, smtp_server: SmtpServer
    ) -> None:
        mailer = SmtpMailer("127.0.0.1", smtp_server.port, security="starttls", timeout=5)

        with pytest.raises(aiosmtplib.SMTPException):
            await mailer.send(message())

        assert smtp_server.received == []

    async def test_no_server_is_an_error_worth_retrying(self) -> None:
        mailer = SmtpMailer("127.0.0.1", free_port(), security="none", timeout=5)

        with pytest.raises(aiosmtplib.SMTPConnectError):
            await mailer.send(message())


class TestFromSettings:
    def test_files_by_default_under_var(self, tmp_path: Path) -> None:
        settings = Settings(var_dir=tmp_path)

        mailer = mailer_from_settings(settings)
        sms = sms_from_settings(settings)

        assert settings.email_backend == "file"
        assert isinstance(mailer, FileMailer)
        assert mailer.directory == tmp_path / "mail"
        assert isinstance(sms, FileSmsProvider)
        assert sms.directory == tmp_path / "sms"

    def test_smtp_once_a_host_is_set(self, tmp_path: Path) -> None:
        settings = Settings(
            var_dir=tmp_path,
            smtp_host="mail.example",
            smtp_port=465,
            smtp_security="tls",
            smtp_username="shop",
            smtp_password="secret",
        )

        mailer = mailer_from_settings(settings)

        assert isinstance(mailer, SmtpMailer)
        assert (mailer.host, mailer.port, mailer.security) == ("mail.example", 465, "tls")
        assert (mailer.username, mailer.password) == ("shop", "secret")

    def test_smtp_without_a_host_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValidationError, match="SHOPDB_SMTP_HOST"):
            Settings(var_dir=tmp_path, email_backend="smtp")
