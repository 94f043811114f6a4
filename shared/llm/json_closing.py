"""Closing a JSON text that the token limit cut off (response_format on the embedded model).

The grammar keeps every token the model writes valid JSON, but max_tokens can stop it in the
middle of a value. What it wrote is kept and only added to (a stream has already sent it):
an open string is closed, a key gets `null`, a half-written number or literal is finished,
open objects and arrays are closed. The result parses; finish_reason stays "length".
"""

from __future__ import annotations

_LITERALS = ("true", "false", "null")


def closing(text: str) -> str:
    """What to append to `text`, a prefix of a JSON document, so that it parses ("" when it does)."""
    if not text.strip():
        return "{}"  # nothing written yet: the smallest answer json_object allows
    stack: list[str] = []  # "{" or "[", innermost last
    expecting = "value"  # value | key | colon | next (a comma or the container's end)
    in_string = escape = False
    unicode_digits = -1  # hex digits still due after \u, -1 outside one
    is_key = False
    scalar = ""
    for char in text:
        if in_string:
            if unicode_digits > 0:
                unicode_digits -= 1
            elif escape:
                escape, unicode_digits = False, (4 if char == "u" else -1)
            elif char == "\\":
                escape = True
            elif char == '"':
                in_string = False
                expecting = "colon" if is_key else "next"
            continue
        if scalar and (char.isalnum() or char in "+-."):
            scalar += char
            continue
        scalar = ""
        if char.isspace():
            continue
        if char == '"':
            in_string, is_key = True, expecting == "key"
        elif char in "{[":
            stack.append(char)
            expecting = "key" if char == "{" else "value"
        elif char in "}]":
            stack.pop()
            expecting = "next"
        elif char == ":":
            expecting = "value"
        elif char == ",":
            expecting = "key" if stack and stack[-1] == "{" else "value"
        else:  # the start of a number or a literal
            scalar, expecting = char, "next"
    suffix = _finish_scalar(scalar)
    if in_string:
        suffix += ("\\" if escape else "") + "0" * max(unicode_digits, 0) + '"'
        expecting = "colon" if is_key else "next"
    if expecting == "key" and text.rstrip().endswith(","):
        suffix += '"": null'
    elif expecting == "colon":
        suffix += ": null"
    elif expecting == "value" and text.rstrip()[-1:] in (":", ","):
        suffix += "null"
    return suffix + "".join("}" if c == "{" else "]" for c in reversed(stack))


def _finish_scalar(scalar: str) -> str:
    """What a number or literal cut short needs: "tr" gets "ue", "1." and "-" get "0"."""
    if not scalar:
        return ""
    for literal in _LITERALS:
        if literal.startswith(scalar):
            return literal[len(scalar) :]
    return "0" if scalar[-1] in "+-.eE" else ""
