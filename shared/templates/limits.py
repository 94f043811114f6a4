"""Size limits for template rendering, checked before the work that would break them.

A check that runs after Python has built a value is too late: `''.center(10**10)` or
`(10**64)**64**3` spend their memory and CPU in one C call that nothing can interrupt.
So every operation that can build something much larger than its inputs (repetition,
powers, padding, replacing, joining, %-formatting and format specs, ...) has its result's
size computed from its arguments first, and every value an operation returns is checked
against the same caps, so that bounded inputs stay bounded all the way through.
"""

from __future__ import annotations

import math
import re
from collections.abc import ItemsView, Iterable, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2.exceptions import SecurityError

MAX_INTEGER_BITS = 4096  # ~1,233 decimal digits: below Python's 4,300-digit str() limit
MAX_CALL_DEPTH = 32  # nested macro calls and recursive loops
MAX_REQUEST_TEMPLATE_TOKENS = 1000  # what compiling a request's template may cost (~3 MB, ~15 ms)
WORK_FACTOR = 10  # one render builds at most this many times the output cap, in all
CONTAINER_COST = 8  # what a new list, tuple or mapping counts in that budget, besides its items

_CONTAINERS = (list, tuple, set, frozenset, range, KeysView, ValuesView, ItemsView)
_DONE = object()


class LimitExceeded(SecurityError):
    """A template asked for more than a sandbox limit allows."""


def size_of(value: Any, limit: int) -> int:
    """Characters `value` stands for, nested items included (one each for the item itself),
    counted no further than just past `limit`, so that measuring is cheap too."""
    total, pending = 0, [iter((value,))]
    while pending and total <= limit:
        item = next(pending[-1], _DONE)
        if item is _DONE:
            pending.pop()
        elif isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, Mapping):
            total += 1
            pending.append(iter(item.items()))
        elif isinstance(item, _CONTAINERS):
            total += 1
            pending.append(iter(item))
        elif isinstance(item, float):
            total += 24
        else:
            total += len(repr(item))
    return total


