"""A realistic demo store: a shop, 2 locations, ~50 products, 20 customers, 30 orders.

Deterministic (a fixed random seed) and idempotent: the shop's domain marks it as loaded.
Historical orders are written directly as paid; unfulfilled ones hold committed stock, so the
inventory states add up exactly as if the orders had been placed through the API. Each order's
payment goes through the orders repository, which writes its mirrors with it.
"""

from __future__ import annotations

import itertools
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.bench.words import FIRST_NAMES, LAST_NAMES
from shopdb.catalog.rules import DEFAULT_OPTION_NAME, DEFAULT_OPTION_VALUE
from shopdb.customers.pii import ADDRESS_PHONE, CUSTOMER_PHONE, seal_email, seal_optional
from shopdb.kit import crypto
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.types import round_money, utcnow
from shopdb.models import (
    Customer,
    CustomerAddress,
    CustomerTag,
    InventoryItem,
    InventoryLevel,
    Location,
    OptionValue,
    Order,
    OrderLineItem,
    OrderTransaction,
    Product,
    ProductOption,
    ProductTag,
    ProductVariant,
    Shop,
)
from shopdb.models.orders import ORDER_EMAIL
from shopdb.orders.repository import OrderRepository
from shopdb.users.service import create_user, ensure_permissions

DEMO_DOMAIN = "demo.shopdb.local"
DEMO_ADMIN_EMAIL = "admin@demo.shopdb.local"
# The historical orders were paid offline (Shopify's manual payment method).
DEMO_GATEWAY = "manual"
# Historical orders the demo store starts with.
DEMO_ORDERS = 30

_CATALOG: list[tuple[str, str, list[str], dict[str, list[str]], Decimal]] = [
    # (product type, vendor, title nouns, options, base price)
    (
        "T-Shirt",
        "Northwind Apparel",
        [
            "Classic Tee",
            "Organic Tee",
            "Pocket Tee",
            "V-Neck Tee",
            "Graphic Tee",
            "Long Sleeve Tee",
            "Heavyweight Tee",
            "Ringer Tee",
        ],
        {"Size": ["S", "M", "L"], "Color": ["Black", "White"]},
        Decimal("24.00"),
    ),
    (
        "Hoodie",
        "Northwind Apparel",
        [
            "Zip Hoodie",
            "Pullover Hoodie",
            "Fleece Hoodie",
            "Tech Hoodie",
            "Oversized Hoodie",
            "Lightweight Hoodie",
        ],
        {"Size": ["S", "M", "L"], "Color": ["Grey", "Navy"]},
        Decimal("59.00"),
    ),
    (
        "Mug",
        "Harbor Ceramics",
        ["Stoneware Mug", "Camp Mug", "Espresso Cup", "Travel Mug", "Latte Bowl", "Tea Cup"],
        {"Color": ["Sand", "Slate", "Moss"]},
        Decimal("18.00"),
    ),
    (
        "Coffee",
        "Ridgeline Roasters",
        [
            "House Blend",
            "Ethiopia Yirgacheffe",
            "Colombia Huila",
            "Decaf Swiss Water",
            "Espresso Roast",
            "Guatemala Antigua",
            "Kenya AA",
            "Sumatra Mandheling",
        ],
        {"Size": ["250g", "1kg"], "Grind": ["Whole Bean", "Ground"]},
        Decimal("14.50"),
    ),
    (
        "Backpack",
        "Summit Gear",
        [
            "Daypack 20L",
            "Commuter Pack",
            "Roll-top Pack",
            "Hiking Pack 35L",
            "Laptop Sleeve Pack",
            "Mini Backpack",
        ],
        {"Color": ["Black", "Olive", "Rust"]},
        Decimal("89.00"),
    ),
    (
        "Candle",
        "Lumen & Wick",
        [
            "Cedar Candle",
            "Fig Candle",
            "Sea Salt Candle",
            "Amber Candle",
            "Pine Candle",
            "Lavender Candle",
            "Tobacco Vanilla Candle",
            "Citrus Candle",
        ],
        {"Size": ["Small", "Large"]},
        Decimal("22.00"),
    ),
    (
        "Notebook",
        "Paper Trail Co.",
        [
            "Dot Grid Notebook",
            "Lined Journal",
            "Sketchbook A5",
            "Pocket Notebook",
            "Planner 2027",
            "Field Notes Set",
            "Recipe Journal",
            "Travel Journal",
        ],
        {},
        Decimal("12.00"),
    ),
]
_CITIES = [
    ("Portland", "OR", "US", "97205"),
    ("Austin", "TX", "US", "78701"),
    ("Toronto", "ON", "CA", "M5V 2T6"),
    ("Berlin", "BE", "DE", "10115"),
    ("Lyon", "ARA", "FR", "69002"),
    ("Melbourne", "VIC", "AU", "3000"),
]


