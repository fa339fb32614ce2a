"""The templates, rendered without a database: every notification has a subject, a plain-text
and an HTML part made from its values, and a hostile customer name is text, never markup."""

from __future__ import annotations

import email
from datetime import date
from decimal import Decimal
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from shopdb.notifications.rendering import (
    CHECKOUT_RECOVERY,
    GIFT_CARD_ISSUED,
    ORDER_CONFIRMATION,
    REFUND,
    SHIPPING_CONFIRMATION,
    TEMPLATES,
    Line,
    Totals,
    build_email,
    render,
    render_sms,
    safe_url,
)

HOSTILE = '<script>alert("x")</script> & O\'Brien'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; O&#39;Brien"
LINES = [
    Line("Tee <b>bold</b>", "Large", 2, Decimal("19.99"), Decimal("39.98")),
    Line("Mug", None, 1, Decimal("7.50"), Decimal("7.50")),
]
TOTALS = Totals(
    currency="USD",
    subtotal=Decimal("47.48"),
    discounts=Decimal("5.00"),
    shipping=Decimal("4.00"),
    tax=Decimal("3.10"),
    total=Decimal("49.58"),
)
BASE = {"shop_name": "Acme", "customer_name": HOSTILE}
CONTEXTS: dict[str, dict[str, Any]] = {
    ORDER_CONFIRMATION: {**BASE, "order_number": "#1001", "lines": LINES, "totals": TOTALS},
    SHIPPING_CONFIRMATION: {
        **BASE,
        "order_number": "#1001",
        "currency": "USD",
        "lines": LINES[:1],
        "tracking_company": "UPS",
        "tracking_numbers": ["1Z999"],
        "tracking_urls": ["https://ups.example/1Z999", "javascript:alert(1)"],
    },
    REFUND: {
        **BASE,
        "order_number": "#1001",
        "currency": "USD",
        "amount": Decimal("27.49"),
        "shipping": Decimal("4.00"),
        "lines": LINES[1:],
    },
    CHECKOUT_RECOVERY: {
        **BASE,
        "lines": LINES,
        "totals": TOTALS,
        "recovery_url": "https://shop.example/checkouts/abc/recover",
    },
    GIFT_CARD_ISSUED: {
        **BASE,
        "code": "ABCD EFGH JKMN PQRS",
        "balance": Decimal("50.00"),
        "currency": "EUR",
        "expires_on": date(2030, 1, 31),
    },
}
# What each notification's text must say, beyond the greeting.
EXPECTED: dict[str, list[str]] = {
    ORDER_CONFIRMATION: [
        "order #1001",
        "2 x Tee <b>bold</b> (Large): 39.98 USD",
        "1 x Mug: 7.50 USD",
        "Discounts: -5.00 USD",
        "Shipping: 4.00 USD",
        "Tax: 3.10 USD",
        "Total: 49.58 USD",
    ],
    SHIPPING_CONFIRMATION: [
        "order #1001 have shipped",
        "2 x Tee <b>bold</b> (Large): 39.98 USD",
        "Carrier: UPS",
        "Tracking number: 1Z999",
        "Track it: https://ups.example/1Z999",
    ],
    REFUND: [
        "refunded 27.49 USD for your order #1001",
        "1 x Mug: 7.50 USD",
        "Shipping refunded: 4.00 USD",
    ],
    CHECKOUT_RECOVERY: [
        "2 x Tee <b>bold</b> (Large): 39.98 USD",
        "Total: 49.58 USD",
        "Complete your purchase: https://shop.example/checkouts/abc/recover",
    ],
    GIFT_CARD_ISSUED: [
        "worth 50.00 EUR",
        "Gift card code: ABCD EFGH JKMN PQRS",
        "It expires on 2030-01-31.",
    ],
}
SUBJECTS = {
    ORDER_CONFIRMATION: "Acme: order #1001 confirmed",
    SHIPPING_CONFIRMATION: "Acme: order #1001 is on its way",
    REFUND: "Acme: refund for order #1001",
    CHECKOUT_RECOVERY: "Acme: you left items in your cart",
    GIFT_CARD_ISSUED: "Acme: your 50.00 EUR gift card",
}


