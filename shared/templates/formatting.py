"""The sandbox's own formatter: every `format` and `format_map` a template calls, on a string
or on Markup (whose own methods use a formatter that walks any attribute), goes through it.

Each replacement field is reached as an expression would reach it (the sandbox's getattr and
getitem, so `{0.__globals__}` is refused like `x.__globals__`), each format spec is checked
against the size limits before the field is formatted, and so is the text built so far.
"""

from __future__ import annotations

from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from markupsafe import Markup

from shared.templates.limits import TemplateLimits


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """What the formatter needs of its sandbox (shared.templates.sandbox builds it): Jinja's
    immutable sandbox and the limits of its renders."""

    limits: TemplateLimits


class CheckedFormatter(SandboxedFormatter):
    """str.format with each field reached as an expression would reach it (the sandbox's
    getattr and getitem) and its spec checked before formatting, and the running size."""

    def __init__(self, env: LimitedSandbox, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._limits = env.limits
        self._size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        self._limits.format_spec(format_spec)
        text = super().format_field(value, format_spec)
        self._size += len(text)
        self._limits.chars(self._size, "a formatted string")
        return text


class CheckedEscapeFormatter(CheckedFormatter, SandboxedEscapeFormatter):
    pass


class CheckedFormat:
    """The `format` or `format_map` method of a string (Markup included, whose own methods
    would walk any attribute), as a template gets it: through the checked formatter."""

    __slots__ = ("_env", "_text", "_mapping")

    def __init__(self, env: LimitedSandbox, text: str, mapping: bool) -> None:
        self._env, self._text, self._mapping = env, text, mapping

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if self._mapping:
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            kwargs = args[0]
            args = ()
        text = self._text
        if isinstance(text, Markup):
            formatter: CheckedFormatter = CheckedEscapeFormatter(self._env, escape=text.escape)
        else:
            formatter = CheckedFormatter(self._env)
        return type(text)(formatter.vformat(text, args, kwargs))

    def __repr__(self) -> str:
        return f"<{'format_map' if self._mapping else 'format'} of a {type(self._text).__name__}>"
