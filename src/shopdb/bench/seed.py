"""`shopdb bench seed`: a large, deterministic catalog and order history loaded in bulk.

Rows are generated in Python with explicit ids (so foreign keys need no round trip) and written
per table in batches: COPY through asyncpg on PostgreSQL, an executemany INSERT elsewhere. The
same seed on an empty database, seeded the same day (orders span the year before it), gives
the same rows, except the ciphertexts of personal data, whose nonces are random by design.

Historical orders are history: placed and paid (or not) before the catalog's stock levels were
counted, so they commit no stock (their lines name no inventory item or location, as an
imported order's) and the levels stay as seeded.

Lifecycle orders (`SeedSpec.lifecycle_orders`, tagged `lifecycle`) are the benchmark's
`order_lifecycle` work: placed after the history, authorized through the `test` gateway (a
reference its capture accepts) and unfulfilled, every line naming the inventory item and the one
location its units were committed at. Those levels' `committed` holds exactly their units, so
fulfilling takes them from there; `available` stays as seeded (the units were committed on top
of it), so the variants' `inventory_quantity` does not move.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from shopdb.bench import words
from shopdb.customers.pii import ADDRESS_PHONE, CUSTOMER_PHONE, seal_email, seal_optional
from shopdb.errors import Conflict
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.crypto import seal_email as seal_order_email
from shopdb.kit.models import Base
from shopdb.kit.types import round_money
from shopdb.models import OrderTransaction
from shopdb.models.orders import FIRST_ORDER_NUMBER, ORDER_EMAIL, ORDER_NUMBER_SEQUENCE
from shopdb.orders.payments import payment_key
from shopdb.orders.repository import enhanced_columns
from shopdb.users.service import create_user

BENCH_ADMIN_EMAIL = "bench-admin@bench.shopdb.local"
BENCH_SHOP_DOMAIN = "bench.shopdb.local"
BENCH_CURRENCY = "USD"  # the bench shop's, and the orders' (SHOPDB_ORDER_CURRENCY's default)
CREDENTIALS_FILE = "bench-admin.json"
# Generated timestamps start here, so two runs with one seed produce identical rows.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
PRODUCTS_PER_BATCH = 500
CUSTOMERS_PER_BATCH = 500
ORDERS_PER_BATCH = 2_000

Row = dict[str, Any]
Rows = dict[str, list[Row]]

# Parents before children: the order rows of one batch are written in.
CATALOG_TABLES = (
    "products",
    "product_options",
    "option_values",
    "product_tags",
    "product_images",
    "product_variants",
    "inventory_items",
    "inventory_levels",
)
CUSTOMER_TABLES = ("customers", "customer_addresses", "customer_tags")
# What the historical orders need to read as the app writes them: the code, rates and taxes
# they name, then the orders with their lines, transactions and the transactions' mirrors.
ORDER_SETUP_TABLES = ("discount_codes", "shipping_zones", "shipping_rates", "tax_rates")
ORDER_TABLES = (
    "orders",
    "order_line_items",
    "order_transactions",
    "payments",
    "transactions",
    "transactions_enhanced",
)
SEEDED_TABLES = (
    "shops",
    "locations",
    *CATALOG_TABLES,
    *CUSTOMER_TABLES,
    *ORDER_SETUP_TABLES,
    *ORDER_TABLES,
)


@dataclass(frozen=True)
class SeedSpec:
    products: int = 10_000
    variants: int = 3
    locations: int = 2
    customers: int = 1_000
    images: int = 1
    seed: int = 42
    orders: int = 20_000
    # Authorized, unfulfilled orders with committed stock, for the order_lifecycle scenario.
    lifecycle_orders: int = 10_000

    def __post_init__(self) -> None:
        counts = (self.products, self.customers, self.images, self.orders, self.lifecycle_orders)
        if min(counts) < 0:
            raise ValueError("counts cannot be negative")
        if not 1 <= self.variants <= 24:
            raise ValueError("variants per product must be between 1 and 24")
        if self.locations < 1:
            raise ValueError("at least one location is needed for inventory")


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)
    admin_email: str = BENCH_ADMIN_EMAIL
    # Handed to write_credentials() once the transaction has committed; never printed.
    admin_password: str = field(default="", repr=False)


def slugify(title: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in title.lower())
    return "-".join(part for part in slug.split("-") if part)


class IdAllocator:
    """Next free id per table, read once from the database, then handed out in order."""

    def __init__(self, first: dict[str, int]) -> None:
        self._next = dict(first)

    def peek(self, table: str) -> int:
        return self._next[table]

    def take(self, table: str) -> int:
        value = self._next[table]
        self._next[table] = value + 1
        return value


def _moment(rng: random.Random, days: int) -> datetime:
    return EPOCH + timedelta(seconds=rng.randrange(days * 86_400))


def _option_axes(rng: random.Random, variants: int) -> list[tuple[str, list[str]]]:
    """One or two options whose value combinations give exactly `variants` variants.

    Every listed value is used by at least one variant, as Shopify derives values from variants.
    """
    if variants == 1:
        return []
    count = rng.choice((1, 2)) if variants >= 2 else 1
    names = rng.sample(sorted(words.OPTIONS), count)

    def values(name: str, n: int) -> list[str]:
        pool = list(words.OPTIONS[name])
        picked = rng.sample(pool, min(n, len(pool)))
        picked += [f"{name} {i}" for i in range(len(picked) + 1, n + 1)]
        return picked

    if count == 1:
        return [(names[0], values(names[0], variants))]
    second = 2
    first = math.ceil(variants / second)
    return [(names[0], values(names[0], first)), (names[1], values(names[1], second))]


class CatalogGenerator:
    """Products with options, variants, inventory items and levels, tags and images."""

    def __init__(
        self, spec: SeedSpec, rng: random.Random, ids: IdAllocator, location_ids: list[int]
    ) -> None:
        self.spec = spec
        self.rng = rng
        self.ids = ids
        self.location_ids = location_ids

    def batch(self, count: int) -> Rows:
        rows: Rows = {name: [] for name in CATALOG_TABLES}
        for _ in range(count):
            self._product(rows)
        return rows

    def _product(self, rows: Rows) -> None:
        rng = self.rng
        product_id = self.ids.take("products")
        noun, product_type = rng.choice(words.NOUNS)
        adjective, material = rng.choice(words.ADJECTIVES), rng.choice(words.MATERIALS)
        title = f"{adjective} {material} {noun}"
        vendor = rng.choice(words.VENDORS)
        status = rng.choices(("active", "draft", "archived"), weights=(85, 10, 5))[0]
        tags = sorted(rng.sample(words.TAGS, rng.randint(2, 4)))
        created = _moment(rng, 365)
        updated = created + timedelta(seconds=rng.randrange(60 * 86_400))
        handle = f"{slugify(title)}-{product_id}"
        rows["products"].append(
            {
                "id": product_id,
                "title": title,
                "handle": handle,
                "body_html": (
                    f"<p>{adjective} {noun.lower()} in {material.lower()}, by {vendor}. "
                    f"Made for {rng.choice(words.TAGS)} days and built to last.</p>"
                ),
                "vendor": vendor,
                "product_type": product_type,
                "status": status,
                "tags": ", ".join(tags),
                "published_at": created if status == "active" else None,
                "created_at": created,
                "updated_at": updated,
            }
        )
        for tag in tags:
            rows["product_tags"].append(
                {
                    "id": self.ids.take("product_tags"),
                    "product_id": product_id,
                    "tag": tag,
                    "created_at": created,
                }
            )
        for position in range(1, self.spec.images + 1):
            rows["product_images"].append(
                {
                    "id": self.ids.take("product_images"),
                    "product_id": product_id,
                    "position": position,
                    "alt": title,
                    "src": f"https://cdn.shopdb.example/bench/{handle}-{position}.jpg",
                    "content_type": "image/jpeg",
                    "width": 1200,
                    "height": 1200,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        axes = _option_axes(rng, self.spec.variants)
        for position, (name, values) in enumerate(axes, 1):
            option_id = self.ids.take("product_options")
            rows["product_options"].append(
                {
                    "id": option_id,
                    "product_id": product_id,
                    "name": name,
                    "position": position,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            for value_position, value in enumerate(values, 1):
                rows["option_values"].append(
                    {
                        "id": self.ids.take("option_values"),
                        "product_option_id": option_id,
                        "value": value,
                        "position": value_position,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
        combos = list(itertools.product(*(values for _, values in axes)))[: self.spec.variants]
        price = round_money(Decimal(rng.randint(500, 25_000)) / 100)
        on_sale = "sale" in tags
        for position, combo in enumerate(combos or [()], 1):
            self._variant(rows, product_id, position, combo, price, on_sale, created, updated)

    def _variant(
        self,
        rows: Rows,
        product_id: int,
        position: int,
        combo: tuple[str, ...],
        price: Decimal,
        on_sale: bool,
        created: datetime,
        updated: datetime,
    ) -> None:
        rng = self.rng
        variant_id = self.ids.take("product_variants")
        item_id = self.ids.take("inventory_items")
        sku = f"BN-{product_id:07d}-{position:02d}"
        levels = [rng.randint(50, 500) for _ in self.location_ids]
        rows["product_variants"].append(
            {
                "id": variant_id,
                "product_id": product_id,
                "title": " / ".join(combo) or "Default Title",
                "price": price,
                "compare_at_price": round_money(price * Decimal("1.25")) if on_sale else None,
                "sku": sku,
                "barcode": str(rng.randint(10**11, 10**12 - 1)),
                "inventory_quantity": sum(levels),
                "option1": combo[0] if len(combo) > 0 else None,
                "option2": combo[1] if len(combo) > 1 else None,
                "option3": combo[2] if len(combo) > 2 else None,
                "weight": Decimal(rng.randint(1, 50)) / 10,
                "weight_unit": "kg",
                "position": position,
                "inventory_policy": "deny",
                "taxable": True,
                "requires_shipping": True,
                "created_at": created,
                "updated_at": updated,
            }
        )
        rows["inventory_items"].append(
            {
                "id": item_id,
                "product_variant_id": variant_id,
                "sku": sku,
                "cost": round_money(price * Decimal("0.4")),
                "tracked": True,
                "country_code_of_origin": rng.choice(words.COUNTRIES_OF_ORIGIN),
                "created_at": created,
                "updated_at": created,
            }
        )
        for location_id, available in zip(self.location_ids, levels, strict=True):
            rows["inventory_levels"].append(
                {
                    "id": self.ids.take("inventory_levels"),
                    "inventory_item_id": item_id,
                    "location_id": location_id,
                    "available": available,
                    "committed": 0,
                    "updated_at": updated,
                }
            )


class CustomerGenerator:
    """Customers with one address and a tag or two; email and phones sealed with the cipher."""

    def __init__(self, rng: random.Random, ids: IdAllocator, cipher: FieldCipher) -> None:
        self.rng = rng
        self.ids = ids
        self.cipher = cipher
        self.index = 0
        # Who the historical orders can be for: (customer id, plain email, default address).
        self.people: list[tuple[int, str, Row]] = []

    def batch(self, count: int) -> Rows:
        rows: Rows = {name: [] for name in CUSTOMER_TABLES}
        for _ in range(count):
            self._customer(rows)
        return rows

    def _customer(self, rows: Rows) -> None:
        rng, cipher = self.rng, self.cipher
        self.index += 1
        customer_id = self.ids.take("customers")
        first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
        email = f"{first}.{last}.{self.index}@example.com".lower()
        phone = f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        sealed_email, email_hash = seal_email(cipher, email)
        created = _moment(rng, 365)
        subscribed = rng.random() < 0.6  # email marketing consent, as Shopify records it
        rows["customers"].append(
            {
                "id": customer_id,
                "email": sealed_email,
                "email_hash": email_hash,
                "first_name": first,
                "last_name": last,
                "phone": seal_optional(cipher, phone, context=CUSTOMER_PHONE),
                "state": "enabled",
                "accepts_marketing": subscribed,
                "email_marketing_state": "subscribed" if subscribed else "not_subscribed",
                "email_marketing_opt_in_level": "single_opt_in" if subscribed else None,
                "email_marketing_consent_updated_at": created if subscribed else None,
                "note": None,
                "created_at": created,
                "updated_at": created,
            }
        )
        city, province, country, zip_code = rng.choice(words.CITIES)
        street = f"{rng.randint(1, 999)} Market St"
        self.people.append(
            (
                customer_id,
                email,
                {
                    "firstName": first,
                    "lastName": last,
                    "address1": street,
                    "city": city,
                    "province": province,
                    "country": country,
                    "countryCode": country,
                    "provinceCode": province,
                    "zip": zip_code,
                },
            )
        )
        rows["customer_addresses"].append(
            {
                "id": self.ids.take("customer_addresses"),
                "customer_id": customer_id,
                "first_name": first,
                "last_name": last,
                "address1": street,
                "city": city,
                "province": province,
                "country": country,
                "zip": zip_code,
                "phone": seal_optional(cipher, phone, context=ADDRESS_PHONE),
                "is_default": True,
                "created_at": created,
                "updated_at": created,
            }
        )
        for tag in sorted(
            rng.sample(("vip", "newsletter", "wholesale", "returning"), rng.randint(0, 2))
        ):
            rows["customer_tags"].append(
                {
                    "id": self.ids.take("customer_tags"),
                    "customer_id": customer_id,
                    "tag": tag,
                    "created_at": created,
                }
            )


@dataclass(frozen=True)
class SoldVariant:
    """What an order line copies from the catalog."""

    variant_id: int
    product_title: str
    variant_title: str | None
    sku: str
    price: Decimal
    grams: int
    listed_at: datetime  # the product's created_at: no order for it before
    inventory_item_id: int | None = None  # where a lifecycle order's line takes its units


BENCH_DISCOUNT_CODE = "BENCH10"
BENCH_DISCOUNT_PERCENT = Decimal(10)
# (name, price): the rates of one zone covering every country the seed's addresses are in.
SHIPPING_RATES = (("Standard", Decimal("5.00")), ("Express", Decimal("15.00")))
# Country-wide, tax-exclusive, shipping not taxed: what tax.rules computes for these.
TAX_RATES = {
    "US": ("US Sales Tax", Decimal("0.07000")),
    "CA": ("GST", Decimal("0.05000")),
    "DE": ("MwSt", Decimal("0.19000")),
    "FR": ("TVA", Decimal("0.20000")),
    "AU": ("GST", Decimal("0.10000")),
    "JP": ("Consumption Tax", Decimal("0.10000")),
    "GB": ("VAT", Decimal("0.20000")),
}
CENT = Decimal("0.01")
ORDER_HISTORY_DAYS = 365
# (financial status, share): most orders paid, the rest across Shopify's other states.
FINANCIAL_STATUSES = (
    ("paid", 70),
    ("pending", 8),
    ("authorized", 7),
    ("partially_refunded", 5),
    ("refunded", 5),
    ("voided", 5),
)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _shares(amount: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """`amount` split over `weights` in cents, adding up exactly (as orders.pricing does:
    rounded down, the cents left to the largest remainders)."""
    total = sum(weights, Decimal(0))
    if amount == 0 or total == 0:
        return [Decimal("0.00") for _ in weights]
    exact = [amount * w / total for w in weights]
    shares = [e.quantize(CENT, rounding=ROUND_DOWN) for e in exact]
    left = int((amount - sum(shares, Decimal(0))) / CENT)
    for index in sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))[:left]:
        shares[index] += CENT
    return shares


def order_setup_rows(ids: IdAllocator, now: datetime, currency: str) -> Rows:
    """The discount code, shipping zone and rates, and tax rates the orders name."""
    start = now - timedelta(days=ORDER_HISTORY_DAYS + 1)
    zone_id = ids.take("shipping_zones")
    countries = sorted({country for _, _, country, _ in words.CITIES})
    return {
        "discount_codes": [
            {
                "id": ids.take("discount_codes"),
                "code": BENCH_DISCOUNT_CODE,
                "type": "percentage",
                "value": BENCH_DISCOUNT_PERCENT,
                "minimum_amount": None,
                "usage_limit": None,
                "used_count": 0,  # set to the orders that used it once they are written
                "starts_at": start,
                "ends_at": None,
                "currency": None,
                "created_at": start,
                "updated_at": start,
                "deleted_at": None,
                "version": 1,
            }
        ],
        "shipping_zones": [
            {
                "id": zone_id,
                "name": "Bench worldwide",
                "countries": countries,
                "created_at": start,
                "updated_at": start,
            }
        ],
        "shipping_rates": [
            {
                "id": ids.take("shipping_rates"),
                "shipping_zone_id": zone_id,
                "name": name,
                "price": price,
                "currency": currency,
                "min_weight": None,
                "max_weight": None,
                "min_subtotal": None,
                "max_subtotal": None,
                "created_at": start,
                "updated_at": start,
            }
            for name, price in SHIPPING_RATES
        ],
        "tax_rates": [
            {
                "id": ids.take("tax_rates"),
                "country": country,
                "province": None,
                "name": name,
                "rate": rate,
                "shipping_taxable": False,
                "tax_type": "normal",
                "created_at": start,
                "updated_at": start,
            }
            for country, (name, rate) in sorted(TAX_RATES.items())
        ],
    }


class OrderGenerator:
    """Placed orders over the year before `now`, numbered in the order they were placed, with
    1-3 lines of seeded variants, totals that add up (subtotal - discounts + shipping + tax =
    total), their transactions (each with its payments/transactions and transactions_enhanced
    mirrors, as the app writes them) and emails sealed like the app's (orders.email context, the
    customers' blind index).
    """

    def __init__(
        self,
        rng: random.Random,
        ids: IdAllocator,
        cipher: FieldCipher,
        *,
        variants: list[SoldVariant],
        people: list[tuple[int, str, Row]],
        setup: Rows,
        first_number: int,
        now: datetime,
        currency: str,
    ) -> None:
        self.rng = rng
        self.ids = ids
        self.cipher = cipher
        self.variants = variants
        self.people = people
        self.discount_id = int(setup["discount_codes"][0]["id"])
        self.rates = [(int(r["id"]), str(r["name"]), r["price"]) for r in setup["shipping_rates"]]
        self.next_number = first_number
        self.now = now
        self.currency = currency
        self.discounted = 0
        self.guests = 0
        self.last_placed: datetime | None = None

    def moments(self, count: int) -> list[datetime]:
        """When each order was placed, oldest first: numbers then rise with time."""
        span = ORDER_HISTORY_DAYS * 86_400
        start = self.now - timedelta(seconds=span)
        return sorted(start + timedelta(seconds=self.rng.randrange(span)) for _ in range(count))

    def batch(self, moments: list[datetime]) -> Rows:
        rows: Rows = {name: [] for name in ORDER_TABLES}
        for moment in moments:
            self._order(rows, moment)
        return rows

    def _buyer(self) -> tuple[int | None, str, Row]:
        rng = self.rng
        if self.people and rng.random() < 0.85:
            return rng.choice(self.people)
        self.guests += 1
        first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
        city, province, country, zip_code = rng.choice(words.CITIES)
        address = {
            "firstName": first,
            "lastName": last,
            "address1": f"{rng.randint(1, 999)} Harbour Rd",
            "city": city,
            "province": province,
            "country": country,
            "countryCode": country,
            "provinceCode": province,
            "zip": zip_code,
        }
        return None, f"guest.{first}.{last}.{self.guests}@example.com".lower(), address

    TAGS = "bench, historical"

    def _lines(self) -> tuple[list[SoldVariant], list[int]]:
        """The variants an order sells and how many units of each."""
        rng = self.rng
        picked = rng.sample(self.variants, rng.choice((1, 1, 2, 2, 3)))
        return picked, [rng.choices((1, 2, 3), weights=(70, 20, 10))[0] for _ in picked]

    def _state(
        self, placed_at: datetime, units: int
    ) -> tuple[str, str, datetime | None, datetime | None, str | None]:
        """(financial status, fulfillment status, closed_at, cancelled_at, cancel reason)."""
        financial = self.rng.choices(
            [f for f, _ in FINANCIAL_STATUSES], weights=[w for _, w in FINANCIAL_STATUSES]
        )[0]
        return financial, *self._lifecycle(financial, placed_at, units)

    def _stock_of(self, variant: SoldVariant) -> tuple[int | None, int | None]:
        """(inventory item, location) a line's units were committed at: none for history."""
        return None, None

    def _reference(self, order_id: int, transaction_id: int, kind: str, amount: Decimal) -> str:
        return f"bench_{kind}_{order_id}_{transaction_id}"

    def _order(self, rows: Rows, placed_at: datetime) -> None:
        rng = self.rng
        order_id = self.ids.take("orders")
        number = self.next_number
        self.next_number += 1
        customer_id, email, address = self._buyer()
        picked, quantities = self._lines()
        # An order is never older than the products it sold.
        placed_at = max([placed_at, *(v.listed_at for v in picked)])
        self.last_placed = max(placed_at, self.last_placed or placed_at)
        line_totals = [v.price * q for v, q in zip(picked, quantities, strict=True)]
        subtotal = sum(line_totals, Decimal(0))
        discount_code = None
        discount = Decimal("0.00")
        if rng.random() < 0.2:
            discount_code = BENCH_DISCOUNT_CODE
            discount = min(_cents(subtotal * BENCH_DISCOUNT_PERCENT / 100), subtotal)
            self.discounted += 1
        shares = _shares(discount, line_totals)
        shipping_line = None
        shipping = Decimal("0.00")
        if rng.random() < 0.8:
            rate_id, rate_name, shipping = rng.choice(self.rates)
            shipping_line = {"rateId": rate_id, "title": rate_name, "price": str(shipping)}
        tax_lines: list[Row] = []
        tax = Decimal("0.00")
        rate = TAX_RATES.get(str(address["countryCode"]))
        if rate is not None:
            name, value = rate
            tax = _cents((subtotal - discount) * value)
            tax_lines = [{"title": name, "rate": str(value), "amount": str(tax)}]
        total = subtotal - discount + shipping + tax
        financial, fulfillment, closed_at, cancelled_at, cancel_reason = self._state(
            placed_at, sum(quantities)
        )
        sealed, email_hash = seal_order_email(self.cipher, email, context=ORDER_EMAIL)
        gateway = "manual" if financial == "pending" else "test"
        updated_at = max(t for t in (placed_at, closed_at, cancelled_at) if t is not None)
        rows["orders"].append(
            {
                "id": order_id,
                "customer_id": customer_id,
                "email": sealed,
                "email_hash": email_hash,
                "number": f"#{number}",
                "order_number": number,
                "currency": self.currency,
                "subtotal_price": subtotal,
                "total_discounts": discount,
                "total_shipping": shipping,
                "total_tax": tax,
                "taxes_included": False,
                "total_price": total,
                "tax_lines": tax_lines,
                "discount_code": discount_code,
                "discount_code_id": self.discount_id if discount_code else None,
                "shipping_line": shipping_line,
                "shipping_address": address,
                "billing_address": address,
                "note": None,
                "tags": self.TAGS,
                "gateway": gateway,
                "financial_status": financial,
                "fulfillment_status": fulfillment,
                "processed_at": placed_at,
                "closed_at": closed_at,
                "cancelled_at": cancelled_at,
                "cancel_reason": cancel_reason,
                "reserved_until": None,
                "unsettled_payment_kind": None,
                "unsettled_payment_reference": None,
                "created_at": placed_at,
                "updated_at": updated_at,
                "deleted_at": None,
                "version": 1,
            }
        )
        fulfilled = self._fulfilled(fulfillment, quantities)
        for variant, quantity, share, done in zip(
            picked, quantities, shares, fulfilled, strict=True
        ):
            item_id, location_id = self._stock_of(variant)
            rows["order_line_items"].append(
                {
                    "id": self.ids.take("order_line_items"),
                    "order_id": order_id,
                    "product_variant_id": variant.variant_id,
                    "title": variant.product_title,
                    "variant_title": variant.variant_title,
                    "sku": variant.sku,
                    "quantity": quantity,
                    "price": variant.price,
                    "total_discount": share,
                    "taxable": True,
                    "requires_shipping": True,
                    "grams": variant.grams,
                    "fulfilled_quantity": done,
                    "inventory_item_id": item_id,
                    "location_id": location_id,
                    "created_at": placed_at,
                    "updated_at": placed_at,
                }
            )
        for kind, amount, moment in self._payments(financial, total, placed_at, updated_at):
            self._transaction(rows, order_id, kind, amount, moment)

    def _lifecycle(
        self, financial: str, placed_at: datetime, units: int
    ) -> tuple[str, datetime | None, datetime | None, str | None]:
        """(fulfillment status, closed_at, cancelled_at, cancel reason), consistent with the
        financial status: refunded and voided orders were cancelled before shipping."""
        rng = self.rng
        later = min(self.now, placed_at + timedelta(seconds=rng.randrange(3_600, 14 * 86_400)))
        if financial in ("refunded", "voided"):
            reason = "customer" if financial == "refunded" else "declined"
            return "unfulfilled", None, later, reason
        if financial in ("pending", "authorized"):
            return "unfulfilled", None, None, None
        if financial == "partially_refunded":
            return "fulfilled", later, None, None
        status = rng.choices(("fulfilled", "partial", "unfulfilled"), weights=(65, 10, 25))[0]
        if status == "partial" and units < 2:
            status = "fulfilled"
        closed = later if status == "fulfilled" and rng.random() < 0.8 else None
        return status, closed, None, None

    def _fulfilled(self, fulfillment: str, quantities: list[int]) -> list[int]:
        if fulfillment == "fulfilled":
            return list(quantities)
        if fulfillment != "partial":
            return [0 for _ in quantities]
        if len(quantities) == 1:
            return [quantities[0] - 1]
        return [quantities[0], *(0 for _ in quantities[1:])]

    def _payments(
        self, financial: str, total: Decimal, placed_at: datetime, settled_at: datetime
    ) -> list[tuple[str, Decimal, datetime]]:
        """(kind, amount, when) of each transaction the financial status implies."""
        if financial == "pending" or total <= 0:
            return []
        if financial == "authorized":
            return [("authorization", total, placed_at)]
        if financial == "voided":
            return [("authorization", total, placed_at), ("void", total, settled_at)]
        if financial == "refunded":
            return [("sale", total, placed_at), ("refund", total, settled_at)]
        if financial == "partially_refunded":
            part = max(CENT, _cents(total * Decimal(self.rng.randint(10, 60)) / 100))
            return [("sale", total, placed_at), ("refund", min(part, total - CENT), settled_at)]
        return [("sale", total, placed_at)]

    def _transaction(
        self, rows: Rows, order_id: int, kind: str, amount: Decimal, moment: datetime
    ) -> None:
        transaction_id = self.ids.take("order_transactions")
        payment_id = self.ids.take("payments")
        reference = self._reference(order_id, transaction_id, kind, amount)
        truth: Row = {
            "id": transaction_id,
            "order_id": order_id,
            "kind": kind,
            "gateway": "test",
            "status": "success",
            "amount": amount,
            "currency": self.currency,
            "authorization_code": reference if kind == "authorization" else None,
            "transaction_id": reference,
            "processed_at": moment,
            "error_code": None,
            "card_brand": "visa",
            "card_last4": "4242",
            "gift_card_id": None,
            "created_at": moment,
        }
        rows["order_transactions"].append(truth)
        # The gateway-side mirror, one payment and its one transaction (orders.repository).
        rows["payments"].append(
            {
                "id": payment_id,
                "order_id": order_id,
                "gateway": "test",
                "status": "success",
                "amount": amount,
                "currency": self.currency,
                "payment_method": "card",
                "transaction_id": reference,
                "processed_at": moment,
                "created_at": moment,
            }
        )
        rows["transactions"].append(
            {
                "id": self.ids.take("transactions"),
                "payment_id": payment_id,
                "order_transaction_id": transaction_id,
                "type": kind,
                "status": "success",
                "amount": amount,
                "currency": self.currency,
                "reference": reference,
                "processed_at": moment,
                "created_at": moment,
            }
        )
        # Shopify's shape of it, from the very function the app's repository uses, fed a
        # transient (never added to a session) model of the row: the two cannot drift apart.
        rows["transactions_enhanced"].append(
            {
                "id": self.ids.take("transactions_enhanced"),
                **enhanced_columns(OrderTransaction(**truth)),
                "created_at": moment,
            }
        )


