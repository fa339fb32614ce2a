"""A small parser for the seed's T-SQL `CREATE TABLE` statements.

It understands exactly the dialect the seed uses (NVARCHAR(n|MAX), DECIMAL(p,s), BIT, INT,
BIGINT IDENTITY, DATETIME2, inline NOT NULL/DEFAULT/UNIQUE/PRIMARY KEY, table-level FOREIGN KEY,
UNIQUE (...), [UNIQUE] INDEX name (...), CONSTRAINT name CHECK (...)) and fails loudly on
anything else, so a statement it does not understand can never be skipped silently.
Names come out in snake_case, the way the models spell them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# The design document sits next to the repository (../shared/seed); a verbatim copy of its DDL
# section is kept here so the comparison also runs on a clone without the document.
SEED_DOCUMENT = Path(__file__).resolve().parents[3] / "shared/seed/000_26d64590459c559e.txt"
VENDORED_DDL = Path(__file__).with_name("seed_ddl.txt")
VENDORED_HEADER_LINES = 3

_FIRST_CAP = re.compile(r"(.)([A-Z][a-z]+)")
_LOWER_UPPER = re.compile(r"([a-z])([A-Z])")
_CREATE = re.compile(r"CREATE TABLE (\w+) \(")
_IDENTIFIER = re.compile(r"\[?\b([A-Za-z_][A-Za-z0-9_]*)\b\]?")
_STRING = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_SQL_WORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "LIKE"}


def snake(name: str) -> str:
    """ProductVariantId -> product_variant_id, B2BPaymentTerms -> b2b_payment_terms."""
    name = name.strip("[]")
    # Digits never start a new word, so B2B stays whole and Address1 stays address1.
    return _LOWER_UPPER.sub(r"\1_\2", _FIRST_CAP.sub(r"\1_\2", name)).lower()


@dataclass(frozen=True)
class SeedColumn:
    name: str
    type: str  # BIGINT, INT, DECIMAL, NVARCHAR, BIT, DATETIME2
    length: int | None = None  # NVARCHAR(n); None for NVARCHAR(MAX)
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    default: str | None = None  # the literal as written: 'draft', 0, 1, GETUTCDATE()
    unique: bool = False
    primary_key: bool = False
    identity: bool = False
    comment: str = ""  # the trailing `-- ...`; "JSON" there marks a JSON document column

    @property
    def is_max_text(self) -> bool:
        return self.type == "NVARCHAR" and self.length is None

    @property
    def is_json(self) -> bool:
        return self.is_max_text and "JSON" in self.comment


@dataclass(frozen=True)
class SeedForeignKey:
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    ondelete: str  # CASCADE, SET NULL or NO ACTION (the T-SQL default)


@dataclass(frozen=True)
class SeedIndex:
    name: str  # as the seed writes it (IX_Products_Handle)
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class SeedCheck:
    name: str
    expression: str  # with snake_case identifiers

    @property
    def tokens(self) -> tuple[str, ...]:
        """Columns and literals the expression mentions: what any rendering of it must contain."""
        literals = [s.strip("'") for s in _STRING.findall(self.expression)]
        bare = _STRING.sub(" ", self.expression)
        numbers = _NUMBER.findall(bare)
        columns = [
            word
            for word in _IDENTIFIER.findall(_NUMBER.sub(" ", bare))
            if word.upper() not in _SQL_WORDS
        ]
        return tuple(dict.fromkeys([*columns, *literals, *numbers]))

    @property
    def columns(self) -> tuple[str, ...]:
        bare = _NUMBER.sub(" ", _STRING.sub(" ", self.expression))
        return tuple(
            dict.fromkeys(w for w in _IDENTIFIER.findall(bare) if w.upper() not in _SQL_WORDS)
        )


@dataclass
class SeedTable:
    name: str
    seed_name: str
    columns: dict[str, SeedColumn] = field(default_factory=dict)
    foreign_keys: list[SeedForeignKey] = field(default_factory=list)
    uniques: list[tuple[str, ...]] = field(default_factory=list)  # column UNIQUE and UNIQUE (..)
    indexes: list[SeedIndex] = field(default_factory=list)
    checks: list[SeedCheck] = field(default_factory=list)


def _split_top_level(body: str) -> list[str]:
    """Split on commas that are not inside parentheses or quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for char in body:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _names(column_list: str) -> tuple[str, ...]:
    return tuple(snake(c.strip()) for c in column_list.split(","))


def _snake_expression(expression: str) -> str:
    """Rename identifiers outside string literals; keep SQL words and literals as they are."""
    pieces = re.split(r"('[^']*')", expression)
    out = []
    for piece in pieces:
        if piece.startswith("'"):
            out.append(piece)
            continue
        out.append(
            _IDENTIFIER.sub(
                lambda m: m.group(0) if m.group(1).upper() in _SQL_WORDS else snake(m.group(1)),
                piece,
            )
        )
    return "".join(out)


