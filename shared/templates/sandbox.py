"""Render user-supplied and stored Jinja2 templates safely.

Every template renders in Jinja2's immutable sandbox (no attribute access to Python
internals, no mutation of passed objects), with bounded output size and render time.
Violations become RequestError, which the HTTP layer answers with 400.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shared.core.errors import RequestError

_MAX_EXPONENT = 64


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    # `"x" * 10**9` would allocate before any output check could run: cap it up front.
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, max_chars: int) -> None:
        super().__init__(autoescape=False, trim_blocks=True, lstrip_blocks=True)
        self.max_chars = max_chars

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > self.max_chars:
                    raise SecurityError("repetition exceeds the output limit")
        return super().call_binop(context, operator, left, right)


@dataclass(frozen=True)
class Rendered:
    text: str
    variables_used: tuple[str, ...]


class TemplateRenderer:
    def __init__(self, max_chars: int, timeout_seconds: float) -> None:
        self._env = _BoundedSandbox(max_chars)
        self._max_chars = max_chars
        self._timeout = timeout_seconds

    def render(self, source: str, variables: dict[str, Any], *, name: str) -> Rendered:
        """Render `source` (called `name` in error messages) with `variables`."""
        try:
            parsed = self._env.parse(source)
            template = self._env.from_string(parsed)
        except TemplateSyntaxError as exc:
            raise RequestError(f"template {name} has a syntax error on line {exc.lineno}: {exc.message}") from None
        used = tuple(sorted(meta.find_undeclared_variables(parsed)))

        deadline = time.monotonic() + self._timeout
        parts: list[str] = []
        size = 0
        try:
            for piece in template.generate(variables):
                size += len(piece)
                if size > self._max_chars:
                    raise RequestError(f"template {name} renders more than {self._max_chars} characters")
                if time.monotonic() > deadline:
                    raise RequestError(f"template {name} took longer than {self._timeout:g} s to render")
                parts.append(piece)
        except SecurityError as exc:
            raise RequestError(f"template {name} was refused by the sandbox: {exc}") from None
        except (UndefinedError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise RequestError(f"template {name} failed to render: {exc}") from None
        return Rendered("".join(parts), used)