def authorization_reference(order_id: int, amount: Decimal, currency: str) -> str:
    """The reference the `test` gateway gives an approved authorization of `amount` placed for
    `order_id` (payments/gateways/test.py: the payment's kind, amount and currency spelled out,
    the placement's idempotency key digested): its capture, void and refund accept it.
    tests/bench/test_seed.py holds it to the gateway's own answer."""
    digest = hashlib.sha256(payment_key(order_id, "authorize").encode()).hexdigest()[:24]
    return f"tst_auth_{digest}_{currency}_{amount}_-"


class LifecycleOrderGenerator(OrderGenerator):
    """Orders for the order_lifecycle scenario to capture, fulfil and refund: authorized with
    the `test` gateway for their total (an authorization its capture accepts), unfulfilled,
    1 to 3 lines (2 units at least, so refunding one leaves the refund partial), all at one
    location, each naming the inventory item and location its units are committed at."""

    TAGS = "bench, lifecycle"

    def __init__(self, *args: Any, location_ids: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location_ids = location_ids
        self.location_id = location_ids[0]

    def moments(self, count: int, after: datetime | None = None) -> list[datetime]:
        """Evenly over the time between the last historical order and `now`, so ids and
        numbers keep rising with created_at across both sets."""
        start = after if after is not None else self.now - timedelta(days=1)
        return [start + (self.now - start) * ((i + 1) / (count + 1)) for i in range(count)]

    def _lines(self) -> tuple[list[SoldVariant], list[int]]:
        rng = self.rng
        self.location_id = rng.choice(self.location_ids)
        picked = rng.sample(self.variants, min(len(self.variants), rng.choice((1, 2, 2, 3))))
        quantities = [rng.choice((1, 2)) for _ in picked]
        if sum(quantities) < 2:
            quantities[0] = 2
        return picked, quantities

    def _state(
        self, placed_at: datetime, units: int
    ) -> tuple[str, str, datetime | None, datetime | None, str | None]:
        return "authorized", "unfulfilled", None, None, None

    def _stock_of(self, variant: SoldVariant) -> tuple[int | None, int | None]:
        return self._item_of(variant), self.location_id

    def _reference(self, order_id: int, transaction_id: int, kind: str, amount: Decimal) -> str:
        return authorization_reference(order_id, amount, self.currency)

    @staticmethod
    def _item_of(variant: SoldVariant) -> int:
        if variant.inventory_item_id is None:
            raise ValueError(f"variant {variant.variant_id} has no inventory item")
        return variant.inventory_item_id


def location_rows(spec: SeedSpec, ids: IdAllocator) -> list[Row]:
    rows = []
    for index in range(spec.locations):
        city, province, country, zip_code = words.CITIES[index % len(words.CITIES)]
        suffix = "" if index < len(words.CITIES) else f" {index // len(words.CITIES) + 1}"
        rows.append(
            {
                "id": ids.take("locations"),
                "name": f"{city} Warehouse{suffix}",
                "address1": f"{100 + index} Dock Rd",
                "city": city,
                "province": province,
                "country": country,
                "zip": zip_code,
                "active": True,
                "created_at": EPOCH,
                "updated_at": EPOCH,
            }
        )
    return rows


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


async def _next_ids(connection: AsyncConnection) -> dict[str, int]:
    first = {}
    for name in SEEDED_TABLES:
        table = _table(name)
        highest = (await connection.execute(select(func.max(table.c.id)))).scalar_one()
        first[name] = int(highest or 0) + 1
    return first


async def insert_rows(connection: AsyncConnection, table_name: str, rows: list[Row]) -> None:
    """COPY on PostgreSQL (several times faster than INSERT), executemany elsewhere."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        columns = list(rows[0])
        raw = await connection.get_raw_connection()
        # The asyncpg connection under SQLAlchemy's adapter: same session, same transaction.
        driver: Any = raw.driver_connection
        # JSON columns go as text: the codec SQLAlchemy installs for jsonb takes a string.
        records = [
            tuple(
                json.dumps(value) if isinstance(value, dict | list) else value
                for value in (row[c] for c in columns)
            )
            for row in rows
        ]
        await driver.copy_records_to_table(table_name, records=records, columns=columns)
    else:
        await connection.execute(_table(table_name).insert(), rows)


async def _seed_orders(
    connection: AsyncConnection,
    write: Callable[[Rows], Any],
    cipher: FieldCipher,
    spec: SeedSpec,
    ids: IdAllocator,
    sold: list[SoldVariant],
    people: list[tuple[int, str, Row]],
    until: datetime,
    location_ids: list[int],
) -> None:
    # A generator of its own: the catalog and customers stay what they were before orders.
    rng = random.Random(f"{spec.seed}:orders")  # noqa: S311 - reproducible data
    setup = order_setup_rows(ids, until, BENCH_CURRENCY)
    await write(setup)
    first = await _first_order_number(connection)
    orders = OrderGenerator(
        rng,
        ids,
        cipher,
        variants=sold,
        people=people,
        setup=setup,
        first_number=first,
        now=until,
        currency=BENCH_CURRENCY,
    )
    moments = orders.moments(spec.orders)
    for start in range(0, len(moments), ORDERS_PER_BATCH):
        await write(orders.batch(moments[start : start + ORDERS_PER_BATCH]))
    next_number, discounted = orders.next_number, orders.discounted
    if spec.lifecycle_orders:
        # A generator of its own again: the history is the same with or without this set.
        lifecycle = LifecycleOrderGenerator(
            random.Random(f"{spec.seed}:lifecycle"),  # noqa: S311 - reproducible data
            ids,
            cipher,
            variants=sold,
            people=people,
            setup=setup,
            first_number=next_number,
            now=until,
            currency=BENCH_CURRENCY,
            location_ids=location_ids,
        )
        moments = lifecycle.moments(spec.lifecycle_orders, after=orders.last_placed)
        first_id = ids.peek("orders")
        for start in range(0, len(moments), ORDERS_PER_BATCH):
            await write(lifecycle.batch(moments[start : start + ORDERS_PER_BATCH]))
        await _commit_lifecycle_stock(connection, first_id)
        next_number, discounted = lifecycle.next_number, discounted + lifecycle.discounted
    await _advance_order_numbers(connection, next_number - 1)
    codes = _table("discount_codes")
    await connection.execute(
        codes.update().where(codes.c.code == BENCH_DISCOUNT_CODE).values(used_count=discounted)
    )


async def _commit_lifecycle_stock(connection: AsyncConnection, first_order_id: int) -> None:
    """The lifecycle orders' units, committed at the levels their lines name: one set-based
    UPDATE from the lines themselves, so the two cannot disagree."""
    await connection.execute(
        text(
            "UPDATE inventory_levels SET committed = inventory_levels.committed + c.units "
            "FROM (SELECT inventory_item_id, location_id, sum(quantity) AS units "
            "FROM order_line_items WHERE order_id >= :first AND inventory_item_id IS NOT NULL "
            "GROUP BY inventory_item_id, location_id) AS c "
            "WHERE inventory_levels.inventory_item_id = c.inventory_item_id "
            "AND inventory_levels.location_id = c.location_id"
        ),
        {"first": first_order_id},
    )


async def _finish_postgres(connection: AsyncConnection) -> None:
    # Explicit ids leave identity sequences behind; later inserts through the API need them moved.
    for name in SEEDED_TABLES:
        await connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608 - fixed names
                f"GREATEST((SELECT max(id) FROM {name}), 1))"
            )
        )


async def vacuum_analyze(engine: AsyncEngine) -> None:
    """After the load has committed (VACUUM cannot run in a transaction), on PostgreSQL.

    COPY leaves the new rows of the pg_trgm GIN indexes in their pending list, which makes
    the planner price them out and choose sequential scans for `q` (35 ms instead of 5 ms
    per search on 10,000 products) until autovacuum gets round to it; ANALYZE gives the
    planner the real row counts.
    """
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) " + ", ".join(SEEDED_TABLES)))


def write_credentials(path: Path, email: str, password: str) -> None:
    """The bench admin's password, readable by this user only; never printed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"email": email, "password": password}, handle)
    os.replace(temporary, path)


def read_credentials(path: Path) -> tuple[str, str]:
    data = json.loads(path.read_text())
    return str(data["email"]), str(data["password"])


async def _ensure_admin(connection: AsyncConnection, password: str) -> None:
    # A savepoint inside the caller's transaction: the CLI commits once, tests roll back.
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        from shopdb.auth.passwords import hash_password
        from shopdb.users.repository import UserRepository

        existing = await UserRepository(session).get_by_email(BENCH_ADMIN_EMAIL)
        if existing is None:
            await create_user(
                session,
                email=BENCH_ADMIN_EMAIL,
                password=password,
                role="admin",
                first_name="Bench",
                last_name="Admin",
            )
        else:
            existing.password_hash = hash_password(password)
            existing.active = True
        await session.commit()


def _batches(total: int, size: int) -> Iterator[int]:
    done = 0
    while done < total:
        step = min(size, total - done)
        yield step
        done += step


def _sold_variants(rows: Rows) -> list[SoldVariant]:
    products = {row["id"]: row for row in rows["products"]}
    items = {row["product_variant_id"]: int(row["id"]) for row in rows["inventory_items"]}
    return [
        SoldVariant(
            variant_id=int(variant["id"]),
            product_title=str(products[variant["product_id"]]["title"]),
            # As the app names an order line: no title for a product's only default variant.
            variant_title=None if variant["title"] == "Default Title" else str(variant["title"]),
            sku=str(variant["sku"]),
            price=variant["price"],
            grams=int(variant["weight"] * 1000),
            listed_at=products[variant["product_id"]]["created_at"],
            inventory_item_id=items.get(variant["id"]),
        )
        for variant in rows["product_variants"]
    ]


async def _first_order_number(connection: AsyncConnection) -> int:
    """The number the app would give the next order (the sequence, or SQLite's counter)."""
    if connection.dialect.name == "postgresql":
        row = (
            await connection.execute(
                text(f"SELECT last_value, is_called FROM {ORDER_NUMBER_SEQUENCE}")  # noqa: S608
            )
        ).one()
        return int(row.last_value) + 1 if row.is_called else int(row.last_value)
    last = (
        await connection.execute(
            text("SELECT last_value FROM order_number_counters WHERE name = 'orders'")
        )
    ).scalar()
    return FIRST_ORDER_NUMBER if last is None else int(last) + 1


async def _advance_order_numbers(connection: AsyncConnection, last: int) -> None:
    """Past the seeded orders: the next placed order gets `last` + 1."""
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT setval(:sequence, :last, true)"),
            {"sequence": ORDER_NUMBER_SEQUENCE, "last": last},
        )
        return
    updated = await connection.execute(
        text("UPDATE order_number_counters SET last_value = :last WHERE name = 'orders'"),
        {"last": last},
    )
    if not updated.rowcount:
        await connection.execute(
            text("INSERT INTO order_number_counters (name, last_value) VALUES ('orders', :last)"),
            {"last": last},
        )


