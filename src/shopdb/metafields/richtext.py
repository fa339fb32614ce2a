"""Shopify's `rich_text_field` schema, checked node by node (a pure function, no database).

A value is a JSON object: a `root` holding block nodes (`paragraph`, `heading`, `list`), blocks
holding inline nodes (`text`, `link`), a `list` holding `list-item`s. The shapes are those of
Shopify's "Rich text formatting" reference and of Hydrogen's `RichText` node types:

    {"type": "root", "children": [
        {"type": "paragraph", "children": [{"type": "text", "value": "Hi", "bold": true}]}]}

Two allowances follow Shopify's own samples rather than a stricter reading: a `heading` may sit
inside a `paragraph` (the documented heading example does this), and a `list-item` may hold a
nested `list`. Unknown node types and unknown keys are refused, so a typo is a 400 rather than
a field the storefront silently ignores. Nesting depth is bounded before parsing
(types._check_nesting), so the recursion here is bounded too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

# Node type -> the node types its `children` may hold (absent: the node has no children).
CHILDREN: dict[str, frozenset[str]] = {
    "root": frozenset({"paragraph", "heading", "list"}),
    "paragraph": frozenset({"text", "link", "heading"}),
    "heading": frozenset({"text", "link"}),
    "list": frozenset({"list-item"}),
    "list-item": frozenset({"text", "link", "list"}),
    "link": frozenset({"text"}),
}
KEYS: dict[str, frozenset[str]] = {
    "root": frozenset({"type", "children"}),
    "paragraph": frozenset({"type", "children"}),
    "heading": frozenset({"type", "children", "level"}),
    "list": frozenset({"type", "children", "listType"}),
    "list-item": frozenset({"type", "children"}),
    "link": frozenset({"type", "children", "url", "title", "target"}),
    "text": frozenset({"type", "value", "bold", "italic"}),
}
LIST_TYPES = ("ordered", "unordered")
LINK_SCHEMES = ("http", "https", "mailto", "sms", "tel")


def check_link_url(url: object, what: str = "url") -> str:
    """An absolute URL with one of Shopify's link schemes, or a path on the shop ("/pages/x")."""
    if not isinstance(url, str) or not url:
        raise ValueError(f"{what} must be a non-empty string")
    if url.startswith("/") and not url.startswith("//"):
        return url
    parsed = urlparse(url)
    if parsed.scheme not in LINK_SCHEMES:
        raise ValueError(
            f"{what} must be a path starting with / or a URL with scheme " + ", ".join(LINK_SCHEMES)
        )
    if parsed.scheme in ("http", "https") and not parsed.netloc:
        raise ValueError(f"{what} must be an absolute URL")
    return url


def _check_node(node: Any, path: str, allowed: frozenset[str]) -> None:
    if not isinstance(node, dict):
        raise ValueError(f"{path} must be a JSON object with a 'type'")
    kind = node.get("type")
    if not isinstance(kind, str) or kind not in KEYS:
        raise ValueError(f"{path}.type must be one of {', '.join(sorted(KEYS))}")
    if kind not in allowed:
        expected = ", ".join(sorted(allowed))
        raise ValueError(f"{path}: a {kind!r} node cannot be here; use {expected}")
    unknown = sorted(set(node) - KEYS[kind])
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r} on a {kind!r} node")
    if kind == "text":
        if not isinstance(node.get("value"), str):
            raise ValueError(f"{path}.value must be a string")
        for style in ("bold", "italic"):
            if style in node and not isinstance(node[style], bool):
                raise ValueError(f"{path}.{style} must be true or false")
        return
    if kind == "heading":
        level = node.get("level")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 6:
            raise ValueError(f"{path}.level must be a whole number from 1 to 6")
    elif kind == "list":
        if node.get("listType") not in LIST_TYPES:
            raise ValueError(f"{path}.listType must be 'ordered' or 'unordered'")
    elif kind == "link":
        check_link_url(node.get("url"), f"{path}.url")
        for key in ("title", "target"):
            if key in node and not isinstance(node[key], str):
                raise ValueError(f"{path}.{key} must be a string")
    children = node.get("children")
    if not isinstance(children, list):
        raise ValueError(f"{path}.children must be a JSON array")
    for index, child in enumerate(children):
        _check_node(child, f"{path}.children[{index}]", CHILDREN[kind])


def check_rich_text(document: Any) -> dict[str, Any]:
    """The document if it follows the schema; ValueError naming the path of the first fault."""
    _check_node(document, "root", frozenset({"root"}))
    result: dict[str, Any] = document
    return result