def _arg(args: tuple | list, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    return args[index] if len(args) > index else kwargs.get(name, default)


def _count(value: Any) -> int:
    """An integer argument as given; anything else counts as 0 (Python refuses it later)."""
    return value if isinstance(value, int) else 0


@dataclass(frozen=True)
class TemplateLimits:
    max_chars: int
    max_integer_bits: int = MAX_INTEGER_BITS
    max_call_depth: int = MAX_CALL_DEPTH

    def refuse_over(self, size: int, limit: int, what: str, unit: str = "characters") -> None:
        if size > limit:
            raise LimitExceeded(f"{what} would be {size:,} {unit}, over the limit of {limit:,}")

    def chars(self, size: int, what: str) -> None:
        self.refuse_over(size, self.max_chars, what)

    def bits(self, size: int, what: str) -> None:
        self.refuse_over(size, self.max_integer_bits, what, "bits")

    def check_value(self, value: Any) -> None:
        """The cap on anything an operation returned: strings, integers, lists and mappings."""
        if isinstance(value, (str, bytes)):
            self.chars(len(value), "a string")
        elif isinstance(value, int):
            self.bits(value.bit_length(), "an integer")
        elif isinstance(value, (list, tuple, dict, set, frozenset)):
            self.chars(size_of(value, self.max_chars), "a list or mapping, with what it holds,")

    def bounded_list(self, items: Iterable[Any]) -> list[Any]:
        """An iterator's items as a list, refused as soon as they add up past the cap."""
        listed, size = [], 0
        for item in items:
            size += 1 + size_of(item, self.max_chars)
            self.chars(size, "the items of a sequence")
            listed.append(item)
        return listed

    def width(self, value: Any, what: str) -> int:
        self.chars(_count(value), what)
        return _count(value)

    # --- operators -------------------------------------------------------------------

    def check_binop(self, operator: str, left: Any, right: Any) -> None:
        if operator == "*":
            self._check_product(left, right)
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            # The result has right * log2(|left|) bits; past a float's range, `right` alone is over any cap.
            bits = math.ceil(right * math.log2(abs(left))) if right.bit_length() < 1000 else right
            self.bits(bits, "a power")
        elif operator == "%" and isinstance(left, (str, bytes)):
            self.percent_format(left, right)

    def _check_product(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and isinstance(right, int):
            self.bits(left.bit_length() + right.bit_length(), "a product")
            return
        for seq, times in ((left, right), (right, left)):
            if not isinstance(times, int):
                continue
            if isinstance(seq, (str, bytes)):
                self.chars(len(seq) * times, "a repeated string")
            elif isinstance(seq, (list, tuple)):
                self.chars(size_of(seq, self.max_chars) * times, "a repeated list")

    # --- formatting --------------------------------------------------------------------

    _PERCENT_SPEC = re.compile(
        r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?[hlL]?(?P<type>.)", re.S
    )

    def percent_format(self, template: str | bytes, values: Any) -> None:
        """Refuse `template % values` if its result would exceed the cap, before formatting."""
        text = template.decode("latin-1") if isinstance(template, bytes) else template
        mapping = values if isinstance(values, Mapping) else None
        positional = iter(values if isinstance(values, tuple) else (values,))
        size = len(text)
        for spec in self._PERCENT_SPEC.finditer(text):
            if spec["type"] == "%":
                continue
            for part in ("width", "precision"):
                number = next(positional, 0) if spec[part] == "*" else self._spec_number(spec[part] or "0")
                size += self.width(number, "a %-format width or precision")
            key = spec["key"]
            value = mapping.get(key) if mapping is not None and key is not None else next(positional, "")
            size += size_of(value, self.max_chars)
            self.chars(size, "a %-formatted string")

    @staticmethod
    def _spec_number(digits: str) -> int:
        # Twenty digits are past any cap: no need to read a longer run to the end.
        return int(digits) if len(digits) < 20 else 10**19

    def format_spec(self, spec: str) -> None:
        """Refuse a str.format spec whose width or precision exceeds the cap (any digit run
        counts: a fill character that is a digit only makes the check stricter)."""
        for digits in re.findall(r"\d+", spec):
            self.chars(self._spec_number(digits), "a format width or precision")

    # --- str, bytes and int methods ---------------------------------------------------------

    def check_method_call(self, method: Any, args: tuple, kwargs: dict) -> None:
        # Built-in methods, and Markup's own (Python methods with the same arguments).
        owner = getattr(method, "__self__", None)
        if not isinstance(method, (BuiltinMethodType, MethodType)) or not isinstance(owner, (str, bytes, int)):
            return
        name = method.__name__
        what = f"{type(owner).__name__}.{name}()"
        if name in ("center", "ljust", "rjust", "zfill"):
            self.width(_arg(args, kwargs, 0, "width"), what)
        elif name == "expandtabs" and not isinstance(owner, int):
            tab = self.width(_arg(args, kwargs, 0, "tabsize", 8), what)
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            self.chars(len(owner) + tabs * tab, what)
        elif name == "replace":
            self.replaced(
                owner,
                _arg(args, kwargs, 0, "old"),
                _arg(args, kwargs, 1, "new"),
                _arg(args, kwargs, 2, "count", -1),
                what,
            )
        elif (
            name == "join"
            and not isinstance(owner, int)
            and isinstance(_arg(args, kwargs, 0, "iterable"), (list, tuple))
        ):
            items = _arg(args, kwargs, 0, "iterable")
            self.chars(size_of(items, self.max_chars) + len(owner) * len(items), what)
        elif name == "translate" and not isinstance(owner, int):
            self.translated(owner, _arg(args, kwargs, 0, "table"), what)
        elif name == "to_bytes":
            self.width(_arg(args, kwargs, 0, "length", 1), what)

    def replaced(self, text: Any, old: Any, new: Any, count: Any, what: str) -> None:
        same_kind = (isinstance(text, str) and isinstance(old, str)) or (
            isinstance(text, bytes) and isinstance(old, bytes)
        )
        if not (same_kind and type(old) is type(new)):
            return  # a str pattern in bytes (or the reverse) is refused by Python itself
        found = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        self.chars(len(text) + found * (len(new) - len(old)), what)

    def translated(self, text: str | bytes, table: Any, what: str) -> None:
        # Each character becomes at most the longest string the table maps anything to.
        targets = table.values() if isinstance(table, Mapping) else table if isinstance(table, (list, tuple)) else ()
        longest = max((len(t) for t in targets if isinstance(t, (str, bytes))), default=1)
        self.chars(len(text) * max(1, longest), what)


# --- Jinja's filters: (limits, value, arguments after it, keyword arguments) ------------------


def _center(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    limits.width(_arg(args, kwargs, 0, "width", 80), "center()")


def _indent(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    width = _arg(args, kwargs, 0, "width", 4)
    prefix = len(width) if isinstance(width, str) else limits.width(width, "indent()")
    text = str(value)
    limits.chars(len(text) + (text.count("\n") + 1) * prefix, "indent()")


def _replace(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    limits.replaced(
        str(value),
        _arg(args, kwargs, 0, "old"),
        _arg(args, kwargs, 1, "new"),
        _arg(args, kwargs, 2, "count"),
        "replace()",
    )


def _format(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    limits.percent_format(str(value), kwargs or tuple(args))


def _wordwrap(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    text, width = str(value), _count(_arg(args, kwargs, 0, "width", 79))
    wrap = _arg(args, kwargs, 2, "wrapstring") or "\n"
    # A line holds at least one word, or `width` characters of a word broken apart.
    lines = len(text.split()) + len(text) // max(width, 1) + 1
    limits.chars(len(text) + lines * len(str(wrap)), "wordwrap()")


def _join(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    if isinstance(value, (list, tuple)):
        separator = str(_arg(args, kwargs, 0, "d", ""))
        limits.chars(size_of(value, limits.max_chars) + len(value) * len(separator), "join()")


def _filled(limits: TemplateLimits, count: Any, fill: Any, what: str) -> None:
    limits.width(count, what)
    if fill is not None:
        limits.chars(_count(count) * (1 + size_of(fill, limits.max_chars)), what)


def _batch(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    _filled(limits, _arg(args, kwargs, 0, "linecount"), _arg(args, kwargs, 1, "fill_with"), "batch()")


def _slice(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    _filled(limits, _arg(args, kwargs, 0, "slices"), _arg(args, kwargs, 1, "fill_with"), "slice()")


def _urlize(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    # Every word may become a link that repeats the URL and carries `target` and `rel`.
    text = str(value)
    extra = sum(len(str(_arg(args, kwargs, i, name) or "")) for i, name in ((2, "target"), (3, "rel")))
    limits.chars(3 * len(text) + len(text.split()) * (extra + 64), "urlize()")


def _tojson(limits: TemplateLimits, value: Any, args: list, kwargs: dict) -> None:
    indent = _arg(args, kwargs, 0, "indent")
    step = len(indent) if isinstance(indent, str) else limits.width(indent, "tojson()")
    # Each item goes on its own line, indented at least once per level.
    limits.chars(size_of(value, limits.max_chars) * (1 + step), "tojson()")


FILTER_CHECKS = {
    "center": _center,
    "indent": _indent,
    "replace": _replace,
    "format": _format,
    "wordwrap": _wordwrap,
    "join": _join,
    "batch": _batch,
    "slice": _slice,
    "urlize": _urlize,
    "tojson": _tojson,
}
# Filters that pass items through one at a time: an iterator given to them stays lazy.
LAZY_FILTERS = frozenset({"map", "select", "reject", "selectattr", "rejectattr", "first"})


def check_range(limits: TemplateLimits, *args: int) -> range:
    # A tenth of the character cap: each distinct number a list or mapping holds takes ~30-100 bytes.
    numbers = range(*args)
    limits.refuse_over(len(numbers), limits.max_chars // 10, "range()", "items")
    return numbers


def check_lipsum(limits: TemplateLimits, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> None:  # noqa: A002 - Jinja's names
    # At most `max` words of a dozen characters per paragraph.
    limits.chars(_count(n) * _count(max) * 12, "lipsum()")
