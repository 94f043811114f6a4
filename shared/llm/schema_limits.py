"""Limits on a JSON schema before llama.cpp makes a grammar of it (response_format json_schema).

llama.cpp's converter writes every repetition out as grammar rules and every enum value as an
alternative, and its grammar engine walks them for each token: `maxItems: 10000000` crashed
the worker, an enum of 50,000 values held it for minutes, `minItems: 1000000` took 10 s to
build. At these limits the grammar is a few KB (maxItems 256 of strings of up to 256
characters: 6.8 KB, converted in 35 ms on the busy 2-core VM; 256 enum values: 4.5 KB, 0.5 ms),
where maxItems 100,000 made 2 MB and 50,000 enum values 1 MB (llama_cpp.llama_grammar's
json_schema_to_gbnf, timed alone). A schema past a limit is refused (400) naming it, before
any work is spent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from shared.core.errors import RequestError

MAX_SCHEMA_CHARS = 16_000  # the schema as JSON text
MAX_DEPTH = 32  # levels of JSON nesting in the schema document (about 10 levels of nested objects)
MAX_REPETITION = 256  # minItems, maxItems, minLength, maxLength, ... and a pattern's {m,n}
MAX_ENUM_VALUES = 256  # enum values and consts, across the whole schema
MAX_PROPERTIES = 256  # property names, across the whole schema
MAX_PATTERN_CHARS = 1_000

REPETITION_KEYWORDS = (
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
)
_QUANTIFIER = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")


def check_schema(schema: Any) -> None:
    """RequestError (400, on response_format) naming the first limit the schema breaks."""
    size = len(json.dumps(schema))
    if size > MAX_SCHEMA_CHARS:
        _refuse(f"is {size:,} characters of JSON, over the limit of {MAX_SCHEMA_CHARS:,}")
    enum_values = properties = 0
    for node, depth in _nodes(schema):
        if depth > MAX_DEPTH:
            _refuse(f"nests deeper than {MAX_DEPTH} levels")
        if not isinstance(node, dict):
            continue
        for keyword in REPETITION_KEYWORDS:
            value = node.get(keyword)
            if isinstance(value, int | float) and value > MAX_REPETITION:
                _refuse(f"has {keyword} {value}, over the limit of {MAX_REPETITION}")
        _check_pattern(node.get("pattern"))
        _check_ref(node.get("$ref"))
        enum = node.get("enum")
        enum_values += (len(enum) if isinstance(enum, list) else 0) + ("const" in node)
        if enum_values > MAX_ENUM_VALUES:
            _refuse(f"has more than {MAX_ENUM_VALUES} enum and const values in all")
        if isinstance(node.get("properties"), dict):
            properties += len(node["properties"])
            if properties > MAX_PROPERTIES:
                _refuse(f"has more than {MAX_PROPERTIES} properties in all")


def _nodes(schema: Any) -> Iterator[tuple[Any, int]]:
    """Every dict and list in the schema with its depth, without recursion (depth is checked as it goes)."""
    stack = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        if depth > MAX_DEPTH:
            return
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, str):
        return
    if len(pattern) > MAX_PATTERN_CHARS:
        _refuse(f"has a pattern of {len(pattern):,} characters, over the limit of {MAX_PATTERN_CHARS:,}")
    for low, high in _QUANTIFIER.findall(pattern):
        for count in (low, high):
            if count and int(count) > MAX_REPETITION:
                _refuse(f"has a pattern repeating {count} times, over the limit of {MAX_REPETITION}")


def _check_ref(ref: Any) -> None:
    # A reference elsewhere than this schema would be fetched over the network by the converter.
    if isinstance(ref, str) and not ref.startswith("#"):
        _refuse(f"has a $ref outside the schema ({ref[:80]!r}); only local references (#/...) are allowed")


def _refuse(problem: str) -> None:
    raise RequestError(
        f"response_format: the JSON schema {problem} for the embedded model, which turns it into a grammar; "
        "simplify the schema or use a remote model",
        field="response_format",
    )
