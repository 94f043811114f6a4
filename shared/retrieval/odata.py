"""OData `$filter` as Azure AI Search reads it: parsing, validation, and SQL for the embedded index.

Both backends parse every filter here first, so a malformed filter or an unknown field is
the same 400 everywhere. The embedded index then runs the translated SQL: comparisons (eq,
ne, gt, ge, lt, le, null), and/or/not with parentheses, `search.in(field, 'a,b', ',')`, and
`any`/`all` over string collections.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from shared.core.errors import RequestError
from shared.retrieval.limits import (
    MAX_FILTER_CHARS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_OPERATORS,
    MAX_FILTER_PARENTHESES,
    MAX_FILTER_VALUES,
    MAX_METADATA_FILTER_VALUES,
)
from shared.retrieval.schema import BY_NAME, COLLECTIONS, IndexField
from shared.text import clipped, quoted

_COMPARATORS = {ast.Eq: "=", ast.NotEq: "!=", ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
_LITERALS = (ast.String, ast.Integer, ast.Float, ast.Boolean)
_DEFAULT_DELIMITERS = " ,"  # search.in's default: spaces and commas
_STRING_LITERALS = re.compile(r"'(?:[^']|'')*'")
_NOT_PARENTHESES = re.compile(r"[^()]+")
_OPERATORS = re.compile(r"\b(?:and|or|not)\b")
_TOO_MANY_OPERATORS = (
    f"the filter combines more than {MAX_FILTER_OPERATORS} conditions with and/or/not; "
    "list many values of one field with search.in(field, 'a,b,c')"
)


class _Lexer(ODataLexer):
    """odata-query's lexer, with word boundaries on keywords that can start a field name.

    The stock lexer reads `allowed_groups` as the keyword `all` followed by `owed_groups`
    (likewise any..., null..., true..., false...), so such fields could not be filtered.
    """

    tokens = ODataLexer.tokens

    @_(r"(?:true|false)(?!\w)")  # type: ignore[name-defined]  # noqa: F821 - sly injects `_` into lexer class bodies
    def BOOLEAN(self, t):
        return ODataLexer.BOOLEAN(self, t)

    @_(r"null(?!\w)")  # type: ignore[name-defined]  # noqa: F821
    def NULL(self, t):
        return ODataLexer.NULL(self, t)

    @_(r"any(?!\w)")  # type: ignore[name-defined]  # noqa: F821
    def ANY(self, t):
        return ODataLexer.ANY(self, t)

    @_(r"all(?!\w)")  # type: ignore[name-defined]  # noqa: F821
    def ALL(self, t):
        return ODataLexer.ALL(self, t)


def parse(text: str) -> ast._Node:
    """The filter's syntax tree; RequestError naming the problem when it does not parse, or
    when it is longer (MAX_FILTER_CHARS), larger (MAX_FILTER_OPERATORS) or deeper
    (MAX_FILTER_DEPTH, MAX_FILTER_PARENTHESES) than any backend takes. Parsing is linear but
    slow (about 7 µs a character): what the text shows is checked first, and callers on the
    event loop parse in a thread."""
    _check_text(text)
    try:
        tree = ODataParser().parse(_Lexer().tokenize(text))
    except (ODataException, Exception) as exc:  # the lexer raises plain exceptions on some input
        raise RequestError(f"invalid filter {quoted(text)}: {clipped(str(exc))}", field="filter") from None
    operators, depth = _shape(tree)
    if operators > MAX_FILTER_OPERATORS:
        raise RequestError(_TOO_MANY_OPERATORS, field="filter")
    if depth > MAX_FILTER_DEPTH:
        raise RequestError(f"the filter nests and/or/not groups more than {MAX_FILTER_DEPTH} deep", field="filter")
    return tree


def _check_text(text: str) -> None:
    """The limits a filter's text shows before it is parsed: its length, and outside its string
    literals, its and/or/not and how deep its parentheses nest."""
    if len(text) > MAX_FILTER_CHARS:
        raise RequestError(
            f"the filter has {len(text)} characters; at most {MAX_FILTER_CHARS} are taken", field="filter"
        )
    code = _STRING_LITERALS.sub("", text)
    if len(_OPERATORS.findall(code)) > MAX_FILTER_OPERATORS:
        raise RequestError(_TOO_MANY_OPERATORS, field="filter")
    depth = deepest = 0
    for parenthesis in _NOT_PARENTHESES.sub("", code):
        depth += 1 if parenthesis == "(" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_FILTER_PARENTHESES:
        raise RequestError(f"the filter nests parentheses more than {MAX_FILTER_PARENTHESES} deep", field="filter")


def _shape(tree: ast._Node) -> tuple[int, int]:
    """(and/or/not operators, nesting depth) of a tree, walked without recursion: it may be
    deep. A chain of one operator is one level, as the SQL translation writes it."""
    operators = depth = 0
    stack: list[tuple[Any, int, type | None]] = [(tree, 0, None)]  # node, its depth, its parent's BoolOp op
    while stack:
        node, level, parent_op = stack.pop()
        op = None
        if isinstance(node, ast.BoolOp):
            operators += 1
            op = type(node.op)
            level += op is not parent_op
        elif isinstance(node, ast.UnaryOp | ast.Lambda):
            operators += isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
            level += 1
        depth = max(depth, level)
        if isinstance(node, list):
            stack.extend((child, level, None) for child in node)
        elif dataclasses.is_dataclass(node):
            stack.extend((getattr(node, f.name), level, op) for f in dataclasses.fields(node))
    return operators, depth


def quote(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


def metadata_filter(filters: Mapping[str, Any]) -> str | None:
    """{field: value} as OData: each field equals its value (a list: any of them; a collection
    field: contains it). Values become literals; field names are checked when the filter is parsed."""
    values_given = sum(len(v) if isinstance(v, list) else 1 for v in filters.values())
    if values_given > MAX_METADATA_FILTER_VALUES:
        raise RequestError(
            f"metadata_filters may hold at most {MAX_METADATA_FILTER_VALUES} values, got {values_given}",
            field="metadata_filters",
        )
    clauses = []
    for name, value in filters.items():
        if not name.isidentifier():
            raise RequestError(f"metadata_filters: {quoted(name)} is not a field name", field="metadata_filters")
        values = value if isinstance(value, list) else [value]
        if not values:
            continue
        if name in COLLECTIONS:
            clauses.append(f"{name}/any(v: " + " or ".join(f"v eq {_literal(v)}" for v in values) + ")")
        else:
            clauses.append("(" + " or ".join(f"{name} eq {_literal(v)}" for v in values) + ")")
    return " and ".join(clauses) or None


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    raise RequestError(f"metadata_filters values must be strings, numbers or booleans, not {quoted(value)}")


@dataclass(frozen=True)
class SqlFilter:
    """A WHERE clause on `chunks` and its parameters. `where` reads each collection field's
    matching chunks as one set, for a filter tested on many rows; `per_row`, when given, is the
    same test probing each row's values, cheaper on a few rows (the set is read whole either way)."""

    where: str
    params: tuple[Any, ...]
    per_row: str | None = None

    @property
    def on_few_rows(self) -> str:
        return self.per_row or self.where


