"""Value parsing by Shopify type and definition validations, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from shopdb.metafields import types


@pytest.mark.parametrize(
    ("type_", "value", "parsed"),
    [
        ("single_line_text_field", "hello", "hello"),
        ("multi_line_text_field", "a\nb", "a\nb"),
        ("number_integer", "-42", -42),
        ("number_decimal", "3.14159", Decimal("3.14159")),
        ("boolean", "true", True),
        ("json", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("date", "2024-02-29", date(2024, 2, 29)),
        ("date_time", "2024-02-29T10:00:00Z", datetime(2024, 2, 29, 10, tzinfo=UTC)),
        ("color", "#1A2b3C", "#1a2b3c"),
        # Measurements are kept in the base unit (kg, l, m) so that min/max compare across units.
        ("weight", '{"value": 2.5, "unit": "kg"}', Decimal("2.5")),
        ("volume", '{"value": "330", "unit": "ml"}', Decimal("0.330")),
        ("dimension", '{"value": 12, "unit": "cm"}', Decimal("0.12")),
        ("money", '{"amount": "5.99", "currency_code": "EUR"}', Decimal("5.99")),
        ("list.single_line_text_field", '["a", "b"]', ["a", "b"]),
        ("list.number_integer", "[1, 2, 3]", [1, 2, 3]),
        ("list.color", '["#000000"]', ["#000000"]),
        ("list.weight", '[{"value": 1, "unit": "lb"}]', [Decimal("0.45359237")]),
        ("id", "ERP-1", "ERP-1"),
        (
            "link",
            '{"text": "Guide", "url": "/pages/guide"}',
            {"text": "Guide", "url": "/pages/guide"},
        ),
        (
            "product_reference",
            "gid://shopify/Product/7",
            types.Reference("products", 7, "gid://shopify/Product/7"),
        ),
        (
            "list.file_reference",
            '["gid://shopify/MediaImage/3"]',
            [types.Reference("images", 3, "gid://shopify/MediaImage/3")],
        ),
        (
            "rich_text_field",
            '{"type": "root", "children": []}',
            {"type": "root", "children": []},
        ),
    ],
)
def test_valid_values_parse(type_: str, value: str, parsed: object) -> None:
    assert types.parse_value(type_, value) == parsed


@pytest.mark.parametrize(
    ("value", "scheme", "where"),
    [("https://example.com/x", "https", "example.com"), ("mailto:a@example.com", "mailto", "")],
)
def test_urls_parse_into_their_parts(value: str, scheme: str, where: str) -> None:
    parsed = types.parse_value("url", value)
    assert (parsed.scheme, parsed.netloc) == (scheme, where)


def test_a_rating_keeps_its_scale() -> None:
    parsed = types.parse_value("rating", '{"value": "4.5", "scale_min": "1", "scale_max": "5"}')
    assert (parsed.value, parsed.scale_min, parsed.scale_max) == (
        Decimal("4.5"),
        Decimal(1),
        Decimal(5),
    )


@pytest.mark.parametrize(
    ("type_", "value", "message"),
    [
        ("single_line_text_field", "a\nb", "single line"),
        ("number_integer", "4.5", "integer"),
        ("number_integer", "99999999999999999999", "between"),
        ("number_decimal", "1e5", "decimal"),
        ("boolean", "yes", "true"),
        ("json", "{nope", "JSON"),
        ("date", "2024-02-30", "YYYY-MM-DD"),
        ("date", "24-1-1", "YYYY-MM-DD"),
        ("date_time", "2024-02-01", "ISO 8601"),
        ("url", "ftp://example.com", "scheme"),
        ("url", "https://", "absolute"),
        ("color", "red", "hex"),
        ("weight", '{"value": 1, "unit": "stone"}', "unit"),
        ("weight", '{"value": -1, "unit": "kg"}', "negative"),
        ("money", '{"amount": "x", "currency_code": "EUR"}', "amount"),
        ("money", '{"amount": "1", "currency_code": "euro"}', "currency_code"),
        ("rating", '{"value": "9", "scale_min": "1", "scale_max": "5"}', "between"),
        ("list.number_integer", '[1, "x"]', "item 1"),
        ("list.number_integer", '{"a": 1}', "array"),
        ("list.single_line_text_field", "[true]", "item 0"),
        ("variant_reference", "gid://shopify/Product/1", "gid://shopify/ProductVariant/123"),
        ("customer_reference", "gid://shopify/Customer/0", "between 1 and"),
        ("link", '{"text": "x", "url": "//evil.example"}', "scheme"),
        ("rich_text_field", "not json", "rich text"),
        (
            "rich_text_field",
            '{"type": "root", "children": [{"type": "list", "listType": "ordered",'
            ' "children": [{"type": "paragraph", "children": []}]}]}',
            r"root.children\[0\].children\[0\]: a 'paragraph' node cannot be here",
        ),
        (
            "rich_text_field",
            '{"type": "root", "children": [{"type": "heading", "level": true, "children": []}]}',
            "level",
        ),
        (
            "rich_text_field",
            '{"type": "root", "children": [{"type": "paragraph", "children":'
            ' [{"type": "text", "value": "x", "bold": "yes"}]}]}',
            "bold must be true or false",
        ),
    ],
)
def test_invalid_values_say_why(type_: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        types.parse_value(type_, value)


@pytest.mark.parametrize(
    ("type_", "validations", "value", "rule"),
    [
        ("single_line_text_field", [("min", "3")], "ab", "'min'"),
        ("single_line_text_field", [("max", "3")], "abcd", "'max'"),
        ("single_line_text_field", [("regex", "^[A-Z]+$")], "abc", "'regex'"),
        ("single_line_text_field", [("choices", '["red", "blue"]')], "green", "'choices'"),
        ("number_integer", [("min", "10")], "9", "'min'"),
        ("number_integer", [("max", "10")], "11", "'max'"),
        ("number_decimal", [("max_precision", "2")], "1.234", "'max_precision'"),
        ("date", [("min", "2024-01-01")], "2023-12-31", "'min'"),
        (
            "weight",
            [("max", '{"value": 1, "unit": "kg"}')],
            '{"value": 1001, "unit": "g"}',
            "'max'",
        ),
        ("list.number_integer", [("list.max", "2")], "[1, 2, 3]", "'list.max'"),
        ("list.number_integer", [("max", "5")], "[1, 9]", "item 1: fails validation 'max'"),
        (
            "url",
            [("allowed_domains", '["example.com"]')],
            "https://evil.test/",
            "'allowed_domains'",
        ),
    ],
)
def test_definition_validations_name_the_failing_rule(
    type_: str, validations: list[tuple[str, str]], value: str, rule: str
) -> None:
    types.check_definition_validations(type_, validations)
    parsed = types.parse_value(type_, value)
    with pytest.raises(ValueError, match=rule):
        types.check_validations(type_, value, parsed, validations)


def test_values_on_the_bounds_pass_and_just_beyond_fail() -> None:
    rules = [("min", "1"), ("max", "10")]
    types.check_validations("number_integer", "10", 10, rules)  # raises when refused
    types.check_validations("number_integer", "1", 1, rules)
    with pytest.raises(ValueError, match="max"):
        types.check_validations("number_integer", "11", 11, rules)
    precision = [("max_precision", "2")]
    types.check_validations("number_decimal", "1.25", Decimal("1.25"), precision)
    with pytest.raises(ValueError, match="max_precision"):
        types.check_validations("number_decimal", "1.255", Decimal("1.255"), precision)


@pytest.mark.parametrize(
    ("type_", "validations", "message"),
    [
        ("boolean", [("min", "1")], "does not apply"),
        ("number_integer", [("regex", ".*")], "does not apply"),
        ("number_integer", [("min", "one")], "not a valid bound"),
        ("single_line_text_field", [("regex", "(")], "not an RE2 expression"),
        ("single_line_text_field", [("regex", r"(a)\1")], "not an RE2 expression"),
        ("single_line_text_field", [("regex", "x" * 1001)], "at most 1000 characters"),
        ("single_line_text_field", [("choices", "[]")], "choices"),
        ("number_decimal", [("max_precision", "-1")], "non-negative"),
        ("rating", [], "scale_min"),
        ("number_integer", [("min", "1"), ("min", "2")], "twice"),
        ("id", [("choices", '["a"]')], "does not apply"),
        ("product_reference", [("min", "1")], "does not apply"),
        ("list.product_reference", [("list.max", "x")], "non-negative"),
    ],
)
def test_bad_definitions_are_refused(
    type_: str, validations: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        types.check_definition_validations(type_, validations)


class TestRegex:
    def test_pathological_patterns_answer_correctly(self) -> None:
        rules = [("regex", "(a+)+$")]
        for n in (24, 10_000):  # 2^24 backtracking steps in Python's re; linear in RE2
            with pytest.raises(ValueError, match="fails validation 'regex'"):
                types.check_validations("single_line_text_field", "a" * n + "!", None, rules)
            types.check_validations("single_line_text_field", "a" * n, None, rules)

    def test_the_whole_value_must_match(self) -> None:
        with pytest.raises(ValueError, match="regex"):
            types.check_validations("single_line_text_field", "abc1", None, [("regex", "[a-z]+")])
        types.check_validations("single_line_text_field", "abc", None, [("regex", "[a-z]+")])

    def test_values_past_the_cap_are_not_matched(self) -> None:
        value = "a" * (types.MAX_REGEX_SUBJECT + 1)
        with pytest.raises(ValueError, match="limited to 65536 characters"):
            types.check_validations("multi_line_text_field", value, value, [("regex", "a*")])

    def test_a_stored_pattern_re2_cannot_compile_refuses_values(self) -> None:
        # Definitions written before RE2 was enforced: the value is refused, never run on re.
        with pytest.raises(ValueError, match="not an RE2 expression; update the definition"):
            types.check_validations("single_line_text_field", "aa", "aa", [("regex", r"(a)\1")])

    def test_list_items_are_matched_one_by_one(self) -> None:
        raw = '["AB", "cd"]'
        parsed = types.parse_value("list.single_line_text_field", raw)
        with pytest.raises(ValueError, match="item 1: fails validation 'regex'"):
            types.check_validations(
                "list.single_line_text_field", raw, parsed, [("regex", "[A-Z]+")]
            )


class TestNesting:
    @pytest.mark.parametrize("type_", ["json", "list.number_integer", "money", "weight", "rating"])
    def test_deep_json_is_refused_before_parsing(self, type_: str) -> None:
        with pytest.raises(ValueError, match="deeper than 64 levels"):
            types.parse_value(type_, "[" * 3000 + "]" * 3000)

    def test_brackets_inside_strings_do_not_count(self) -> None:
        raw = '"' + "[" * 3000 + '"'
        assert types.parse_value("json", raw) == "[" * 3000

    def test_deep_choices_are_refused(self) -> None:
        with pytest.raises(types.RuleError, match="deeper than 64 levels") as refused:
            types.check_definition_validations(
                "single_line_text_field", [("choices", "[" * 3000 + "]" * 3000)]
            )
        assert (refused.value.index, refused.value.part) == (0, "value")
