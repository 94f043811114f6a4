"""What a template may read and call: allowlists, so that whatever the sandbox does not know
is closed by default.

A template reaches three kinds of value: the variables it is given (plain data, see `plain`),
the values it builds (strings and Markup, numbers, lists, tuples, dicts, ranges) and Jinja's
own runtime objects (loops, cyclers, joiners, namespaces, macros, undefined values, `self`).
It may read the public attributes of those and of nothing else: the attributes of functions,
methods, types, generators and modules are where a way out starts (`__globals__`, `__self__`,
`func`, `gi_frame`, ...), so they are refused whatever their name. It may call the methods of
those values, Jinja's runtime callables and the environment's globals, and nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import BlockReference, LoopContext, Macro, TemplateReference, Undefined
from jinja2.sandbox import modifies_known_mutable
from jinja2.utils import Cycler, Joiner, Namespace
from markupsafe import Markup

# The values a template may read the public attributes of (bool is an int, Markup a str).
READABLE = (
    str,
    bytes,
    int,
    float,
    type(None),
    list,
    tuple,
    dict,
    range,
    LoopContext,
    Cycler,
    Joiner,
    Namespace,
    Macro,
    Undefined,
    TemplateReference,
    BlockReference,
)
# Jinja's runtime objects that a template calls: `m()`, `loop(children)`, `j()`, `self.block()`,
# and an undefined value, whose call says what is undefined.
RUNTIME_CALLABLES = (Macro, LoopContext, Joiner, BlockReference, Undefined)
# Classes whose class methods a value of theirs reaches: `(1).from_bytes`, `{}.fromkeys`,
# `('x'|safe).escape`.
_CLASS_METHOD_OWNERS = (str, bytes, int, float, dict)


def readable(obj: Any) -> bool:
    return isinstance(obj, READABLE)


def refuse_attribute(obj: Any, name: str) -> None:
    """SecurityError unless a template may read `obj.name` (which exists)."""
    if name.startswith("_"):
        raise SecurityError(f"access to attribute {name!r} of a {type(obj).__name__} is not allowed")
    if modifies_known_mutable(obj, name):
        raise SecurityError(f"{type(obj).__name__}.{name}() would change a value the template was given")


def refuse_unreadable(obj: Any) -> None:
    if not readable(obj):
        raise SecurityError(f"the attributes of a {type(obj).__name__} are not readable in a template")


def is_value_method(obj: Any) -> bool:
    """A method bound to a value a template may read, or to the class of one (a class method)."""
    if not isinstance(obj, (BuiltinMethodType, MethodType)):
        return False
    owner = obj.__self__
    if isinstance(owner, type):
        return issubclass(owner, _CLASS_METHOD_OWNERS)
    # A built-in static method reached through a value (`''.maketrans`) is bound to None; a
    # module's function (`len`) to its module, which is not readable.
    return readable(owner)


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """`value` as plain data: strings, numbers, booleans, None, and lists, tuples and dicts of
    them; a dataclass becomes the dict of its fields. The variables a template receives are
    converted with this, so that no object of the application's, nor anything it references,
    is ever within a template's reach. TypeError for any other kind of value."""
    # The common case first, an exact type (no subclass) that is already plain: returned as it is.
    if type(value) in _PLAIN_TYPES or isinstance(value, Markup):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (an enum's member) as its text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"a template variable cannot hold a {type(value).__name__}, only plain data")
