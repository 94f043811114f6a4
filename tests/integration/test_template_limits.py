"""The template sandbox's hard limits, over HTTP: hostile templates are refused before they
allocate, the server keeps answering meanwhile, and the operator's templates render
without a watchdog thread."""

from __future__ import annotations

import asyncio
import threading
import tracemalloc

import pytest

from shared.core.errors import RequestError
from shared.templates.sandbox import SandboxedRenderer

URL = "/api/v2/flexible-rag"
NO_SEARCH = {"question": "q", "skip_knowledge_base": True, "override_config": {"params": {"max_tokens": 4}}}

# Each payload from the security report, the same at 10**10, and more of the kind; with the
# limit each must name (PROMPTS_MAX_RENDERED_CHARS is 100,000 here).
HOSTILE = [
    ("{{ ((((10**64)**64)**64)**64) % 7 }}", "a power would be 13,607 bits, over the limit of 4,096"),
    ("{{ ''|center(100000000) }}", "center() would be 100,000,000 characters"),
    ("{{ ''|center(10000000000) }}", "center() would be 10,000,000,000 characters"),
    ("{{ '%0100000000d' % 1 }}", "a %-format width or precision would be 100,000,000 characters"),
    ("{{ '%010000000000d' % 1 }}", "a %-format width or precision would be 10,000,000,000 characters"),
    ("{{ '{:>100000000}'.format('x') }}", "a format width or precision would be 100,000,000 characters"),
    ("{{ '{:>10000000000}'.format('x') }}", "a format width or precision would be 10,000,000,000 characters"),
    ("{{ 'x'|indent(100000000) }}", "indent() would be 100,000,000 characters"),
    ("{{ 'x'|indent(10000000000) }}", "indent() would be 10,000,000,000 characters"),
    ("{{ ''.ljust(100000000)|length }}", "str.ljust() would be 100,000,000 characters"),
    ("{{ ''.ljust(10000000000)|length }}", "str.ljust() would be 10,000,000,000 characters"),
    ("{{ ('x' * 10000)|replace('x', 'y' * 10000)|length }}", "replace() would be 100,000,000 characters"),
    ("{{ ('x' * 100000)|replace('x', 'y' * 100000)|length }}", "replace() would be 10,000,000,000 characters"),
    ("{% macro r(n) %}{{ r(n) }}{% endmacro %}{{ r(1) }}", "nested macro calls and recursive loops would be 33 levels"),
    ("{{ 'x' * 10000000000 }}", "a repeated string would be 10,000,000,000 characters"),
    ("{{ ['x'] * 10000000000 }}", "a repeated list would be"),
    ("{{ 10 ** 10000000000 }}", "a power would be 33,219,280,949 bits"),
    ("{{ '{:{}}'.format('x', 10000000000) }}", "a format width or precision would be 10,000,000,000"),
    ("{{ '%*d' % (10000000000, 1) }}", "a %-format width or precision would be 10,000,000,000"),
    ("{{ '%.10000000000f' % 1.5 }}", "a %-format width or precision would be 10,000,000,000"),
    ("{{ '%(a)s' * 1000 % {'a': 'x' * 50000} }}", "a %-formatted string would be"),
    ("{{ ('%(a)s' * 1000)|format(a='x' * 50000) }}", "a %-formatted string would be"),
    ("{{ 'x'.zfill(10000000000) }}", "str.zfill() would be 10,000,000,000"),
    ("{{ ('\t' * 1000).expandtabs(100000) }}", "str.expandtabs() would be 100,001,000"),
    ("{{ ('x' * 100000).translate({120: 'y' * 99990})|length }}", "str.translate() would be 9,999,000,000"),
    ("{{ (1).to_bytes(10000000000, 'big')|length }}", "int.to_bytes() would be 10,000,000,000"),
    ("{{ (['x' * 99990] * 100000)|join|length }}", "a repeated list would be 9,999,100,000"),
    ("{{ ['x' * 100000] }}", "a list or mapping, with what it holds, would be 100,001"),
    ("{{ range(10000000000)|list|length }}", "range() would be 10,000,000,000 items, over the limit of 10,000"),
    ("{{ [1]|batch(10000000000, 'x')|list }}", "batch() would be 10,000,000,000"),
    ("{{ [1]|slice(10000000000)|list|length }}", "slice() would be 10,000,000,000"),
    ("{{ 'x'|wordwrap(5, wrapstring='y' * 100000) }}", "wordwrap() would be 200,001"),
    ("{{ [1, 2]|tojson(indent=10000000000) }}", "tojson() would be"),
    ("{{ lipsum(n=10000000000) }}", "lipsum() would be"),
    ("{{ range(10000)|map('center', 99999)|join|length }}", "the items of a sequence would be"),
    ("{{ dict(range(10000)|map('center', 99999)|batch(2)) }}", "the items of a sequence would be"),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "a string would be 131,072 characters",
    ),
    (
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
        "a product would be",
    ),
    (
        "{% macro m() %}{% for i in range(10000) %}{{ 'x' * 99999 }}{% endfor %}{% endmacro %}{{ m()|length }}",
        "the output of a macro or block would be",
    ),
    # Markup (the `safe` filter) formats, pads, replaces and repeats through the same checks.
    ("{{ ('{:>100000000}'|safe).format('x') }}", "a format width or precision would be 100,000,000 characters"),
    ("{{ ('{x:>100000000}'|safe).format_map({'x': 1}) }}", "a format width or precision would be 100,000,000"),
    ("{{ ('%100000000s'|safe) % 'x' }}", "a %-format width or precision would be 100,000,000 characters"),
    ("{{ ('%100000000s'|safe)|format('x') }}", "a %-format width or precision would be 100,000,000 characters"),
    ("{{ ('x'|safe).center(100000000) }}", "Markup.center() would be 100,000,000 characters"),
    ("{{ ('x'|safe).ljust(10000000000) }}", "Markup.ljust() would be 10,000,000,000 characters"),
    ("{{ ('x'|safe).zfill(100000000) }}", "Markup.zfill() would be 100,000,000 characters"),
    ("{{ (('\t'|safe) * 1000).expandtabs(100000) }}", "Markup.expandtabs() would be 100,001,000"),
    ("{{ (('x' * 10000)|safe).replace('x', 'y' * 10000)|length }}", "Markup.replace() would be 100,000,000"),
    ("{{ (('x' * 100000)|safe).translate({120: 'y' * 99990})|length }}", "Markup.translate() would be 9,999,000,000"),
    ("{{ ('x'|safe) * 10000000000 }}", "a repeated string would be 10,000,000,000 characters"),
    ("{{ ('-'|safe).join(range(10000)|map('center', 99999)) }}", "the items of a sequence would be"),
    # The filters that format: refused from their arguments, or bounded by their input.
    ("{{ ('x ' * 40000)|wordwrap(1) }}", "wordwrap() would be"),
    ("{{ ('x' * 99999)|urlize }}", "urlize() would be"),
    ("{{ 'x'|truncate(10000000000) ~ 'y' * 10000000000 }}", "a repeated string would be 10,000,000,000"),
    ("{{ (10 ** 1000)|filesizeformat }}", "filesizeformat(): OverflowError"),
    ("{{ {'a': 'x' * 99960, 'b': 'y' * 35}|xmlattr }}", "a string would be 100,005 characters"),
    ("x" * 200_000, "template inline has 200,000 characters, over the limit of 100,000"),
    ("{{ a }}" * 14_000, "template inline has more than 1,000 tokens"),
    ("{{ " + "(" * 90 + "1" + ")" * 90 + " }}", "template inline nests expressions too deeply"),
    # 2**25 calls of macros that each build a string and drop it: the work budget stops them.
    (
        "".join(f"{{% macro m{i}() %}}{{{{ m{i + 1}() }}}}{{{{ m{i + 1}() }}}}{{% endmacro %}}" for i in range(25))
        + "{% macro m25() %}{% set dropped = 'x' * 50000 %}{% endmacro %}{{ m0() }}",
        "builds more than 1,000,000 characters in all",
    ),
]


