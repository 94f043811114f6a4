"""What a template reaches, enumerated (for tests/unit/test_template_sandbox.py).

From what a template starts with (every filter, test and global, the values it can write,
Jinja's runtime objects, the variables the endpoints pass), by every means a template has
(attributes, items, iteration, calls), breadth first.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator, Mapping

from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, Undefined
from jinja2.utils import Namespace

from shared.core.turn import Turn
from shared.core.types import Message, PromptSpec, Source, TurnRequest
from shared.templates import policy

# One call of every filter, then of every test (through `select`), on values that reach into
# the others: a filter added by a newer Jinja fails the enumeration until it is listed here.
FILTER_CALLS = {
    "abs": "-1|abs",
    "attr": "'x'|attr('upper')",
    "batch": "[1, 2, 3]|batch(2, lipsum)",
    "capitalize": "'ab'|capitalize",
    "center": "'a'|center(5)",
    "count": "[1]|count",
    "d": "missing|d(cycler)",
    "default": "missing|default(joiner)",
    "dictsort": "{'a': lipsum}|dictsort",
    "e": "'<'|e",
    "escape": "namespace|escape",
    "filesizeformat": "12345|filesizeformat",
    "first": "[range]|first",
    "float": "'1.5'|float",
    "forceescape": "'<'|forceescape",
    "format": "'%s %r'|format(lipsum, dict)",
    "groupby": "[{'a': 1, 'b': lipsum}]|groupby('a')",
    "indent": "'a\nb'|indent(2, true)",
    "int": "'7'|int",
    "items": "{'a': range}|items",
    "join": "[lipsum, cycler]|join(',')",
    "last": "[dict]|last",
    "length": "'abc'|length",
    "list": "'ab'|list",
    "lower": "'A'|lower",
    "map": "['a']|map('upper')",
    "max": "[1, 2]|max",
    "min": "[{'a': 2}]|min(attribute='a')",
    "pprint": "{'f': lipsum}|pprint",
    "random": "[joiner]|random",
    "reject": "[1, 2]|reject('odd')",
    "rejectattr": "[{'a': 0}]|rejectattr('a')",
    "replace": "'ab'|replace('a', 'b')",
    "reverse": "[namespace, range]|reverse",
    "round": "1.55|round(1, 'floor')",
    "safe": "'<b>'|safe",
    "select": "[1, 2]|select('odd')",
    "selectattr": "[{'a': dict}]|selectattr('a')",
    "slice": "[1, 2, 3]|slice(2, cycler)",
    "sort": "[{'a': 2}, {'a': 1}]|sort(attribute='a')",
    "string": "lipsum|string",
    "striptags": "'<b>x</b>'|striptags",
    "sum": "[{'a': 1}]|sum(attribute='a')",
    "title": "'ab cd'|title",
    "tojson": "{'a': [1]}|tojson",
    "trim": "' a '|trim",
    "truncate": "'abcdefghijklmnop'|truncate(5, true, '.', 0)",
    "unique": "['a', 'A']|unique",
    "upper": "'a'|upper",
    "urlencode": "{'a': 'b c'}|urlencode",
    "urlize": "'see https://example.com'|urlize(10, true, '_blank')",
    "wordcount": "'a b'|wordcount",
    "wordwrap": "'aaa bbb'|wordwrap(3)",
    "xmlattr": "{'a': 'b'}|xmlattr",
}
TEST_CALLS = {  # name: (value, arguments)
    "odd": ("1", ""),
    "even": ("2", ""),
    "divisibleby": ("4", "2"),
    "defined": ("lipsum", ""),
    "undefined": ("missing", ""),
    "none": ("none", ""),
    "boolean": ("true", ""),
    "false": ("false", ""),
    "true": ("true", ""),
    "integer": ("1", ""),
    "float": ("1.5", ""),
    "lower": ("'a'", ""),
    "upper": ("'A'", ""),
    "string": ("'a'", ""),
    "mapping": ("{}", ""),
    "number": ("1", ""),
    "sequence": ("[]", ""),
    "iterable": ("range", ""),
    "callable": ("cycler", ""),
    "sameas": ("none", "none"),
    "escaped": ("'x'|safe", ""),
    "in": ("1", "[1]"),
    "==": ("1", "1"),
    "eq": ("1", "1"),
    "equalto": ("1", "1"),
    "!=": ("1", "2"),
    "ne": ("1", "2"),
    ">": ("2", "1"),
    "gt": ("2", "1"),
    "greaterthan": ("2", "1"),
    "ge": ("2", "1"),
    ">=": ("2", "1"),
    "<": ("1", "2"),
    "lt": ("1", "2"),
    "lessthan": ("1", "2"),
    "<=": ("1", "2"),
    "le": ("1", "2"),
    "filter": ("'upper'", ""),
    "test": ("'odd'", ""),
}

# Jinja's runtime objects, captured as a template makes them: a macro and its caller, varargs
# and kwargs, a recursive loop, `self` and a block, an undefined value, each global's result.
RUNTIME = """
{% set ns = namespace() %}
{% macro with_caller(a, b=1) %}{% set ns.caller = caller %}{% set ns.varargs = varargs %}\
{% set ns.kwargs = kwargs %}{{ caller() }}{% endmacro %}
{% call with_caller(1, 2, 3, k=4) %}called{% endcall %}
{% for x in [[1], [2]] recursive %}{% set ns.loop = loop %}{% endfor %}
{% block b %}block{% endblock %}
{% set me = self %}
{% set block_ref = self.b %}
{% set missing_value = missing %}
{% set a_cycler = cycler(1, lipsum) %}
{% set a_joiner = joiner(', ') %}
{% set a_namespace = namespace(a=range) %}
{% set a_range = range(3) %}
{% set a_dict = dict(a=dict) %}
{% set a_lipsum = lipsum(1) %}
{% set literals = ['x', 1, 1.5, true, none, [1], (1,), {'k': 'v'}, 'x'|safe] %}
"""
# Names tried on everything reached besides its dir(): the first steps of the known ways out.
PROBES = (  # noqa: SIM905 - a list of names, read as one
    "__globals__ __class__ __func__ __self__ __dict__ __init__ __code__ __closure__ __builtins__ "
    "__wrapped__ __subclasses__ __mro__ __base__ __module__ __getattribute__ __reduce_ex__ mro func args "
    "keywords gi_frame gi_code gi_yieldfrom cr_frame f_globals f_back tb_frame environment _environment "
    "_context _func _TemplateReference__context _Namespace__attrs globals module modules os environ sys open "
    "format format_map"
).split()
ARGUMENTS = ((), ("x",), (1,), ([1, 2],))  # what each callable is called with, to reach its results
MAX_DEPTH = 5
SCALARS = (str, bytes, int, float, type(None))  # their attributes do not depend on the value


def endpoint_variables() -> dict:
    """What the endpoints pass a template (Turn.variables): every documented variable, set."""
    source = Source("s1", "idx", 0.5, "passage", {"title": "T", "tags": ["a"]}, {"text": ["<em>p</em>"]})
    request = TurnRequest(
        question="q",
        history=(Message("user", "hi"), Message("assistant", "hello", sources=(source,))),
        prompt=PromptSpec(variables={"extra": {"n": [1, 2.5, None, True]}}, metadata={"m": "x"}, instructions="i"),
        user_id="ana",
    )
    turn = Turn(request=request, model=None, retriever=None, deadline=0.0, sources=(source,))
    return turn.variables(answer="an answer")


def roots(env) -> list[tuple[str, object]]:
    calls = {f"f_{name}": call for name, call in FILTER_CALLS.items()}
    calls |= {
        f"t_{i}": f"[{value}]|select({name!r}{', ' + args if args else ''})|list"
        for i, (name, (value, args)) in enumerate(TEST_CALLS.items())
    }
    source = RUNTIME + "".join(f"{{% set {name} = {call} %}}\n" for name, call in calls.items())
    variables = policy.plain(endpoint_variables())
    module = env.from_string(source).make_module(variables)
    exported = {name: getattr(module, name) for name in vars(module) if not name.startswith("_")}
    return [*env.globals.items(), *variables.items(), *exported.items()]


def steps(env, context: Context, value: object) -> Iterator[tuple[str, object]]:
    """Each value a template reaches from `value` in one step, with the step as it would write it."""
    names = set(PROBES) | set(dir(value))
    if isinstance(value, Namespace):
        names |= set(value._Namespace__attrs)  # its attributes are what the template set
    for name in sorted(names):
        try:
            child = env.getattr(value, name)
        except SecurityError:
            continue
        except Exception:  # noqa: BLE001 - what Undefined raises on any attribute
            continue
        if not isinstance(child, Undefined) or isinstance(value, Undefined):
            yield f".{name}", child
    if isinstance(value, Mapping):
        yield from ((f"[{key!r}]", env.getitem(value, key)) for key in itertools.islice(value, 20))
    elif isinstance(value, (list, tuple, str, range)):
        yield from ((f"[{i}]", env.getitem(value, i)) for i in range(min(len(value), 3)))
    elif not policy.readable(value) and isinstance(value, Iterator):
        yield from ((f"|list[{i}]", item) for i, item in enumerate(itertools.islice(value, 20)))
    if callable(value):
        for arguments in ARGUMENTS:
            try:
                yield f"({', '.join(map(repr, arguments))})", env.call(context, value, *arguments)
            except Exception:  # noqa: BLE001 - refused, or the arguments do not suit it
                continue


def surface(env) -> list[tuple[str, object]]:
    """Every (path, value) a template reaches, within MAX_DEPTH steps of the roots."""
    context = env.from_string("").new_context({})
    seen, reached = set(), []
    queue = deque((name, value, 0) for name, value in roots(env))
    with env.render_budget():
        while queue:
            path, value, depth = queue.popleft()
            key = type(value) if isinstance(value, SCALARS) else id(value)
            if key in seen:
                continue
            seen.add(key)
            reached.append((path, value))
            if depth < MAX_DEPTH:
                queue.extend((path + step, child, depth + 1) for step, child in steps(env, context, value))
    return reached