def to_sql(node: ast._Node, collection_table: str) -> SqlFilter:
    params: list[Any] = []
    where = _Translator(params, collection_table, per_row=False).visit(node, lambda_var=None)
    if len(params) > MAX_FILTER_VALUES:
        raise RequestError(f"the filter holds more than {MAX_FILTER_VALUES} values", field="filter")
    per_row = _Translator([], collection_table, per_row=True).visit(node, lambda_var=None)
    return SqlFilter(where, tuple(params), per_row)


def search_in_values(node: ast.Call) -> list[str]:
    strings = [a for a in node.args[1:] if isinstance(a, ast.String)]
    if len(node.args) not in (2, 3) or len(strings) != len(node.args) - 1:
        raise RequestError("search.in takes a field, a string of values, and optionally a string of delimiters")
    delimiters = strings[1].val if len(strings) == 2 else _DEFAULT_DELIMITERS
    values = [strings[0].val]
    for delimiter in delimiters:
        values = [part for value in values for part in value.split(delimiter)]
    return [v for v in values if v]


class _Translator:
    def __init__(self, params: list[Any], collection_table: str, per_row: bool) -> None:
        self._params = params
        self._table = collection_table
        self._per_row = per_row

    def visit(self, node: ast._Node, lambda_var: str | None) -> str:
        if isinstance(node, ast.BoolOp):
            op = "AND" if isinstance(node.op, ast.And) else "OR"
            return "(" + f" {op} ".join(self.visit(n, lambda_var) for n in _chain(node)) + ")"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(NOT {self.visit(node.operand, lambda_var)})"
        if isinstance(node, ast.Compare):
            return self._compare(node, lambda_var)
        if isinstance(node, ast.Call) and node.func.namespace == ("search",) and node.func.name == "in":
            column = self._operand(node.args[0], lambda_var) if node.args else None
            values = search_in_values(node)
            self._params.extend(values)
            return f"{column} IN ({', '.join('?' * len(values))})"
        if isinstance(node, ast.CollectionLambda):
            return self._lambda(node)
        raise RequestError(f"unsupported filter expression: {type(node).__name__}", field="filter")

    def _compare(self, node: ast.Compare, lambda_var: str | None) -> str:
        left, right = node.left, node.right
        if isinstance(left, (*_LITERALS, ast.Null)):  # 'x' eq field reads as field eq 'x'
            left, right = right, left
        column = self._operand(left, lambda_var)
        op = _COMPARATORS.get(type(node.comparator))
        if op is None:
            raise RequestError(f"unsupported comparison in filter: {type(node.comparator).__name__}", field="filter")
        if isinstance(right, ast.Null):
            if op not in ("=", "!="):
                raise RequestError("null can only be compared with eq or ne", field="filter")
            return f"{column} IS {'NOT ' if op == '!=' else ''}NULL"
        if not isinstance(right, _LITERALS):
            raise RequestError("a filter compares a field with a constant", field="filter")
        self._params.append(self._literal(right, left, lambda_var))
        return f"{column} {op} ?"

    def _operand(self, node: ast._Node, lambda_var: str | None) -> str:
        if not isinstance(node, ast.Identifier) or node.namespace:
            raise RequestError("a filter compares a field with a constant", field="filter")
        if lambda_var is not None and node.name == lambda_var:
            return "v.value"
        field = _field(node.name)
        if field.is_collection:
            raise RequestError(f"{field.name} is a collection: use {field.name}/any(...)", field="filter")
        return f'chunks."{field.name}"'

    def _literal(self, literal: ast._Node, operand: ast._Node, lambda_var: str | None) -> Any:
        name = operand.name if isinstance(operand, ast.Identifier) else None
        is_number_field = name is not None and name != lambda_var and _field(name).type == "Edm.Int32"
        if isinstance(literal, ast.String):
            if is_number_field:
                raise RequestError(f"{name} is a number; compare it with a number", field="filter")
            return literal.val
        if isinstance(literal, ast.Boolean):
            return literal.val == "true"
        if not is_number_field:
            raise RequestError(f"{getattr(operand, 'name', 'value')} is text; quote the value", field="filter")
        # odata_query types every literal as its base _Node, which declares no `val`
        return float(literal.val) if isinstance(literal, ast.Float) else int(literal.val)  # type: ignore[attr-defined]

    def _lambda(self, node: ast.CollectionLambda) -> str:
        field = _field(node.owner.name) if isinstance(node.owner, ast.Identifier) else None
        if field is None or not field.is_collection:
            raise RequestError("any/all apply to a collection field", field="filter")
        self._params.append(field.name)
        # Per row: probe the row's values. Otherwise the chunks holding a value that passes, as one
        # set read from the index on (field, value, chunk): probing instead costs 1 µs a chunk.
        if self._per_row:
            is_in, is_not_in = "EXISTS", "NOT EXISTS"
            chunks = f"SELECT 1 FROM {self._table} v WHERE v.chunk = chunks.rowid AND v.field = ?"
        else:
            is_in, is_not_in = "chunks.rowid IN", "chunks.rowid NOT IN"
            chunks = f"SELECT v.chunk FROM {self._table} v WHERE v.field = ?"
        if node.lambda_ is None:  # tags/any(): the collection is not empty
            return f"{is_in} ({chunks})"
        condition = self.visit(node.lambda_.expression, lambda_var=node.lambda_.identifier.name)
        if isinstance(node.operator, ast.Any):
            return f"{is_in} ({chunks} AND {condition})"
        return f"{is_not_in} ({chunks} AND NOT {condition})"


def _chain(node: ast.BoolOp) -> list[ast._Node]:
    """The operands of a chain of one operator (a or b or c ...), in order, gathered without
    recursion: one flat SQL group instead of one nested group per operator."""
    operands: list[ast._Node] = []
    pending: list[ast._Node] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.BoolOp) and type(current.op) is type(node.op):
            pending.extend((current.right, current.left))  # the left one is taken first
        else:
            operands.append(current)
    return operands


def _field(name: str) -> IndexField:
    field = BY_NAME.get(name)
    if field is None:
        raise RequestError(f"unknown field {quoted(name)} in filter", field="filter")
    if not field.filterable:
        raise RequestError(f"field {quoted(name)} is not filterable", field="filter")
    return field