@pytest.fixture
async def warm_client(client):
    """The client, after one refused request, so that first-use imports are not measured."""
    response = await client.post(URL, json={**NO_SEARCH, "system_prompt_template": "{{ 'x' * 10000000000 }}"})
    assert response.status_code == 400
    return client


@pytest.mark.parametrize(("template", "limit"), HOSTILE, ids=[t[:80] for t, _ in HOSTILE])
async def test_a_hostile_template_is_refused_with_its_limit_before_allocating(warm_client, template, limit):
    tracemalloc.start()
    try:
        response = await warm_client.post(URL, json={**NO_SEARCH, "system_prompt_template": template})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 400
    assert limit in response.json()["detail"]
    assert peak < 4_000_000, f"the request allocated {peak:,} bytes at its peak"


async def test_a_hostile_response_template_is_refused_with_its_limit(client):
    body = {**NO_SEARCH, "response_template": "{{ answer|center(10000000000) }}"}

    response = await client.post(URL, json=body)

    assert response.status_code == 400
    assert "center() would be 10,000,000,000 characters" in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "message"), [(".", "names no file"), ("x" * 5000, "at most 255 characters; this one has 5000")]
)
async def test_unusable_template_names_are_400(client, name, message):
    response = await client.post(URL, json={**NO_SEARCH, "system_prompt_file": name})

    assert response.status_code == 400
    assert message in response.json()["detail"]