def test_every_template_has_a_context_here() -> None:
    assert sorted(CONTEXTS) == sorted(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
class TestEveryTemplate:
    def test_renders_subject_text_and_html_from_the_values(self, name: str) -> None:
        rendered = render(name, CONTEXTS[name])

        assert rendered.subject == SUBJECTS[name]
        assert rendered.text.startswith(f"Hello {HOSTILE},\n\n")
        for expected in EXPECTED[name]:
            assert expected in rendered.text
        assert rendered.html.startswith("<!DOCTYPE html>")
        assert "<h1" in rendered.html
        assert "Acme" in rendered.html

    def test_a_hostile_name_is_escaped_in_html(self, name: str) -> None:
        rendered = render(name, CONTEXTS[name])

        assert f"Hello {ESCAPED}," in rendered.html
        assert "<script>" not in rendered.html
        assert "<b>bold</b>" not in rendered.html

    def test_a_missing_value_fails_rather_than_rendering_blank(self, name: str) -> None:
        context = dict(CONTEXTS[name])
        del context["customer_name"]

        with pytest.raises(Exception, match="customer_name"):
            render(name, context)


class TestValuesInHtml:
    def test_line_titles_and_money_are_in_the_html_escaped(self) -> None:
        html = render(ORDER_CONFIRMATION, CONTEXTS[ORDER_CONFIRMATION]).html

        assert "Tee &lt;b&gt;bold&lt;/b&gt; (Large)" in html
        assert "39.98 USD" in html
        assert "49.58 USD" in html

    def test_only_http_links_are_rendered(self) -> None:
        rendered = render(SHIPPING_CONFIRMATION, CONTEXTS[SHIPPING_CONFIRMATION])

        assert '<a href="https://ups.example/1Z999">' in rendered.html
        assert "javascript" not in rendered.html
        assert "javascript" not in rendered.text

    def test_a_recovery_url_with_quotes_stays_inside_its_attribute(self) -> None:
        context = {**CONTEXTS[CHECKOUT_RECOVERY], "recovery_url": 'https://x.example/"><b>'}

        html = render(CHECKOUT_RECOVERY, context).html

        assert '<a href="https://x.example/&#34;&gt;&lt;b&gt;">' in html

    def test_safe_url(self) -> None:
        assert safe_url("https://a.example/x") == "https://a.example/x"
        assert safe_url(" http://a.example ") == "http://a.example"
        assert safe_url("javascript:alert(1)") is None
        assert safe_url("//a.example/x") is None
        assert safe_url("") is None
        assert safe_url(None) is None


class TestSms:
    def test_the_shipping_text_names_the_order_and_tracking(self) -> None:
        text = render_sms(SHIPPING_CONFIRMATION, CONTEXTS[SHIPPING_CONFIRMATION])

        assert text == "Acme: your order #1001 has shipped. Tracking: 1Z999"


class TestBuildEmail:
    def test_a_multipart_alternative_with_both_parts_and_the_headers(self) -> None:
        rendered = render(ORDER_CONFIRMATION, CONTEXTS[ORDER_CONFIRMATION])

        message = build_email(
            rendered, to="ann@example.com", sender="Acme <shop@acme.example>", key="k.7"
        )
        parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)

        assert parsed["Subject"] == "Acme: order #1001 confirmed"
        assert parsed["To"] == "ann@example.com"
        assert parsed["From"] == "Acme <shop@acme.example>"
        assert parsed["Message-ID"] == "<k.7@acme.example>"
        assert parsed["X-Shopdb-Notification"] == ORDER_CONFIRMATION
        assert parsed["Date"] is not None
        assert parsed.get_content_type() == "multipart/alternative"
        text = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        assert text is not None
        assert html is not None
        assert text.get_content() == rendered.text
        assert html.get_content() == rendered.html

    def test_each_message_has_its_own_boundary_which_no_value_can_end_early(self) -> None:
        # A name shaped like our boundaries ("=_" and hex) cannot close a part: the boundary is
        # random per message, and quoted-printable never writes "=_".
        name = "=_" + "0" * 32 + " --=_" + "f" * 32 + "--"
        context = {**CONTEXTS[ORDER_CONFIRMATION], "customer_name": name}
        rendered = render(ORDER_CONFIRMATION, context)
        sender = "Acme <shop@acme.example>"

        first = build_email(rendered, to="a@example.com", sender=sender, key="k.1")
        second = build_email(rendered, to="a@example.com", sender=sender, key="k.2")

        boundaries = {first.get_boundary(), second.get_boundary()}
        assert len(boundaries) == 2
        assert all(b is not None and b.startswith("=_") for b in boundaries)
        parsed = email.message_from_bytes(first.as_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        text, html = (part.get_content() for part in parsed.iter_parts())
        assert name in text
        assert html.count("=_" + "0" * 32) == 1

    def test_a_subject_value_with_a_newline_cannot_add_a_header(self) -> None:
        context = {**CONTEXTS[ORDER_CONFIRMATION], "order_number": "#1\nBcc: evil@x.example"}

        message = build_email(
            render(ORDER_CONFIRMATION, context), to="a@example.com", sender="s@x.example", key="k"
        )
        parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)

        assert parsed["Bcc"] is None
        assert parsed["Subject"] == "Acme: order #1 Bcc: evil@x.example confirmed"


