"""The template sandbox has no way out.

Everything a template can reach is enumerated: from what a template starts with (every filter,
test and global, the values it can write, Jinja's runtime objects, and the variables the
endpoints pass), by every means a template has (attributes, items, iteration, calls), and
none of it is a module, a function's globals, a type's internals, the environment or a file.
Every way of formatting goes through the sandbox's checked formatter, which reads fields as
expressions read attributes. The security report's payload is refused on every v2 endpoint,
through both template fields, with no secret in the answer.
"""

from __future__ import annotations

import enum
import functools
import io
import itertools
import json
import os
import re
import sys
import types
from collections.abc import Iterator

import pytest
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.utils import Cycler, Joiner, Namespace
from markupsafe import Markup

from shared.config import PROJECT_ROOT, get_settings
from shared.core.errors import RequestError
from shared.templates import policy
from shared.templates.formatting import CheckedFormat
from shared.templates.sandbox import SandboxedRenderer
from tests.recording_server import RecordingServer
from tests.support import completion, remote_model_entry
from tests.template_surface import FILTER_CALLS, TEST_CALLS, endpoint_variables, surface
from tests.unit.test_multimodal import PNG

CANARY = "sk-canary-7c41e2b9"  # a secret in the process environment while these tests run


@pytest.fixture(scope="module")
def renderer():
    return SandboxedRenderer(max_chars=100_000, timeout_seconds=5)


# A configured model whose key is the secret (the issue read LLM_MODELS), in the process
# environment for the whole module, the enumeration included.
CANARY_MODELS = json.dumps(
    [{"alias": "canary", "provider": "openai", "model": "m", "endpoint": "http://127.0.0.1:9/v1", "api_key": CANARY}]
)


@pytest.fixture(scope="module", autouse=True)
def secret_in_the_environment():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_MODELS", CANARY_MODELS)
        patch.setenv("TEMPLATE_TEST_SECRET", CANARY)
        yield


@pytest.fixture(scope="module")
def reached(renderer):
    return surface(renderer._env)


def test_every_filter_and_test_is_enumerated(renderer):
    assert set(FILTER_CALLS) == set(renderer._env.filters)
    assert set(TEST_CALLS) == set(renderer._env.tests)


def test_nothing_reachable_leads_out(reached):
    allowed_types = (dict, Cycler, Joiner, Namespace)  # the globals that are classes
    dangerous = (
        types.ModuleType,
        types.FunctionType,
        types.CodeType,
        types.FrameType,
        types.TracebackType,
        io.IOBase,
        functools.partial,
        Environment,
        Context,
    )
    out = [
        (path, type(value).__name__)
        for path, value in reached
        if isinstance(value, dangerous)
        or (isinstance(value, type) and value not in allowed_types)
        or value is os.environ
        or value is sys.modules
    ]
    assert not out
    assert not [path for path, _ in reached if re.search(r"\._", path)], "an underscore attribute was read"
    assert len(reached) > 500


def test_everything_reachable_is_a_known_kind(renderer, reached):
    env = renderer._env
    kinds = {
        "value": policy.readable,
        "a value's method": policy.is_value_method,
        "checked format": lambda v: isinstance(v, CheckedFormat),
        "global": lambda v: any(v is g for g in env.globals.values()),
        "iterator or view": lambda v: isinstance(v, (Iterator, type({}.keys()), type({}.values()), type({}.items()))),
    }
    unknown = [(path, type(value)) for path, value in reached if not any(test(value) for test in kinds.values())]
    assert not unknown
    # What is not a readable value exposes no attribute at all, whatever its name.
    for _, value in reached:
        if not policy.readable(value):
            with pytest.raises(SecurityError, match="not readable"):
                env.getattr(value, "upper")


def test_only_what_is_known_can_be_called(renderer, reached):
    env = renderer._env
    context = env.from_string("").new_context({})
    callables = [(path, value) for path, value in reached if callable(value)]
    assert len(callables) > 300
    for path, value in callables:
        assert env.is_safe_callable(value), path
    for refused in (print, os.getenv, open, functools.partial(len), types.SimpleNamespace, object.__subclasses__):
        with pytest.raises(SecurityError, match="not safely callable"):
            env.call(context, refused)


def test_no_secret_is_in_anything_reachable(reached):
    for path, value in reached:
        assert CANARY not in repr(value), path
        assert CANARY not in str(value), path


def test_the_variables_are_plain_data():
    variables = policy.plain(endpoint_variables())

    def walk(value: object) -> Iterator[object]:
        yield value
        if isinstance(value, dict):
            for key, item in value.items():
                yield from walk(key)
                yield from walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from walk(item)

    assert {type(v) for v in walk(variables)} <= {str, int, float, bool, type(None), list, tuple, dict}
    documented = {"question", "history", "user_id", "metadata", "sources", "retrieval_enabled", "instructions"}
    assert set(variables) == documented | {"answer", "extra"}  # the response template's, a template_variable
    assert variables["sources"][0]["fields"]["title"] == "T"
    with pytest.raises(TypeError, match="cannot hold a Settings"):
        policy.plain({"settings": get_settings()})