@dataclass
class DemoResult:
    created: bool
    admin_email: str | None = None
    admin_password: str | None = None
    products: int = 0
    customers: int = 0
    orders: int = 0


async def seed_demo(
    session: AsyncSession, cipher: FieldCipher, *, create_admin: bool, rng_seed: int = 2026
) -> DemoResult:
    already = await session.execute(select(Shop.id).where(Shop.domain == DEMO_DOMAIN))
    if already.scalar_one_or_none() is not None:
        return DemoResult(created=False)

    rng = random.Random(rng_seed)
    await ensure_permissions(session)
    session.add(
        Shop(
            name="shopdb Demo Store",
            domain=DEMO_DOMAIN,
            email="hello@demo.shopdb.local",
            currency="USD",
            timezone="America/Los_Angeles",
            country="US",
            province="OR",
            city="Portland",
            address1="100 SW Main St",
            zip="97204",
            setup_required=False,
        )
    )
    locations = [
        Location(
            name="Portland Warehouse",
            address1="2100 NW Front Ave",
            city="Portland",
            province="OR",
            country="US",
            zip="97209",
            phone="+1 503 555 0100",
        ),
        Location(
            name="Toronto Store",
            address1="401 Queen St W",
            city="Toronto",
            province="ON",
            country="CA",
            zip="M5V 2A9",
            phone="+1 416 555 0199",
        ),
    ]
    session.add_all(locations)
    await session.flush()

    variants = await _seed_catalog(session, rng, locations)
    customers = await _seed_customers(session, rng, cipher)
    orders = await _seed_orders(session, rng, cipher, customers, variants, locations[0])

    result = DemoResult(
        created=True,
        products=len({v.product_id for v in variants}),
        customers=len(customers),
        orders=orders,
    )
    if create_admin:
        password = secrets.token_urlsafe(18)
        await create_user(
            session,
            email=DEMO_ADMIN_EMAIL,
            password=password,
            role="admin",
            first_name="Demo",
            last_name="Admin",
        )
        result.admin_email, result.admin_password = DEMO_ADMIN_EMAIL, password
    return result


def _sentence(text: str) -> str:
    """`text` ended by one full stop: "Paper Trail Co." is not followed by another."""
    return text if text.endswith(".") else text + "."