def default_order_horizon() -> datetime:
    """Orders end at the start of the current UTC day: one seed gives one data set a day."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


async def seed_bench(
    connection: AsyncConnection,
    cipher: FieldCipher,
    spec: SeedSpec,
    *,
    progress: Callable[[int], None] | None = None,
    orders_until: datetime | None = None,
) -> SeedResult:
    """Load the data set on `connection`, inside the caller's transaction.

    Refuses a database that already has products: determinism and unique handles need an empty
    catalog. `progress` is called with the number of products or customers just written.
    Orders are placed over the `ORDER_HISTORY_DAYS` before `orders_until` (default: the start
    of today, UTC).
    """
    products_table = _table("products")
    existing = (
        await connection.execute(select(func.count()).select_from(products_table))
    ).scalar_one()
    if existing:
        raise Conflict(
            f"the database already has {existing} products; bench seed needs an empty catalog "
            "(make bench creates a fresh database)"
        )
    rng = random.Random(spec.seed)  # noqa: S311 - reproducible data, not secrets
    ids = IdAllocator(await _next_ids(connection))
    result = SeedResult()
    counts = result.counts

    async def write(rows: Rows) -> None:
        for name, table_rows in rows.items():
            await insert_rows(connection, name, table_rows)
            counts[name] = counts.get(name, 0) + len(table_rows)

    shop = (
        await connection.execute(
            select(_table("shops").c.id).where(_table("shops").c.domain == BENCH_SHOP_DOMAIN)
        )
    ).first()
    if shop is None:
        await write(
            {
                "shops": [
                    {
                        "id": ids.take("shops"),
                        "name": "shopdb Bench Store",
                        "domain": BENCH_SHOP_DOMAIN,
                        "email": "hello@bench.shopdb.local",
                        "currency": BENCH_CURRENCY,
                        "timezone": "UTC",
                        "setup_required": False,
                        "created_at": EPOCH,
                        "updated_at": EPOCH,
                    }
                ]
            }
        )
    locations = location_rows(spec, ids)
    await write({"locations": locations})

    catalog = CatalogGenerator(spec, rng, ids, [row["id"] for row in locations])
    sold: list[SoldVariant] = []
    for count in _batches(spec.products, PRODUCTS_PER_BATCH):
        batch = catalog.batch(count)
        await write(batch)
        sold += _sold_variants(batch)
        if progress is not None:
            progress(count)
    people = CustomerGenerator(rng, ids, cipher)
    for count in _batches(spec.customers, CUSTOMERS_PER_BATCH):
        await write(people.batch(count))
        if progress is not None:
            progress(count)
    if (spec.orders or spec.lifecycle_orders) and sold:
        await _seed_orders(
            connection,
            write,
            cipher,
            spec,
            ids,
            sold,
            people.people,
            orders_until or default_order_horizon(),
            [int(row["id"]) for row in locations],
        )

    result.admin_password = secrets.token_urlsafe(24)
    await _ensure_admin(connection, result.admin_password)
    if connection.dialect.name == "postgresql":
        await _finish_postgres(connection)
    return result