def test_plain_keeps_plain_values_and_turns_subclasses_into_their_base_type():
    class Role(enum.StrEnum):
        USER = "user"

    class Level(enum.IntEnum):
        ONE = 1

    text, markup = "text", Markup("<b>kept</b>")
    converted = policy.plain([text, 2, 2.5, True, None, markup, Role.USER, Level.ONE])
    assert converted[0] is text and converted[5] is markup  # already plain or safe markup: the same object
    assert [type(v) for v in converted] == [str, int, float, bool, type(None), Markup, str, int]
    assert converted[6:] == ["user", 1]


async def test_the_shipped_templates_read_the_plain_variables(renderer):
    def rendered(name: str):
        source = (PROJECT_ROOT / "prompts" / name).read_text()
        return renderer.render(renderer.compile(source, origin=f"file:{name}"), endpoint_variables())

    assert "[1] T: passage" in await rendered("rag_system.jinja2")
    assert "assistant: hello\nuser: q\nQuery:" in await rendered("query_rewrite.jinja2")
    assert await rendered("response.jinja2") == "an answer"


# Every formatting method a template can reach, with the issue's payload, and fields that start
# a way out from each kind of thing a template holds.
FORMATS = {
    "str.format": "{fmt!r}.format({value})",
    "str.format_map": "{fmt!r}.format_map({{'x': {value}}})",
    "Markup.format": "({fmt!r}|safe).format({value})",
    "Markup.format_map": "({fmt!r}|safe).format_map({{'x': {value}}})",
    "attr format": "({fmt!r}|attr('format'))({value})",
    "map format": "([{fmt!r}]|map(attribute='format')|first)({value})",
}
HELD = (
    *("lipsum", "range", "dict", "cycler", "joiner", "namespace", "missing", "self", "'x'.format"),
    *("cycler(1)", "joiner()", "namespace(a=1)", "range(2)", "['a']|map('upper')", "{'a': 1}.items()"),
    *("'x'", "'x'|safe", "1", "1.5", "[1]", "(1,)", "{'a': 1}", "sources", "sources[0]", "history"),
)
FIELDS = ("__class__", "__func__.__globals__", "__self__", "__init__.__globals__", "__dict__", "func", "args")


def field(fmt_name: str, path: str) -> str:
    head = "x" if fmt_name.endswith("format_map") else "0"
    return "{" + head + "." + path + "}"


@pytest.mark.parametrize("fmt_name", FORMATS)
async def test_the_issue_payload_is_refused_by_every_formatting_method(renderer, fmt_name):
    payload = field(fmt_name, "__func__.__globals__[ctypes]._os.environ[LLM_MODELS]")
    template = "{{ " + FORMATS[fmt_name].format(fmt=payload, value="lipsum") + " }}"

    with pytest.raises(RequestError, match="refused by the sandbox") as refused:
        await renderer.render(renderer.compile(template, origin="inline"), endpoint_variables())
    assert CANARY not in str(refused.value)


@pytest.mark.parametrize("fmt_name", FORMATS)
async def test_format_fields_are_read_as_expressions_read_attributes(renderer, fmt_name):
    for held, path in itertools.product(HELD, FIELDS):
        template = "{{ " + FORMATS[fmt_name].format(fmt=field(fmt_name, path), value=held) + " }}"
        try:
            rendered = await renderer.render(renderer.compile(template, origin="file:probe"), endpoint_variables())
        except RequestError as exc:
            assert re.search("refused by the sandbox|is undefined|has no attribute", exc.message), (held, path, exc)
        else:  # a field that is no attribute of a plain value (`{0.func}` of a string) is undefined: empty
            assert rendered == "", (held, path, rendered)


V2_ENDPOINTS = ("/api/v2/flexible-rag", "/api/v2/flexible-chat", "/api/v2/flexible-rag-mm", "/api/v2/flexible-chat-mm")
ISSUE_PAYLOAD = '{{ ("{0.__func__.__globals__[ctypes]._os.environ[LLM_MODELS]}"|safe).format(lipsum) }}'


@pytest.fixture
def canary_model(configure):
    """The default model: a multimodal remote one (a recording server) whose key is the secret."""
    with RecordingServer(lambda request: (200, completion("An answer."))) as server:
        entry = remote_model_entry(server, "canary", supports_multimodal=True, api_key=CANARY)
        configure(LLM_MODELS=json.dumps([entry]), LLM_DEFAULT_ALIAS="canary")
        yield server


@pytest.mark.parametrize("url", V2_ENDPOINTS)
@pytest.mark.parametrize("field", ["system_prompt_template", "response_template"])
async def test_the_issue_payload_is_refused_on_every_v2_endpoint(client, canary_model, url, field):
    body = {"question": "q", field: ISSUE_PAYLOAD}
    if url.endswith("-mm"):
        body["metadata"] = {"images": [{"data_url": PNG}]}

    response = await client.post(url, json=body)

    assert response.status_code == 400, response.text
    assert "refused by the sandbox: the attributes of a method are not readable" in response.json()["detail"]
    assert CANARY not in response.text