async def test_the_server_answers_other_requests_while_a_runaway_template_runs(configure, client):
    configure(PROMPTS_RENDER_TIMEOUT_SECONDS="3")
    # 10**12 iterations that build nothing: only the deadline stops them.
    runaway = "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}" + "{% endfor %}" * 3
    finished: list[str] = []

    async def hostile() -> None:
        response = await client.post(URL, json={**NO_SEARCH, "system_prompt_template": runaway})
        assert response.status_code == 400
        assert "took longer than 3 s to render" in response.json()["detail"]
        finished.append("hostile")

    async def cheap_requests() -> None:
        for n in range(5):
            response = await client.get("/api/v1/models")
            assert response.status_code == 200
            finished.append(f"cheap {n}")

    await asyncio.gather(hostile(), cheap_requests())

    assert finished == ["cheap 0", "cheap 1", "cheap 2", "cheap 3", "cheap 4", "hostile"]


@pytest.mark.parametrize("origin", ["default", "file:rag_system.jinja2", "blob:rag_system.jinja2"])
async def test_the_operators_templates_render_without_a_thread_and_request_templates_with_one(origin, monkeypatch):
    renderer = SandboxedRenderer(max_chars=1_000, timeout_seconds=5)
    threads: list[str] = []
    generate = renderer._generate

    def recording_thread(*args: object) -> str:
        threads.append(threading.current_thread().name)
        return generate(*args)

    monkeypatch.setattr(renderer, "_generate", recording_thread)
    trusted = await renderer.render(renderer.compile("{{ probe }}", origin=origin), {"probe": "probe"})
    untrusted = await renderer.render(renderer.compile("{{ probe }}", origin="inline"), {"probe": "probe"})

    assert trusted == untrusted == "probe"
    assert threads == [threading.current_thread().name, "template-render"]


async def test_the_operators_templates_keep_the_size_limits():
    renderer = SandboxedRenderer(max_chars=1_000, timeout_seconds=5)

    with pytest.raises(RequestError, match="center\\(\\) would be 10,000,000,000 characters"):
        await renderer.render(renderer.compile("{{ ''|center(10000000000) }}", origin="file:x.jinja2"), {})
