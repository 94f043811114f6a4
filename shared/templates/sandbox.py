"""Render user-supplied and stored Jinja2 templates safely.

Every template renders in Jinja2's immutable sandbox (no attribute access to Python
internals, no mutation of passed objects) with size limits enforced before the work
(shared/templates/limits.py) and a capped output. A template from the request also
renders under a deadline, in a thread of its own that is stopped when the deadline
passes; the operator's templates (prompts/, Blob Storage) render inline, with no thread.
Violations become RequestError, which the HTTP layer answers with 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import inspect
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import BuiltinMethodType, MethodType
from typing import TYPE_CHECKING, Any

from jinja2 import Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import LoopContext, Macro
from jinja2.utils import _PassArg, generate_lorem_ipsum

from shared.core.errors import RequestError
from shared.templates import policy
from shared.templates.formatting import CheckedFormat, LimitedSandbox
from shared.templates.limits import (
    CONTAINER_COST,
    FILTER_CHECKS,
    LAZY_FILTERS,
    MAX_REQUEST_TEMPLATE_TOKENS,
    WORK_FACTOR,
    LimitExceeded,
    TemplateLimits,
    check_lipsum,
    check_range,
)

if TYPE_CHECKING:
    from shared.core.interfaces import CompiledTemplate


class _CheckedCodeGenerator(CodeGenerator):
    """Compiled templates that report what they build: `~` results and list, tuple and dict
    literals are checked, and the buffers of macros, `{% set %}` and `{% filter %}` blocks
    are capped as they fill."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def _checked(self, visit: Callable[[Any, Frame], None], node: Any, frame: Frame) -> None:
        self.write("environment.checked(")
        visit(node, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self._checked(super().visit_Concat, node, frame)

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._checked(super().visit_List, node, frame)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._checked(super().visit_Dict, node, frame)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        # A tuple is also an assignment target (`{% for k, v in ... %}`): only values are checked.
        if node.ctx == "load":
            self._checked(super().visit_Tuple, node, frame)
        else:
            super().visit_Tuple(node, frame)


class _OutputBuffer(list):
    def __init__(self, limits: TemplateLimits) -> None:
        super().__init__()
        self._limits = limits
        self._size = 0

    def append(self, piece: str) -> None:
        self._size += len(piece)
        self._limits.chars(self._size, "the output of a macro or block")
        super().append(piece)

    def extend(self, pieces: Any) -> None:
        for piece in pieces:
            self.append(piece)


_ABSENT = object()
_DICT_ATTRIBUTES = frozenset(dir(dict))  # names where a dict's attribute wins over its key (`d.items`)


@dataclass
class _RenderBudget:
    work_left: int
    depth: int = 0


class _BoundedSandbox(LimitedSandbox):
    """Jinja2's immutable sandbox, with every value a template builds held to TemplateLimits
    (checked before the work where the work could exceed them) and a work budget per render."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _CheckedCodeGenerator

    def __init__(self, limits: TemplateLimits) -> None:
        super().__init__(autoescape=False, trim_blocks=True, lstrip_blocks=True)
        self.limits = limits
        self._renders = threading.local()
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum
        # Jinja's own filter functions, to name the one a failure came from.
        codes = {name: getattr(inspect.unwrap(f), "__code__", None) for name, f in self.filters.items()}
        self.filter_codes = {code: name for name, code in codes.items() if code is not None}
        self.filters = {name: self._checked_filter(name, f) for name, f in self.filters.items()}

    @contextlib.contextmanager
    def render_budget(self) -> Iterator[None]:
        previous = getattr(self._renders, "budget", None)
        self._renders.budget = _RenderBudget(WORK_FACTOR * self.limits.max_chars)
        try:
            yield
        finally:
            self._renders.budget = previous

    def checked(self, value: Any) -> Any:
        """`value`, once it is within the caps and charged to the render's work budget."""
        self.limits.check_value(value)
        budget = getattr(self._renders, "budget", None)
        if budget is not None:  # None while compiling (constant folding)
            # The operation itself, plus the characters of a string, or the items of a collection
            # and the collection itself as much as a few of them (an empty list takes ~60 bytes).
            cost = 1
            if isinstance(value, (str, bytes)):
                cost += len(value)
            elif isinstance(value, (list, tuple, dict, set, frozenset)):
                cost += CONTAINER_COST + len(value)
            budget.work_left -= cost
            if budget.work_left < 0:
                raise LimitExceeded(
                    f"the template builds more than {WORK_FACTOR * self.limits.max_chars:,} characters in all"
                )
        return value

    def output_buffer(self) -> _OutputBuffer:
        return _OutputBuffer(self.limits)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.limits.check_binop(operator, left, right)
        return self.checked(super().call_binop(context, operator, left, right))

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        args = tuple(self.limits.bounded_list(a) if isinstance(a, Iterator) else a for a in args)
        self.limits.check_method_call(obj, args, kwargs)
        if not isinstance(obj, (Macro, LoopContext)):
            return self.checked(super().call(context, obj, *args, **kwargs))
        budget = getattr(self._renders, "budget", None) or _RenderBudget(0)
        budget.depth += 1
        try:
            self.limits.refuse_over(
                budget.depth, self.limits.max_call_depth, "nested macro calls and recursive loops", "levels"
            )
            return self.checked(super().call(context, obj, *args, **kwargs))
        finally:
            budget.depth -= 1

    # --- what a template reaches (shared.templates.policy) ---------------------------------

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            # `source.title` on a variable: the key, as below, without raising and catching an AttributeError.
            return obj[attribute] if attribute in obj else self.undefined(obj=obj, name=attribute)
        value = self._attribute(obj, attribute)
        if value is not _ABSENT:
            return value
        try:
            return obj[attribute]
        except (TypeError, LookupError):
            return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        try:
            return obj[argument]
        except (TypeError, LookupError):
            if isinstance(argument, str):
                value = self._attribute(obj, argument)
                if value is not _ABSENT:
                    return value
        return self.undefined(obj=obj, name=argument)

    def _attribute(self, obj: Any, name: str) -> Any:
        """`obj.name` as a template gets it, _ABSENT if there is none; SecurityError if the
        template may not read it. Nothing of an unreadable object is evaluated."""
        policy.refuse_unreadable(obj)
        try:
            value = getattr(obj, name)
        except AttributeError:
            return _ABSENT
        policy.refuse_attribute(obj, name)
        return self.wrap_str_format(value) or value

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # The same answer for any of Jinja's own code that asks (its getattr and getitem are replaced above).
        try:
            policy.refuse_unreadable(obj)
            policy.refuse_attribute(obj, attr)
        except SecurityError:
            return False
        return True

    def is_safe_callable(self, obj: Any) -> bool:
        return (
            isinstance(obj, (*policy.RUNTIME_CALLABLES, CheckedFormat))
            or any(obj is value for value in self.globals.values())
            or policy.is_value_method(obj)
        )

    def wrap_str_format(self, value: Any) -> CheckedFormat | None:
        """A string's `format` and `format_map` (built-in, or Markup's own) through the checked formatter."""
        if not isinstance(value, (BuiltinMethodType, MethodType)) or value.__name__ not in ("format", "format_map"):
            return None
        if not isinstance(value.__self__, str):
            return None
        return CheckedFormat(self, value.__self__, value.__name__ == "format_map")

    def _checked_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        first = 0 if _PassArg.from_obj(func) is None else 1  # the context Jinja passes, if any
        check = FILTER_CHECKS.get(name)
        lazy = name in LAZY_FILTERS

        @functools.wraps(func)
        def checked_filter(*args: Any, **kwargs: Any) -> Any:
            args_list = list(args)
            if not lazy and len(args_list) > first and isinstance(args_list[first], Iterator):
                args_list[first] = self.limits.bounded_list(args_list[first])
            if check and len(args_list) > first:
                check(self.limits, args_list[first], args_list[first + 1 :], kwargs)
            return self.checked(func(*args_list, **kwargs))

        return checked_filter

    def _range(self, *args: int) -> range:
        return check_range(self.limits, *args)

    def _lipsum(self, *args: Any, **kwargs: Any) -> str:
        check_lipsum(self.limits, *args, **kwargs)
        return generate_lorem_ipsum(*args, **kwargs)


@dataclass(frozen=True)
class SandboxedTemplate:
    origin: str  # default | inline | file:<path> | blob:<path>
    template: Template
    variables_used: tuple[str, ...]


MAX_FAILURE_CHARS = 300  # of an exception's message in a 400: it may quote the template's data


class _RenderTimeout(BaseException):
    """Raised inside a render thread that ran past its deadline."""


class SandboxedRenderer:
    """The core's TemplateRenderer (shared.core.interfaces): every template in the bounded sandbox."""

    def __init__(self, max_chars: int, timeout_seconds: float) -> None:
        self._env = _BoundedSandbox(TemplateLimits(max_chars))
        self._max_chars = max_chars
        self._timeout = timeout_seconds
        # Stored templates come back on every request: parse each distinct text once. A
        # request's templates get a smaller cache of their own, so they cannot evict those.
        self._parse_stored = functools.lru_cache(maxsize=256)(self._parse_uncached)
        self._parse_inline = functools.lru_cache(maxsize=32)(self._parse_uncached)

    def compile(self, source: str, *, origin: str) -> SandboxedTemplate:
        """Parse a template; RequestError (with the line) on a syntax error."""
        try:
            if origin == "inline":
                self._check_request_template(source)
                template, used = self._parse_inline(source)
            else:
                template, used = self._parse_stored(source)
        except TemplateSyntaxError as exc:
            raise RequestError(f"template {origin} has a syntax error on line {exc.lineno}: {exc.message}") from None
        except RecursionError:
            raise RequestError(f"template {origin} nests expressions too deeply") from None
        return SandboxedTemplate(origin, template, used)

    def _check_request_template(self, source: str) -> None:
        # Compiling takes ~3 KB and ~10 us per token, on the event loop: bound it first.
        if len(source) > self._max_chars:
            raise RequestError(f"template inline has {len(source):,} characters, over the limit of {self._max_chars:,}")
        tokens = sum(1 for _ in itertools.islice(self._env.lexer.tokenize(source), MAX_REQUEST_TEMPLATE_TOKENS + 1))
        if tokens > MAX_REQUEST_TEMPLATE_TOKENS:
            raise RequestError(
                f"template inline has more than {MAX_REQUEST_TEMPLATE_TOKENS:,} tokens (names, operators, "
                "literals, tag delimiters, runs of text), over the limit"
            )

    def _parse_uncached(self, source: str) -> tuple[Template, tuple[str, ...]]:
        parsed = self._env.parse(source)
        return self._env.from_string(parsed), tuple(sorted(meta.find_undeclared_variables(parsed)))

    async def render(self, compiled: CompiledTemplate, variables: dict[str, Any]) -> str:
        if not isinstance(compiled, SandboxedTemplate):
            raise TypeError("render takes a template this renderer compiled")
        # Only the variables the template names: the others it cannot reach, so they are not
        # converted to plain data (the history and the sources, twice a turn otherwise).
        used = {name: variables[name] for name in compiled.variables_used if name in variables}
        render = functools.partial(self._generate, compiled.template, used, compiled.origin)
        if compiled.origin == "inline":  # written by whoever sent the request
            return await self._run_with_deadline(render)
        # The operator's own templates: the size limits hold, but a watchdog thread per
        # render would cost the event loop more than these short renders themselves.
        return render()

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
        # Plain data only: no object of the application's is ever within the template's reach.
        variables = policy.plain(variables)
        parts: list[str] = []
        size = 0
        try:
            with self._env.render_budget():
                for piece in template.generate(variables):
                    size += len(piece)
                    if size > self._max_chars:
                        raise RequestError(f"template {name} renders more than {self._max_chars} characters")
                    parts.append(piece)
        except RequestError:
            raise
        except SecurityError as exc:
            raise RequestError(f"template {name} was refused by the sandbox: {exc}") from None
        except RecursionError:
            raise RequestError(f"template {name} nests values or calls too deeply") from None
        except Exception as exc:  # noqa: BLE001 - whatever a filter, test or method raises is the template's failure
            raise RequestError(self._failure(name, exc)) from None
        return "".join(parts)

    def _failure(self, name: str, exc: Exception) -> str:
        """What failed, for the 400: the template's line and the filter that raised, from the
        traceback Jinja rewrote to the template's lines, and the message, shortened."""
        line, where = None, ""
        trace = exc.__traceback__
        while trace is not None:
            code = trace.tb_frame.f_code
            if code.co_filename == "<template>":
                line = trace.tb_lineno
            elif code in self._env.filter_codes:
                where = f"{self._env.filter_codes[code]}(): "
            trace = trace.tb_next
        message = str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}".rstrip(": ")
        if len(message) > MAX_FAILURE_CHARS:
            message = message[:MAX_FAILURE_CHARS] + "..."
        return f"template {name} failed to render{f' on line {line}' if line else ''}: {where}{message}"
