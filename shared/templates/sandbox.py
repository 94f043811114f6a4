"""Render user-supplied and stored Jinja2 templates safely.

Every template renders in Jinja2's immutable sandbox (no attribute access to Python
internals, no mutation of passed objects), with bounded output size and render time.
Violations become RequestError, which the HTTP layer answers with 400.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import Template, TemplateSyntaxError, UndefinedError, meta
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

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja's default renders `{{ x.__class__ }}` as an empty string; refuse it outright.
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > self.max_chars:
                    raise SecurityError("repetition exceeds the output limit")
        return super().call_binop(context, operator, left, right)


@dataclass(frozen=True)
class CompiledTemplate:
    origin: str  # default | inline | file:<path> | blob:<path>
    template: Template
    variables_used: tuple[str, ...]


class _RenderTimeout(BaseException):
    """Raised inside a render thread that ran past its deadline."""


class TemplateRenderer:
    def __init__(self, max_chars: int, timeout_seconds: float) -> None:
        self._env = _BoundedSandbox(max_chars)
        self._max_chars = max_chars
        self._timeout = timeout_seconds
        # Stored templates come back on every request: parse each distinct text once.
        self._parse = functools.lru_cache(maxsize=256)(self._parse_uncached)

    def compile(self, source: str, *, origin: str) -> CompiledTemplate:
        """Parse a template; RequestError (with the line) on a syntax error."""
        try:
            template, used = self._parse(source)
        except TemplateSyntaxError as exc:
            raise RequestError(f"template {origin} has a syntax error on line {exc.lineno}: {exc.message}") from None
        return CompiledTemplate(origin, template, used)

    def _parse_uncached(self, source: str) -> tuple[Template, tuple[str, ...]]:
        parsed = self._env.parse(source)
        return self._env.from_string(parsed), tuple(sorted(meta.find_undeclared_variables(parsed)))

    async def render(self, compiled: CompiledTemplate, variables: dict[str, Any]) -> str:
        return await self._run_with_deadline(lambda: self._generate(compiled.template, variables, compiled.origin))

    async def _run_with_deadline(self, render: Callable[[], str]) -> str:
        # A loop that emits nothing never yields control, so the deadline is enforced from
        # outside: the render runs in its own thread, which gets an exception at the deadline.
        loop = asyncio.get_running_loop()
        finished = asyncio.Event()
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                outcome["text"] = render()
            except BaseException as exc:  # noqa: BLE001 - handed back to the awaiting coroutine
                outcome["error"] = exc
            finally:
                loop.call_soon_threadsafe(finished.set)

        thread = threading.Thread(target=target, name="template-render", daemon=True)
        thread.start()
        try:
            await asyncio.wait_for(finished.wait(), self._timeout)
        except TimeoutError:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_RenderTimeout))
            raise RequestError(f"template took longer than {self._timeout:g} s to render") from None
        if "error" in outcome:
            raise outcome["error"]
        return outcome["text"]

    def _generate(self, template: Template, variables: dict[str, Any], name: str) -> str:
        parts: list[str] = []
        size = 0
        try:
            for piece in template.generate(variables):
                size += len(piece)
                if size > self._max_chars:
                    raise RequestError(f"template {name} renders more than {self._max_chars} characters")
                parts.append(piece)
        except SecurityError as exc:
            raise RequestError(f"template {name} was refused by the sandbox: {exc}") from None
        except (UndefinedError, TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise RequestError(f"template {name} failed to render: {exc}") from None
        return "".join(parts)
