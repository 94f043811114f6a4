"""Reading Bicep as text, for the infra tests: no Bicep compiler runs offline.

A bracket-aware scanner finds declarations and the entries of object literals, and a small
evaluator computes the value of an expression (the Function App's settings) from parameter
values, for the subset of Bicep those expressions use. Anything outside that subset fails
loudly, so a new construct gets taught here instead of guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

# Deployment functions, by the value they have in the public cloud.
STAND_INS = {
    "environment().authentication.loginEndpoint": "https://login.microsoftonline.com/",
    "tenant().tenantId": "tenant-id",
}

# Required parameters of each type stand for themselves: the same parameter, the same value.
_TYPE_STAND_INS = {"int": 1000, "bool": True, "object": {}, "array": []}

_KEY = re.compile(r"\s*(?:([A-Za-z_]\w*)|'([^'\\$]*)')\s*:")


def skip_string(text: str, i: int) -> int:
    """The index just past the string literal starting at text[i] ('...' or '''...''')."""
    if text.startswith("'''", i):
        end = text.find("'''", i + 3)
        assert end != -1, "unterminated multi-line string"
        return end + 3
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text.startswith("${", i):
            i = skip_expression(text, i + 2, "}")
        elif text[i] == "'":
            return i + 1
        else:
            i += 1
    raise AssertionError("unterminated string")


def skip_expression(text: str, i: int, closer: str) -> int:
    """The index just past `closer` at depth 0, from text[i] (strings and nesting skipped)."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack = [closer]
    while i < len(text):
        c = text[i]
        if c == "'":
            i = skip_string(text, i)
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif c == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
        i += 1
    raise AssertionError(f"no closing {closer!r}")


def scan_to(text: str, i: int, stops: str) -> int:
    """The first of `stops` from text[i] on, outside strings and brackets."""
    closers = {"{": "}", "[": "]", "(": ")"}
    while i < len(text) and text[i] not in stops:
        c = text[i]
        if c == "'":
            i = skip_string(text, i)
        elif c in closers:
            i = skip_expression(text, i + 1, closers[c])
        else:
            i += 1
    return i


def without_comments(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "'":
            end = skip_string(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def declaration(path: Path, keyword: str, name: str) -> str:
    """The expression of `var name = ...` (or resource/param...), balanced, comments removed."""
    text = without_comments(path.read_text())
    match = re.search(rf"^{keyword}\s+{name}\b[^=\n]*=\s*", text, re.MULTILINE)
    assert match, f"{keyword} {name} not found in {path.name}"
    # An expression ends at the end of its line, unless a bracket opened on it is still open.
    return text[match.end() : scan_to(text, match.end(), "\n")]


def parameters(path: Path) -> dict[str, str]:
    """Each parameter's declared type, by name."""
    return dict(re.findall(r"^param (\w+) (\w+)", without_comments(path.read_text()), re.MULTILINE))


def object_entries(expression: str) -> list[tuple[str, str]]:
    """(key, value expression) of the object literals in an expression that sit in no other
    object literal (the arguments of union(), the branches of a conditional), in order."""
    entries: list[tuple[str, str]] = []
    stack: list[str] = []
    i, key_may_start = 0, False
    while i < len(expression):
        c = expression[i]
        if key_may_start and stack.count("{") == 1 and stack[-1] == "{":
            match = _KEY.match(expression, i)
            if match:
                end = scan_to(expression, match.end(), "\n,}")  # a value ends at a newline, comma or brace
                entries.append((match.group(1) or match.group(2), expression[match.end() : end].strip()))
                i, key_may_start = end, False
                continue
        key_may_start = False
        if c == "'":
            i = skip_string(expression, i)
            continue
        if c in "{[(":
            stack.append(c)
            key_may_start = c == "{"
        elif c in "}])":
            stack.pop()
        elif c in "\n,":
            key_may_start = True
        i += 1
    return entries


def object_keys(expression: str) -> list[str]:
    return [key for key, _ in object_entries(expression)]


def evaluate(expression: str, path: Path, values: Mapping[str, object] | None = None) -> object:
    """The value of an expression of the file at `path`, with `values` for its parameters
    (others take their default, or stand for themselves when they have none)."""
    values = values or {}
    e = expression.strip()
    if e in STAND_INS:
        return STAND_INS[e]
    question = scan_to(e, 0, "?")
    if question < len(e):
        colon = scan_to(e, question + 1, ":")
        condition = evaluate(e[:question], path, values)
        assert isinstance(condition, bool), f"not a condition: {e[:question]!r}"
        return evaluate(e[question + 1 : colon] if condition else e[colon + 1 :], path, values)
    if e.startswith("!"):
        return not evaluate(e[1:], path, values)
    if e in ("true", "false"):
        return e == "true"
    if re.fullmatch(r"-?\d+", e):
        return int(e)
    if e.startswith("'") and skip_string(e, 0) == len(e):
        return _interpolate(e, path, values)
    if e.startswith("[") and skip_expression(e, 1, "]") == len(e):
        return [evaluate(item, path, values) for item in _items(e[1:-1])]
    if e.startswith("{") and skip_expression(e, 1, "}") == len(e):
        return {key: evaluate(value, path, values) for key, value in object_entries(e)}
    call = re.match(r"(\w+)\(", e)
    if call and skip_expression(e, call.end(), ")") == len(e):
        return _call(call.group(1), [evaluate(a, path, values) for a in _items(e[call.end() : -1])])
    if re.fullmatch(r"[A-Za-z_]\w*", e):
        return _name(e, path, values)
    raise AssertionError(f"cannot evaluate {e!r}: teach tests/bicep_text.py")


def _name(name: str, path: Path, values: Mapping[str, object]) -> object:
    if name in values:
        return values[name]
    declared = parameters(path)
    if name not in declared:
        return evaluate(declaration(path, "var", name), path, values)
    default = re.search(rf"^param {name} \w+ = (.+)$", without_comments(path.read_text()), re.MULTILINE)
    if default:
        return evaluate(default.group(1), path, values)
    return _TYPE_STAND_INS.get(declared[name], name)


def _call(function: str, arguments: list[object]) -> object:
    if function == "union":
        merged: dict = {}
        for argument in arguments:
            merged.update(argument)  # later arguments win, as in Bicep
        return merged
    if function == "string":
        (value,) = arguments
        assert not isinstance(value, bool), "string() of a bool is 'True' in ARM: write 'true'"
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if function == "empty":
        (value,) = arguments
        return len(value) == 0
    raise AssertionError(f"cannot evaluate {function}(): teach tests/bicep_text.py")


def _items(text: str) -> list[str]:
    """The elements of an array literal or the arguments of a call (commas or newlines)."""
    items, i = [], 0
    while i < len(text):
        end = scan_to(text, i, ",\n")
        if text[i:end].strip():
            items.append(text[i:end].strip())
        i = end + 1
    return items


def _interpolate(literal: str, path: Path, values: Mapping[str, object]) -> str:
    out, i = [], 1
    while i < len(literal) - 1:
        if literal.startswith("${", i):
            end = skip_expression(literal, i + 2, "}")
            value = evaluate(literal[i + 2 : end - 1], path, values)
            out.append(value if isinstance(value, str) else json.dumps(value))
            i = end
        elif literal[i] == "\\":
            out.append(literal[i + 1])
            i += 2
        else:
            out.append(literal[i])
            i += 1
    return "".join(out)
