"""`shopdb bench seed`: a large, deterministic catalog loaded in bulk.

Rows are generated in Python with explicit ids (so foreign keys need no round trip) and written
per table in batches: COPY through asyncpg on PostgreSQL, an executemany INSERT elsewhere. The
same seed on an empty database gives the same rows, except the ciphertexts of customers' personal
data, whose nonces are random by design.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from shopdb.bench import words
from shopdb.customers.pii import ADDRESS_PHONE, CUSTOMER_PHONE, seal_email, seal_optional
from shopdb.errors import Conflict
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.models import Base
from shopdb.kit.types import round_money
from shopdb.users.service import create_user

BENCH_ADMIN_EMAIL = "bench-admin@bench.shopdb.local"
BENCH_SHOP_DOMAIN = "bench.shopdb.local"
CREDENTIALS_FILE = "bench-admin.json"
# Generated timestamps start here, so two runs with one seed produce identical rows.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
PRODUCTS_PER_BATCH = 500
CUSTOMERS_PER_BATCH = 500

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
SEEDED_TABLES = ("shops", "locations", *CATALOG_TABLES, *CUSTOMER_TABLES)


@dataclass(frozen=True)
class SeedSpec:
    products: int = 10_000
    variants: int = 3
    locations: int = 2
    customers: int = 1_000
    images: int = 1
    seed: int = 42

    def __post_init__(self) -> None:
        if self.products < 0 or self.customers < 0 or self.images < 0:
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
        rows["customer_addresses"].append(
            {
                "id": self.ids.take("customer_addresses"),
                "customer_id": customer_id,
                "first_name": first,
                "last_name": last,
                "address1": f"{rng.randint(1, 999)} Market St",
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
        await driver.copy_records_to_table(
            table_name, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
        )
    else:
        await connection.execute(_table(table_name).insert(), rows)


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


async def seed_bench(
    connection: AsyncConnection,
    cipher: FieldCipher,
    spec: SeedSpec,
    *,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Load the data set on `connection`, inside the caller's transaction.

    Refuses a database that already has products: determinism and unique handles need an empty
    catalog. `progress` is called with the number of products or customers just written.
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
                        "currency": "USD",
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
    for count in _batches(spec.products, PRODUCTS_PER_BATCH):
        await write(catalog.batch(count))
        if progress is not None:
            progress(count)
    people = CustomerGenerator(rng, ids, cipher)
    for count in _batches(spec.customers, CUSTOMERS_PER_BATCH):
        await write(people.batch(count))
        if progress is not None:
            progress(count)

    result.admin_password = secrets.token_urlsafe(24)
    await _ensure_admin(connection, result.admin_password)
    if connection.dialect.name == "postgresql":
        await _finish_postgres(connection)
    return result
