"""The migrated schema against the seed's DDL, table by table and column by column.

A fresh database is migrated on SQLite and on PostgreSQL and read back through SQLAlchemy's
inspector; the expectations come from parsing the seed's `CREATE TABLE` statements
(tests/migrations/seed_ddl.py). Each test collects every mismatch of one kind, so a failure
lists all of them at once. Deliberate deviations are allow-listed below, each with its reason
(the README's data-model section documents the same list).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
import sqlalchemy as sa

from shopdb.db import create_engine
from shopdb.schema import upgrade
from tests.fixtures.database import (
    BACKENDS,
    drop_postgres_database,
    fresh_database_url,
)
from tests.fixtures.database import test_settings as make_settings
from tests.migrations.live_schema import LiveSchema, LiveTable, is_partial, read_schema
from tests.migrations.seed_ddl import (
    SEED_DOCUMENT,
    SeedCheck,
    SeedColumn,
    SeedTable,
    load_seed_tables,
    parse_seed_ddl,
    snake,
    vendored_ddl_text,
)

INITIAL_REVISION = "4144627769cd"
SEED = load_seed_tables()

# --- deliberate deviations ---------------------------------------------------------------

WIDENED_LENGTHS: dict[tuple[str, str], tuple[int, str]] = {
    ("customers", "email"): (512, "holds AES-GCM ciphertext with key id and nonce"),
    ("customers", "phone"): (255, "holds AES-GCM ciphertext with key id and nonce"),
    ("customer_addresses", "phone"): (255, "holds AES-GCM ciphertext with key id and nonce"),
    # Revision 0006_order_email_token_gen, which also adds orders.email_hash (indexed): the
    # keyed blind index of the encrypted email, for lookups by email (as customers.email_hash).
    ("orders", "email"): (512, "holds AES-GCM ciphertext with key id and nonce"),
    # Revision 0018_checkouts seals the abandoned checkouts' emails too (with email_hash).
    ("abandoned_checkouts", "email"): (512, "holds AES-GCM ciphertext with key id and nonce"),
    ("abandoned_checkouts_enhanced", "email"): (
        512,
        "holds AES-GCM ciphertext with key id and nonce",
    ),
}

# Checked against the initial revision only: later migrations document their own additions.
EXTRA_TABLES: dict[str, str] = {
    "alembic_version": "Alembic's bookkeeping",
    "api_keys": "machine credentials (hashed key, prefix, scopes, expiry, last use)",
    "product_images": "the seed's ProductDetailDto has images, its DDL has no table",
    "customer_group_memberships": "the ER diagram's customer-group link, missing from the DDL",
    "idempotency_keys": "replaying retried POSTs that carry an Idempotency-Key",
    "webhook_deliveries": "the webhook outbox, sent after commit and retried",
}
SOFT_DELETE = "soft delete keeps orders and audit trails pointing at the row"
VERSION = "optimistic concurrency (ETag/If-Match, SQLAlchemy version counter)"
EXTRA_COLUMNS: dict[str, dict[str, str]] = {
    "products": {
        "deleted_at": SOFT_DELETE,
        "version": VERSION,
        "published_at": "Shopify's published flag",
    },
    "product_variants": {
        "version": VERSION,
        "position": "variant order (Shopify)",
        "inventory_policy": "deny or continue selling when out of stock (Shopify)",
        "taxable": "Shopify variant field",
        "requires_shipping": "Shopify variant field",
    },
    "customers": {
        "deleted_at": SOFT_DELETE,
        "version": VERSION,
        "email_hash": "keyed blind index: uniqueness and lookup over encrypted emails",
        "note": "Shopify customer field",
    },
    "orders": {
        "deleted_at": SOFT_DELETE,
        "version": VERSION,
        "note": "Shopify order field",
        "cancelled_at": "order lifecycle",
        "closed_at": "order lifecycle",
        "cancel_reason": "order lifecycle",
    },
    "order_line_items": {"fulfilled_quantity": "partial fulfillment"},
    "inventory_levels": {
        "version": VERSION,
        "committed": "Shopify's committed quantity (ordered, not yet fulfilled)",
    },
    "discount_codes": {"deleted_at": SOFT_DELETE, "version": VERSION},
    "gift_cards": {"version": VERSION},
    "smart_collections": {"deleted_at": SOFT_DELETE, "body_html": "Shopify collection field"},
    "users": {"password_hash": "argon2id hash for staff login"},
    "events": {
        "actor": "who acted",
        "subject_type": "the subject as a queryable (type, id) pair",
        "subject_id": "the subject as a queryable (type, id) pair",
    },
    "webhooks": {"fields": "Shopify's webhook fields filter", "secret": "signing secret"},
}
# DECIMAL columns made exact (an unconstrained NUMERIC keeps every value as written), each with
# its reason.
EXACT_DECIMALS: dict[tuple[str, str], str] = {
    ("product_variants", "weight"): (
        "DECIMAL(8,2) rounded an imported 155 g in kg to 0.16 kg: weights are kept as given"
    ),
}
EXTRA_UNIQUES: dict[tuple[str, tuple[str, ...]], str] = {
    ("inventory_items", ("product_variant_id",)): "the ER diagram's one inventory item per variant",
}

# --- the migrated databases --------------------------------------------------------------


@dataclass
class Migrated:
    initial: LiveSchema  # at the foundation's revision
    head: LiveSchema  # at every head, as `shopdb migrate` leaves it


@pytest.fixture(scope="module", params=BACKENDS)
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Migrated:
    var_dir = tmp_path_factory.mktemp("seed-schema")
    url = await fresh_database_url(request.param, var_dir, "seedschema")
    settings = make_settings(url, var_dir)
    engine = create_engine(settings.database_url, settings)
    try:
        await upgrade(engine, INITIAL_REVISION)
        initial = await read_schema(engine)
        await upgrade(engine, "heads")
        head = await read_schema(engine)
    finally:
        await engine.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(settings.database_url)
    return Migrated(initial=initial, head=head)


def each_seed_table(
    schema: LiveSchema, check: Callable[[SeedTable, LiveTable, str], list[str]]
) -> list[str]:
    problems = []
    for name, seed_table in SEED.items():
        live = schema.tables.get(name)
        if live is None:
            problems.append(f"{name}: table missing")
            continue
        problems += [f"{name}: {p}" for p in check(seed_table, live, schema.dialect)]
    return problems


def expect_none(problems: list[str]) -> None:
    if problems:
        pytest.fail(f"{len(problems)} mismatch(es) with the seed:\n  " + "\n  ".join(problems))


# --- comparisons -------------------------------------------------------------------------

_CAST = re.compile(r"::[a-z ]+(\[\])?$")
_NOW = {"current_timestamp", "now()", "getutcdate()", "localtimestamp", "statement_timestamp()"}


def _normalise_default(raw: str, seed: SeedColumn) -> str:
    value = raw.strip()
    while value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    value = _CAST.sub("", value)
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1]
    lowered = value.lower()
    if seed.type == "DATETIME2":
        return "now" if lowered in _NOW else lowered
    if seed.type == "BIT":
        return {"1": "true", "0": "false"}.get(lowered, lowered)
    if seed.type in ("INT", "BIGINT", "DECIMAL"):
        try:
            return str(Decimal(value).normalize())
        except InvalidOperation:
            return value
    return value


def _type_problem(seed: SeedColumn, live: dict[str, Any], dialect: str, table: str) -> str | None:
    actual = live["type"]
    if seed.type == "BIGINT":
        ok = isinstance(actual, sa.BigInteger) or (
            dialect == "sqlite" and isinstance(actual, sa.Integer)
        )
    elif seed.type == "INT":
        ok = isinstance(actual, sa.Integer) and not isinstance(
            actual, sa.BigInteger | sa.SmallInteger
        )
    elif seed.type == "DECIMAL":
        exact = (table, seed.name) in EXACT_DECIMALS
        digits = (None, None) if exact else (seed.precision, seed.scale)
        ok = (
            isinstance(actual, sa.Numeric)
            and not isinstance(actual, sa.Float)
            and (actual.precision, actual.scale) == digits
        )
    elif seed.type == "BIT":
        ok = isinstance(actual, sa.Boolean)
    elif seed.type == "DATETIME2":
        # Aware UTC everywhere: TIMESTAMPTZ on PostgreSQL; SQLite has no zone to store.
        ok = isinstance(actual, sa.DateTime) and (dialect == "sqlite" or actual.timezone)
    elif seed.is_json:
        ok = isinstance(actual, sa.JSON)
    elif seed.is_max_text:
        ok = isinstance(actual, sa.JSON) or (
            isinstance(actual, sa.Text) and getattr(actual, "length", None) is None
        )
    else:
        expected = WIDENED_LENGTHS.get((table, seed.name), (seed.length, ""))[0]
        ok = (
            isinstance(actual, sa.String)
            and not isinstance(actual, sa.Text)
            and actual.length == expected
        )
    if ok:
        return None
    want = seed.type
    if seed.type == "NVARCHAR":
        want += f"({seed.length or 'MAX'}){' JSON' if seed.is_json else ''}"
    elif seed.type == "DECIMAL":
        want += f"({seed.precision},{seed.scale})"
    return f"{seed.name}: type {actual!r} does not match the seed's {want}"


def _column_problems(seed_table: SeedTable, live: LiveTable, dialect: str) -> list[str]:
    problems = []
    for seed in seed_table.columns.values():
        column = live.columns.get(seed.name)
        if column is None:
            problems.append(f"{seed.name}: column missing")
            continue
        if column["nullable"] != seed.nullable:
            problems.append(
                f"{seed.name}: nullable={column['nullable']}, the seed says {seed.nullable}"
            )
        if (problem := _type_problem(seed, column, dialect, seed_table.name)) is not None:
            problems.append(problem)
        default = column.get("default")
        if seed.default is None:
            if default is not None and not seed.primary_key:
                problems.append(f"{seed.name}: server default {default!r}, the seed has none")
        elif default is None:
            problems.append(f"{seed.name}: no server default, the seed has {seed.default}")
        elif _normalise_default(default, seed) != _normalise_default(seed.default, seed):
            problems.append(f"{seed.name}: server default {default!r}, the seed has {seed.default}")
    return problems


def _primary_key_problems(seed_table: SeedTable, live: LiveTable, dialect: str) -> list[str]:
    seed_pk = [c.name for c in seed_table.columns.values() if c.primary_key]
    if live.primary_key != seed_pk:
        return [f"primary key {live.primary_key}, the seed has {seed_pk}"]
    id_column = live.columns[seed_pk[0]]
    # BIGINT IDENTITY: an identity column on PostgreSQL; SQLite's INTEGER PRIMARY KEY is its rowid.
    if dialect == "postgresql" and not (
        id_column.get("identity") and isinstance(id_column["type"], sa.BigInteger)
    ):
        return [f"{seed_pk[0]}: not a BIGINT identity column ({id_column['type']!r})"]
    if dialect == "sqlite" and type(id_column["type"]) is not sa.INTEGER:
        return [f"{seed_pk[0]}: {id_column['type']!r} is not SQLite's INTEGER PRIMARY KEY"]
    return []


def _ondelete(fk: dict[str, Any]) -> str:
    return str(fk.get("options", {}).get("ondelete") or "NO ACTION").upper()


def _foreign_key_problems(seed_table: SeedTable, live: LiveTable, _dialect: str) -> list[str]:
    live_fks = {
        (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"])): fk
        for fk in live.foreign_keys
    }
    problems = []
    seed_keys = set()
    for seed in seed_table.foreign_keys:
        key = (seed.columns, seed.referred_table, seed.referred_columns)
        seed_keys.add(key)
        fk = live_fks.get(key)
        if fk is None:
            target = f"{seed.referred_table}{seed.referred_columns}"
            problems.append(f"FOREIGN KEY {seed.columns} -> {target} missing")
        elif _ondelete(fk) != seed.ondelete:
            problems.append(
                f"FOREIGN KEY {seed.columns}: ON DELETE {_ondelete(fk)}, the seed has "
                f"{seed.ondelete}"
            )
    for key in live_fks.keys() - seed_keys:
        if set(key[0]) <= set(seed_table.columns):
            problems.append(f"FOREIGN KEY {key[0]} -> {key[1]}: not in the seed")
    return problems


def _unique_problems(seed_table: SeedTable, live: LiveTable, _dialect: str) -> list[str]:
    live_sets = live.unique_column_sets()
    problems = [
        f"UNIQUE {columns} missing" for columns in seed_table.uniques if columns not in live_sets
    ]
    expected = set(seed_table.uniques) | {ix.columns for ix in seed_table.indexes if ix.unique}
    for columns in set(live_sets) - expected:
        if set(columns) <= set(seed_table.columns) and (
            (seed_table.name, columns) not in EXTRA_UNIQUES
        ):
            problems.append(f"UNIQUE {columns}: not in the seed and not allow-listed")
    return problems


def _matching_index(seed_table: SeedTable, live: LiveTable, position: int) -> dict[str, Any] | None:
    seed = seed_table.indexes[position]
    for index in live.indexes:
        if (
            tuple(index["column_names"]) == seed.columns
            and bool(index["unique"]) == seed.unique
            and not is_partial(index)
        ):
            return index
    return None


def _index_problems(seed_table: SeedTable, live: LiveTable, _dialect: str) -> list[str]:
    problems = []
    for position, seed in enumerate(seed_table.indexes):
        if _matching_index(seed_table, live, position) is not None:
            continue
        if seed.unique and seed.columns in [
            tuple(u["column_names"]) for u in live.unique_constraints
        ]:
            continue  # a UNIQUE constraint is the same thing, and carries its own index
        kind = "UNIQUE INDEX" if seed.unique else "INDEX"
        problems.append(f"{kind} {seed.name} {seed.columns}: no index on these columns, in order")
    return problems


def _check_matches(seed: SeedCheck, sqltext: str) -> bool:
    for token in seed.tokens:
        if token.startswith("'"):
            if token not in sqltext:
                return False
        elif re.search(rf"\b{re.escape(token)}\b", sqltext, re.IGNORECASE) is None:
            return False
    return True


def _check_problems(seed_table: SeedTable, live: LiveTable, _dialect: str) -> list[str]:
    return [
        f"CHECK {seed.name} ({seed.expression}) missing"
        for seed in seed_table.checks
        if not any(_check_matches(seed, str(ck["sqltext"])) for ck in live.checks)
    ]


# --- the tests ---------------------------------------------------------------------------


class TestSeedParser:
    """The comparison is only as good as the parser: pin what it must have read."""

    def test_reads_all_fifty_tables_in_snake_case(self) -> None:
        assert len(SEED) == 50
        assert next(iter(SEED)) == "products"
        assert list(SEED)[-1] == "data_retention_policies"
        for name in (
            "b2b_payment_terms",
            "transactions_enhanced",
            "fulfillments_enhanced",
            "abandoned_checkouts_enhanced",
            "compliance_data",
        ):
            assert name in SEED

    def test_converts_names_like_the_models(self) -> None:
        assert snake("Products") == "products"
        assert snake("ProductVariantId") == "product_variant_id"
        assert snake("B2BPaymentTerms") == "b2b_payment_terms"
        assert snake("TransactionsEnhanced") == "transactions_enhanced"
        assert snake("ComplianceData") == "compliance_data"
        assert snake("CompanyName") == "company_name"
        assert snake("Address1") == "address1"
        assert snake("[Key]") == "key"

    def test_reads_every_kind_of_clause(self) -> None:
        assert sum(len(t.columns) for t in SEED.values()) == 495
        assert sum(len(t.foreign_keys) for t in SEED.values()) == 43
        assert sum(len(t.indexes) for t in SEED.values()) == 157
        assert sum(len(t.checks) for t in SEED.values()) == 6
        assert sum(len(t.uniques) for t in SEED.values()) == 17
        variants = SEED["product_variants"]
        assert variants.columns["price"].precision == 10
        assert variants.columns["price"].scale == 2
        assert variants.columns["sku"].unique
        assert variants.columns["weight_unit"].default == "'kg'"
        assert variants.columns["inventory_quantity"].nullable is False
        assert variants.foreign_keys[0].ondelete == "CASCADE"
        assert SEED["orders"].foreign_keys[0].ondelete == "SET NULL"
        assert SEED["fulfillment_orders"].foreign_keys[1].ondelete == "NO ACTION"
        assert SEED["market_regions"].uniques == [("market_id", "country_code")]
        assert SEED["metafields"].indexes[-1].columns == (
            "owner_id",
            "owner_resource",
            "namespace",
            "key",
        )
        assert SEED["metafields"].indexes[-1].unique
        assert SEED["events"].columns["body"].is_json
        assert not SEED["metafields"].columns["value"].is_json
        assert SEED["b2b_payment_terms"].checks[1].tokens == (
            "discount_percentage",
            "0",
            "100",
        )

    def test_vendored_ddl_is_the_seed_documents_text(self) -> None:
        if not SEED_DOCUMENT.exists():
            pytest.skip(f"{SEED_DOCUMENT} is not next to this checkout")
        document = SEED_DOCUMENT.read_text(encoding="utf-8")
        assert vendored_ddl_text() in document
        assert parse_seed_ddl(document).keys() == SEED.keys()

    def test_refuses_what_it_does_not_understand(self) -> None:
        with pytest.raises(ValueError, match="cannot parse"):
            parse_seed_ddl("CREATE TABLE Things (\n    Id UNIQUEIDENTIFIER NOT NULL\n);")
        with pytest.raises(ValueError, match="unexpected words"):
            parse_seed_ddl("CREATE TABLE Things (\n    Id INT NOT NULL SPARSE\n);")


class TestTablesAndColumns:
    def test_every_seed_table_exists(self, migrated: Migrated) -> None:
        assert sorted(SEED.keys() - migrated.head.tables.keys()) == []

    def test_every_seed_column_matches_type_nullability_and_default(
        self, migrated: Migrated
    ) -> None:
        expect_none(each_seed_table(migrated.head, _column_problems))

    def test_primary_keys_are_bigint_identities(self, migrated: Migrated) -> None:
        expect_none(each_seed_table(migrated.head, _primary_key_problems))

    def test_json_text_columns_are_json(self, migrated: Migrated) -> None:
        json_columns = [
            (table.name, column.name)
            for table in SEED.values()
            for column in table.columns.values()
            if column.is_json
        ]
        assert len(json_columns) == 32
        expected = sa.JSON if migrated.head.dialect == "sqlite" else sa.dialects.postgresql.JSONB
        wrong = [
            (table, column)
            for table, column in json_columns
            if not isinstance(migrated.head.tables[table].columns[column]["type"], expected)
        ]
        assert wrong == []

    def test_additions_are_only_the_documented_ones(self, migrated: Migrated) -> None:
        schema = migrated.initial
        assert sorted(schema.tables.keys() - SEED.keys()) == sorted(EXTRA_TABLES)
        extras = {
            name: sorted(live.columns.keys() - SEED[name].columns.keys())
            for name, live in schema.tables.items()
            if name in SEED and live.columns.keys() - SEED[name].columns.keys()
        }
        assert extras == {name: sorted(cols) for name, cols in EXTRA_COLUMNS.items()}


class TestConstraintsAndIndexes:
    def test_every_foreign_key_has_the_seeds_target_and_delete_rule(
        self, migrated: Migrated
    ) -> None:
        expect_none(each_seed_table(migrated.head, _foreign_key_problems))

    def test_unique_constraints_cover_the_same_column_sets(self, migrated: Migrated) -> None:
        expect_none(each_seed_table(migrated.head, _unique_problems))

    def test_every_named_seed_index_exists_with_its_columns_in_order(
        self, migrated: Migrated
    ) -> None:
        expect_none(each_seed_table(migrated.head, _index_problems))

    def test_index_names_follow_one_convention(self, migrated: Migrated) -> None:
        """The seed's names are inconsistent (IX_SellingPlans_GroupId); ours are derived."""
        wrong = []
        for seed_table in SEED.values():
            live = migrated.head.tables[seed_table.name]
            for position, seed in enumerate(seed_table.indexes):
                index = _matching_index(seed_table, live, position)
                prefix = "ux" if seed.unique else "ix"
                expected = f"{prefix}_{seed_table.name}_{'_'.join(seed.columns)}"
                if index is not None and index["name"] != expected:
                    wrong.append((seed.name, index["name"], expected))
        assert wrong == []

    def test_every_check_constraint_exists(self, migrated: Migrated) -> None:
        expect_none(each_seed_table(migrated.head, _check_problems))