def _handle(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-").replace("--", "-")


async def _seed_catalog(
    session: AsyncSession, rng: random.Random, locations: list[Location]
) -> list[ProductVariant]:
    all_variants: list[ProductVariant] = []
    now = utcnow()
    for product_type, vendor, titles, options, base_price in _CATALOG:
        for index, title in enumerate(titles):
            tags = sorted(
                {
                    product_type.lower(),
                    vendor.split()[0].lower(),
                    rng.choice(["new", "bestseller", "sale", "gift", "eco"]),
                }
            )
            product = Product(
                title=title,
                handle=_handle(f"{title} {vendor.split()[0]}"),
                body_html=f"<p>{_sentence(f'{title} by {vendor}')} Made to last.</p>",
                vendor=vendor,
                product_type=product_type,
                status="active" if index % 7 else "draft",
                tags=", ".join(tags),
                published_at=now - timedelta(days=rng.randint(1, 400)) if index % 7 else None,
            )
            product.tag_rows = [ProductTag(tag=t) for t in tags]
            # A product without options has Shopify's implicit one, as the API gives it
            # (catalog/rules.py fill_default_option): Title, with one variant "Default Title".
            axes = options or {DEFAULT_OPTION_NAME: [DEFAULT_OPTION_VALUE]}
            product.options = [
                ProductOption(
                    name=name,
                    position=pos,
                    values=[OptionValue(value=v, position=i) for i, v in enumerate(values, 1)],
                )
                for pos, (name, values) in enumerate(axes.items(), 1)
            ]
            combos = list(itertools.product(*axes.values()))
            price = round_money(base_price + Decimal(rng.randint(0, 8)))
            product.variants = []
            for position, combo in enumerate(combos, 1):
                sku = f"{_handle(title)[:18].upper()}-{position:02d}-{rng.randint(100, 999)}"
                variant = ProductVariant(
                    title=" / ".join(combo),
                    price=price,
                    compare_at_price=round_money(price * Decimal("1.25"))
                    if "sale" in tags
                    else None,
                    sku=sku,
                    barcode=f"{rng.randint(10**11, 10**12 - 1)}",
                    option1=combo[0] if len(combo) > 0 else None,
                    option2=combo[1] if len(combo) > 1 else None,
                    option3=combo[2] if len(combo) > 2 else None,
                    weight=Decimal(rng.randint(1, 30)) / 10,
                    weight_unit="kg",
                    position=position,
                )
                levels = [
                    InventoryLevel(location_id=loc.id, available=rng.randint(0, 60))
                    for loc in locations
                ]
                variant.inventory_item = InventoryItem(
                    sku=sku,
                    cost=round_money(price * Decimal("0.4")),
                    tracked=True,
                    country_code_of_origin=rng.choice(["US", "CA", "PT", "VN"]),
                )
                variant.inventory_item.levels = levels
                variant.inventory_quantity = sum(level.available for level in levels)
                product.variants.append(variant)
            session.add(product)
            all_variants.extend(product.variants)
    await session.flush()
    return all_variants


async def _seed_customers(
    session: AsyncSession, rng: random.Random, cipher: FieldCipher
) -> list[tuple[Customer, str]]:
    customers = []
    for first, last in zip(FIRST_NAMES, LAST_NAMES, strict=True):
        email = f"{first}.{last}@example.com".lower()
        sealed_email, email_hash = seal_email(cipher, email)
        phone = f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        city, province, country, zip_code = rng.choice(_CITIES)
        customer = Customer(
            email=sealed_email,
            email_hash=email_hash,
            first_name=first,
            last_name=last,
            phone=seal_optional(cipher, phone, context=CUSTOMER_PHONE),
            state="enabled",
        )
        if rng.random() < 0.6:  # Shopify's email consent: subscribed, single opt-in
            customer.email_marketing_state = "subscribed"
            customer.email_marketing_opt_in_level = "single_opt_in"
            customer.email_marketing_consent_updated_at = utcnow()
        customer.addresses = [
            CustomerAddress(
                first_name=first,
                last_name=last,
                address1=f"{rng.randint(1, 999)} Market St",
                city=city,
                province=province,
                country=country,
                zip=zip_code,
                phone=seal_optional(cipher, phone, context=ADDRESS_PHONE),
                is_default=True,
            )
        ]
        customer.tag_rows = [
            CustomerTag(tag=t)
            for t in sorted({rng.choice(["vip", "newsletter", "wholesale", "returning"])})
        ]
        session.add(customer)
        customers.append((customer, email))
    await session.flush()
    return customers


async def _seed_orders(
    session: AsyncSession,
    rng: random.Random,
    cipher: FieldCipher,
    customers: list[tuple[Customer, str]],
    variants: list[ProductVariant],
    location: Location,
) -> int:
    levels = {
        level.inventory_item_id: level
        for v in variants
        if v.inventory_item is not None
        for level in v.inventory_item.levels
        if level.location_id == location.id
    }
    now = utcnow()
    orders = OrderRepository(session)
    placed = 0
    for index in range(DEMO_ORDERS):
        customer, email = rng.choice(customers)
        picked = rng.sample(variants, rng.randint(1, 3))
        fulfilled = index % 3 != 2
        lines = []
        for variant in picked:
            assert variant.inventory_item is not None
            level = levels[variant.inventory_item.id]
            quantity = min(rng.randint(1, 2), level.available)
            if quantity == 0:
                continue
            # A fulfilled order's units have left; an open order's units are committed.
            level.available -= quantity
            variant.inventory_quantity -= quantity
            if not fulfilled:
                level.committed += quantity
            lines.append(
                OrderLineItem(
                    product_variant_id=variant.id,
                    title=variant.title,
                    quantity=quantity,
                    price=variant.price,
                    sku=variant.sku,
                    fulfilled_quantity=quantity if fulfilled else 0,
                )
            )
        if not lines:
            continue
        subtotal = round_money(sum((li.price * li.quantity for li in lines), Decimal(0)))
        tax = round_money(subtotal * Decimal("0.08"))
        processed = now - timedelta(days=rng.randint(0, 90), minutes=rng.randint(0, 1440))
        sealed_email, email_hash = crypto.seal_email(cipher, email, context=ORDER_EMAIL)
        # From the app's own counter: the first order a user places next gets the next number.
        number = await orders.next_order_number()
        order = Order(
            customer_id=customer.id,
            email=sealed_email,
            email_hash=email_hash,
            number=f"#{number}",
            order_number=number,
            subtotal_price=subtotal,
            total_tax=tax,
            total_price=subtotal + tax,
            currency="USD",
            financial_status="paid",
            fulfillment_status="fulfilled" if fulfilled else "unfulfilled",
            processed_at=processed,
            line_items=lines,
        )
        session.add(order)
        await session.flush()
        # Through the app's own writer, so the payment has its mirrors (payments with its
        # transaction, and transactions_enhanced) exactly as a placed order's would.
        await orders.add_transaction(
            OrderTransaction(
                order_id=order.id,
                kind="sale",
                gateway=DEMO_GATEWAY,
                status="success",
                amount=subtotal + tax,
                currency="USD",
                transaction_id=f"demo-{number}",
                processed_at=processed,
            ),
            # What placement records for a payment without a card: the gateway's name.
            payment_method=DEMO_GATEWAY,
        )
        placed += 1
    return placed