_COLUMN = re.compile(
    r"^(?P<name>\[?\w+\]?)\s+(?P<type>NVARCHAR|DECIMAL|BIGINT|INT|BIT|DATETIME2)"
    r"(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$",
    re.IGNORECASE,
)
_FOREIGN_KEY = re.compile(
    r"^FOREIGN KEY \((?P<cols>[^)]*)\) REFERENCES (?P<table>\w+)\((?P<ref>[^)]*)\)"
    r"(?:\s+ON DELETE (?P<ondelete>CASCADE|SET NULL|NO ACTION|SET DEFAULT))?$",
    re.IGNORECASE,
)
_INDEX = re.compile(r"^(?P<unique>UNIQUE )?INDEX (?P<name>\w+) \((?P<cols>[^)]*)\)$", re.IGNORECASE)
_UNIQUE = re.compile(r"^UNIQUE \((?P<cols>[^)]*)\)$", re.IGNORECASE)
_CHECK = re.compile(r"^CONSTRAINT (?P<name>\w+) CHECK \((?P<expr>.*)\)$", re.IGNORECASE)
_DEFAULT = re.compile(r"\bDEFAULT\s+('[^']*'|\w+\(\)|-?\d+(?:\.\d+)?)", re.IGNORECASE)


def _parse_column(item: str, comment: str) -> SeedColumn:
    match = _COLUMN.match(item)
    if match is None:
        raise ValueError(f"cannot parse column definition: {item!r}")
    sql_type = match["type"].upper()
    args = match["args"]
    rest = match["rest"].upper()
    length = precision = scale = None
    if sql_type == "NVARCHAR":
        assert args is not None, item
        length = None if args.strip().upper() == "MAX" else int(args)
    elif sql_type == "DECIMAL":
        assert args is not None, item
        precision, scale = (int(a) for a in args.split(","))
    default_match = _DEFAULT.search(match["rest"])
    leftover = _DEFAULT.sub("", match["rest"]).upper()
    for word in ("IDENTITY(1,1)", "PRIMARY KEY", "NOT NULL", "UNIQUE"):
        leftover = leftover.replace(word, "")
    if leftover.strip():
        raise ValueError(f"unexpected words in column definition: {item!r}")
    primary_key = "PRIMARY KEY" in rest
    return SeedColumn(
        name=snake(match["name"]),
        type=sql_type,
        length=length,
        precision=precision,
        scale=scale,
        nullable=not ("NOT NULL" in rest or primary_key),
        default=default_match[1] if default_match else None,
        unique="UNIQUE" in rest,
        primary_key=primary_key,
        identity="IDENTITY" in rest,
        comment=comment,
    )


def _parse_table(seed_name: str, body_lines: list[str]) -> SeedTable:
    table = SeedTable(name=snake(seed_name), seed_name=seed_name)
    # Comments are per line; remember them per column so "-- JSON" can mark JSON columns.
    cleaned: list[str] = []
    comments: dict[str, str] = {}
    for line in body_lines:
        code, _, comment = line.partition("--")
        code = code.strip()
        if not code:
            continue
        cleaned.append(code)
        if comment:
            comments[code.rstrip(",").strip()] = comment.strip()
    for item in _split_top_level(" ".join(cleaned)):
        if match := _FOREIGN_KEY.match(item):
            table.foreign_keys.append(
                SeedForeignKey(
                    columns=_names(match["cols"]),
                    referred_table=snake(match["table"]),
                    referred_columns=_names(match["ref"]),
                    ondelete=(match["ondelete"] or "NO ACTION").upper(),
                )
            )
        elif match := _INDEX.match(item):
            table.indexes.append(
                SeedIndex(
                    name=match["name"], columns=_names(match["cols"]), unique=bool(match["unique"])
                )
            )
        elif match := _UNIQUE.match(item):
            table.uniques.append(_names(match["cols"]))
        elif match := _CHECK.match(item):
            table.checks.append(
                SeedCheck(name=match["name"], expression=_snake_expression(match["expr"]))
            )
        else:
            column = _parse_column(item, comments.get(item, ""))
            if column.name in table.columns:
                raise ValueError(f"{seed_name}: column {column.name} defined twice")
            table.columns[column.name] = column
            if column.unique:
                table.uniques.append((column.name,))
    return table


def parse_seed_ddl(text: str) -> dict[str, SeedTable]:
    """Every `CREATE TABLE` in the text, by snake_case table name, in the seed's order."""
    lines = text.splitlines()
    tables: dict[str, SeedTable] = {}
    index = 0
    while index < len(lines):
        match = _CREATE.search(lines[index])
        if match is None:
            index += 1
            continue
        body: list[str] = []
        index += 1
        while not lines[index].strip().startswith(");"):
            body.append(lines[index])
            index += 1
        table = _parse_table(match[1], body)
        if table.name in tables:
            raise ValueError(f"table {table.name} defined twice")
        tables[table.name] = table
        index += 1
    return tables


def vendored_ddl_text() -> str:
    lines = VENDORED_DDL.read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(lines[VENDORED_HEADER_LINES:])


def load_seed_tables() -> dict[str, SeedTable]:
    return parse_seed_ddl(vendored_ddl_text())