def _standard_email(rendered: Any, *, to: str, sender: str, key: str) -> EmailMessage:
    """The message as the email package builds it with its own default policy."""
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = to
    message["Message-ID"] = f"<{key}@{sender.rpartition('@')[2].rstrip('>')}>"
    message["X-Shopdb-Notification"] = rendered.name
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _shape(data: bytes) -> list[Any]:
    """Headers (but the Date and the random boundary) and each part's headers and content."""
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    headers = [(k, str(v)) for k, v in parsed.items() if k not in ("Date", "Content-Type")]
    parts = [
        (sorted((k, str(v)) for k, v in part.items()), part.get_content())
        for part in parsed.iter_parts()
    ]
    return [sorted(headers), parsed.get_content_type(), parts]


class TestHeadersParsedOnce:
    """build_email's policy parses a header value once and shares it between messages."""

    @pytest.mark.parametrize(
        ("sender", "to", "name"),
        [
            ("Acme <shop@acme.example>", "ann@example.com", "Ann"),
            ("Café Ünïcode <shop@acme.example>", "zoe@example.com", "Zoë Ünïcode " + "x" * 90),
        ],
    )
    def test_the_message_is_the_one_the_default_policy_builds(
        self, sender: str, to: str, name: str
    ) -> None:
        context = {**CONTEXTS[ORDER_CONFIRMATION], "customer_name": name, "shop_name": name}
        rendered = render(ORDER_CONFIRMATION, context)

        ours = build_email(rendered, to=to, sender=sender, key="order_confirmation.9")
        standard = _standard_email(rendered, to=to, sender=sender, key="order_confirmation.9")

        assert _shape(ours.as_bytes()) == _shape(standard.as_bytes())

    def test_messages_built_one_after_another_keep_their_own_headers(self) -> None:
        first_context = {**CONTEXTS[ORDER_CONFIRMATION], "order_number": "#1"}
        second_context = {**CONTEXTS[ORDER_CONFIRMATION], "order_number": "#2"}
        sender = "Acme <shop@acme.example>"

        first = build_email(
            render(ORDER_CONFIRMATION, first_context), to="a@example.com", sender=sender, key="k.1"
        )
        second = build_email(
            render(ORDER_CONFIRMATION, second_context), to="b@example.com", sender=sender, key="k.2"
        )

        one = email.message_from_bytes(first.as_bytes(), policy=policy.default)
        two = email.message_from_bytes(second.as_bytes(), policy=policy.default)
        assert (one["Subject"], one["To"], one["Message-ID"]) == (
            "Acme: order #1 confirmed",
            "a@example.com",
            "<k.1@acme.example>",
        )
        assert (two["Subject"], two["To"], two["Message-ID"]) == (
            "Acme: order #2 confirmed",
            "b@example.com",
            "<k.2@acme.example>",
        )
        assert one["From"] == two["From"] == sender
