"""The database's answer for random rules equals an independent Python evaluation."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.collections.service import collection_products
from shopdb.kit.pagination import PageRequest
from shopdb.models import (
    Order,
    OrderLineItem,
    Product,
    ProductTag,
    ProductVariant,
    SmartCollection,
)

WORDS = ["Red", "blue", "GREEN", "Shirt", "hat", "Sock", "wool", "Linen", "a_b", "50%"]
VENDORS = ["Acme", "acme", "Globex", "Initech", None]
TYPES = ["Shirt", "Hat", "Socks", None]
TAGS = ["sale", "Summer", "winter", "new", "eco"]
SORTS = [
    "manual",
    "alpha-asc",
    "alpha-desc",
    "best-selling",
    "price-asc",
    "price-desc",
    "created",
    "created-desc",
]


@dataclass
class V:
    title: str
    price: Decimal
    compare_at: Decimal | None
    weight: Decimal | None
    inventory: int


@dataclass
class P:
    id: int
    title: str
    vendor: str | None
    type: str | None
    tags: list[str]
    variants: list[V]
    created_at: datetime
    deleted: bool
    sold: int = 0


def text_match(value: str | None, relation: str, condition: str) -> bool:
    v, c = (value or "").lower(), condition.lower()
    return {
        "equals": v == c,
        "not_equals": v != c,
        "starts_with": v.startswith(c),
        "ends_with": v.endswith(c),
        "contains": c in v,
        "not_contains": c not in v,
    }[relation]


def number_match(value: Decimal | int | None, relation: str, condition: str) -> bool:
    if value is None:
        return False
    c = Decimal(condition)
    return {
        "equals": value == c,
        "not_equals": value != c,
        "greater_than": value > c,
        "less_than": value < c,
    }[relation]


def matches(product: P, rule: dict[str, str]) -> bool:
    column, relation, condition = rule["column"], rule["relation"], rule["condition"]
    if column == "title":
        return text_match(product.title, relation, condition)
    if column == "vendor":
        return text_match(product.vendor, relation, condition)
    if column == "type":
        return text_match(product.type, relation, condition)
    if column == "tag":
        return condition.lower() in {t.lower() for t in product.tags}
    if column == "variant_title":
        return any(text_match(v.title, relation, condition) for v in product.variants)
    if column == "is_price_reduced":
        reduced = [v.compare_at is not None and v.compare_at > v.price for v in product.variants]
        return any(reduced) if relation == "is_set" else not all(reduced)
    attribute = {
        "variant_price": "price",
        "variant_compare_at_price": "compare_at",
        "variant_weight": "weight",
        "variant_inventory": "inventory",
    }[column]
    return any(number_match(getattr(v, attribute), relation, condition) for v in product.variants)


def expected(
    products: list[P], rules: list[dict[str, str]], disjunctive: bool, sort: str, manual: list[int]
) -> list[int]:
    combine = any if disjunctive else all
    chosen = [p for p in products if not p.deleted and combine(matches(p, r) for r in rules)]
    if sort == "manual":
        rank = {pid: i for i, pid in enumerate(manual)}
        chosen.sort(key=lambda p: (p.id not in rank, rank.get(p.id, 0), p.id))
    elif sort == "best-selling":
        chosen.sort(key=lambda p: (-p.sold, p.id))
    elif sort.startswith("alpha"):
        chosen.sort(key=lambda p: (p.title, p.id), reverse=sort.endswith("desc"))
    elif sort.startswith("price"):
        chosen.sort(
            key=lambda p: (min(v.price for v in p.variants), p.id), reverse=sort.endswith("desc")
        )
    else:
        chosen.sort(key=lambda p: (p.created_at, p.id), reverse=sort.endswith("desc"))
    return [p.id for p in chosen]


def random_rule(rng: random.Random) -> dict[str, str]:
    column = rng.choice(
        [
            "title",
            "type",
            "vendor",
            "tag",
            "variant_title",
            "variant_price",
            "variant_compare_at_price",
            "variant_weight",
            "variant_inventory",
            "is_price_reduced",
        ]
    )
    if column == "is_price_reduced":
        return {"column": column, "relation": rng.choice(["is_set", "is_not_set"]), "condition": ""}
    if column == "tag":
        return {"column": column, "relation": "equals", "condition": rng.choice(TAGS).upper()}
    if column.startswith("variant_") and column != "variant_title":
        relation = rng.choice(["equals", "not_equals", "greater_than", "less_than"])
        condition = (
            str(rng.choice([0, 1, 5, 10, 20]))
            if column == "variant_inventory"
            else rng.choice(["0", "9.99", "15", "20.5", "0.5"])
        )
        return {"column": column, "relation": relation, "condition": condition}
    relation = rng.choice(
        ["equals", "not_equals", "starts_with", "ends_with", "contains", "not_contains"]
    )
    pool = {"vendor": [v for v in VENDORS if v], "type": [t for t in TYPES if t]}.get(column, WORDS)
    condition = rng.choice(pool)
    if relation in ("contains", "not_contains", "starts_with", "ends_with") and rng.random() < 0.5:
        condition = condition[: max(1, len(condition) // 2)]
    return {"column": column, "relation": relation, "condition": condition}


async def build_catalog(session: AsyncSession, rng: random.Random, count: int) -> list[P]:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    products: list[P] = []
    for n in range(count):
        title = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
        variants = []
        for k in range(rng.randint(1, 3)):
            price = Decimal(rng.choice(["0.00", "5.00", "9.99", "15.00", "20.50", "99.00"]))
            variants.append(
                V(
                    title=f"{rng.choice(WORDS)} {k}",
                    price=price,
                    compare_at=rng.choice([None, price + Decimal("5.00"), price]),
                    weight=rng.choice([None, Decimal("0.50"), Decimal("1.25")]),
                    inventory=rng.choice([0, 1, 5, 10, 20]),
                )
            )
        p = P(
            id=0,
            title=title,
            vendor=rng.choice(VENDORS),
            type=rng.choice(TYPES),
            tags=rng.sample(TAGS, rng.randint(0, 3)),
            variants=variants,
            created_at=base + timedelta(hours=rng.randint(0, 1000), seconds=n),
            deleted=rng.random() < 0.1,
        )
        row = Product(
            title=p.title,
            handle=f"gen-{n}",
            vendor=p.vendor,
            product_type=p.type,
            status="active",
            tags=", ".join(p.tags) or None,
            created_at=p.created_at,
            deleted_at=base if p.deleted else None,
        )
        row.tag_rows = [ProductTag(tag=t) for t in p.tags]
        row.variants = [
            ProductVariant(
                title=v.title,
                price=v.price,
                compare_at_price=v.compare_at,
                weight=v.weight,
                weight_unit="kg",
                inventory_quantity=v.inventory,
                option1=v.title,
                position=i + 1,
            )
            for i, v in enumerate(variants)
        ]
        session.add(row)
        await session.flush()
        p.id = row.id
        products.append(p)
        # Orders for best-selling: cancelled ones sell nothing.
        for number in range(rng.randint(0, 2)):
            lines = [(rng.choice(row.variants).id, rng.randint(1, 4)) for _ in range(2)]
            cancelled = rng.random() < 0.2
            session.add(
                Order(
                    email="buyer@example.com",
                    number=f"#{n}-{number}",
                    total_price=Decimal(1),
                    subtotal_price=Decimal(1),
                    cancelled_at=base if cancelled else None,
                    line_items=[
                        OrderLineItem(product_variant_id=v, title="x", quantity=q, price=Decimal(1))
                        for v, q in lines
                    ],
                )
            )
            if not cancelled:
                p.sold += sum(q for _, q in lines)
    await session.flush()
    return products


class TestRulesAgainstIndependentEvaluation:
    async def test_random_rule_sets_give_the_same_products_in_the_same_order(
        self, db_session: AsyncSession
    ) -> None:
        rng = random.Random(20240601)
        products = await build_catalog(db_session, rng, 45)
        live = [p.id for p in products if not p.deleted]
        selective = 0
        for case_number in range(80):
            rules = [random_rule(rng) for _ in range(rng.randint(1, 3))]
            disjunctive = rng.random() < 0.5
            sort = rng.choice(SORTS)
            collection = SmartCollection(
                title=f"C{case_number}",
                handle=f"c-{case_number}",
                rules=rules,
                disjunctive_rules=disjunctive,
                sort_order=sort,
            )
            db_session.add(collection)
            await db_session.flush()
            manual: list[int] = []
            if sort == "manual":
                from shopdb.collections.repository import CollectionRepository

                manual = rng.sample(live, 10)
                await CollectionRepository(db_session).replace_positions(collection.id, manual)

            found = await collection_products(
                db_session, collection.id, PageRequest(page_size=250, with_total=True)
            )
            got, total = found.rows, found.total

            want = expected(products, rules, disjunctive, sort, manual)
            assert [p.id for p in got] == want, (rules, disjunctive, sort)
            assert total == len(want)
            selective += 0 < len(want) < len(live)
        # The generator must exercise real selections, not mostly all-or-nothing answers.
        assert selective >= 25