class TestComparisonCatchesDrift:
    """Break a copy of the migrated schema in one way at a time: each break must be reported."""

    @staticmethod
    def _copy(migrated: Migrated) -> LiveSchema:
        return copy.deepcopy(migrated.head)

    def test_a_shorter_string(self, migrated: Migrated) -> None:
        schema = self._copy(migrated)
        schema.tables["products"].columns["handle"]["type"] = sa.VARCHAR(100)
        assert each_seed_table(schema, _column_problems) == [
            "products: handle: type VARCHAR(length=100) does not match the seed's NVARCHAR(255)"
        ]

    def test_a_nullable_column_and_a_changed_default(self, migrated: Migrated) -> None:
        schema = self._copy(migrated)
        schema.tables["orders"].columns["email"]["nullable"] = True
        schema.tables["products"].columns["status"]["default"] = "'active'"
        assert each_seed_table(schema, _column_problems) == [
            "products: status: server default \"'active'\", the seed has 'draft'",
            "orders: email: nullable=True, the seed says False",
        ]

    def test_a_lost_delete_rule(self, migrated: Migrated) -> None:
        schema = self._copy(migrated)
        for fk in schema.tables["product_variants"].foreign_keys:
            fk["options"] = {}
        assert each_seed_table(schema, _foreign_key_problems) == [
            "product_variants: FOREIGN KEY ('product_id',): ON DELETE NO ACTION, the seed has "
            "CASCADE"
        ]

    def test_a_missing_unique(self, migrated: Migrated) -> None:
        schema = self._copy(migrated)
        table = schema.tables["products"]
        table.unique_constraints = []
        table.indexes = [ix for ix in table.indexes if not ix["unique"]]
        assert each_seed_table(schema, _unique_problems) == ["products: UNIQUE ('handle',) missing"]

    def test_a_missing_index_and_a_reordered_one(self, migrated: Migrated) -> None:
        schema = self._copy(migrated)
        products = schema.tables["products"]
        products.indexes = [ix for ix in products.indexes if ix["name"] != "ix_products_vendor"]
        for index in schema.tables["metafields"].indexes:
            if index["name"] == "ix_metafields_owner_id_owner_resource":
                index["column_names"] = ["owner_resource", "owner_id"]
        assert each_seed_table(schema, _index_problems) == [
            "products: INDEX IX_Products_Vendor ('vendor',): no index on these columns, in order",
            "metafields: INDEX IX_Metafields_OwnerId_OwnerResource ('owner_id', 'owner_resource'):"
            " no index on these columns, in order",
        ]

    def test_a_missing_or_weakened_check(self, migrated: Migrated) -> None:
        schema = self._copy(migrated)
        schema.tables["companies"].checks = []
        for check in schema.tables["data_retention_policies"].checks:
            check["sqltext"] = str(check["sqltext"]).replace("archive", "shred")
        assert each_seed_table(schema, _check_problems) == [
            "companies: CHECK CHK_Companies_CreditLimit (credit_limit >= 0) missing",
            "data_retention_policies: CHECK CHK_DataRetentionPolicies_DeletionPolicy "
            "(deletion_policy IN ('hard_delete', 'soft_delete', 'archive')) missing",
        ]
