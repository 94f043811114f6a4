"""The template sandbox and the confined file source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.core.errors import RequestError
from shared.templates.files import FileTemplateSource
from shared.templates.sandbox import SandboxedRenderer

# 10**10 iterations that emit and build nothing: only the deadline stops them.
RUNAWAY_LOOP = "{% for a in items %}{% for b in items %}{% endfor %}{% endfor %}"


@pytest.fixture
def renderer():
    return SandboxedRenderer(max_chars=2_000, timeout_seconds=0.5)


async def render(renderer: SandboxedRenderer, source: str, variables: dict) -> str:
    return await renderer.render(renderer.compile(source, origin="inline"), variables)


async def test_renders_variables_and_reports_the_ones_used(renderer):
    compiled = renderer.compile("Hi {{ name }}{% if extra %}!{% endif %}", origin="inline")

    assert await renderer.render(compiled, {"name": "Ada"}) == "Hi Ada"
    assert compiled.variables_used == ("extra", "name")


def test_the_same_text_is_parsed_once(renderer):
    first = renderer.compile("{{ a }}", origin="file:a")
    second = renderer.compile("{{ a }}", origin="blob:a")

    assert first.template is second.template
    assert (first.origin, second.origin) == ("file:a", "blob:a")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ ''.__class__.__mro__ }}", "refused by the sandbox"),
        ("{{ cycler.__init__.__globals__ }}", "refused by the sandbox"),
        ("{{ 'x' * 1000000 }}", "a repeated string would be 1,000,000 characters, over the limit of 2,000"),
        ("{{ 2 ** 100000 }}", "a power would be 100,000 bits, over the limit of 4,096"),
        ("{% for i in range(200) %}abcdefghijk{% endfor %}", "renders more than 2000 characters"),
        ("{% for i in range(1000) %}{% endfor %}", "range() would be 1,000 items, over the limit of 200"),
        (RUNAWAY_LOOP, "longer than 0.5 s"),
        ("{% for i in range(200) %}{% set x = 'y' * 1000 %}{% endfor %}", "builds more than 20,000 characters in all"),
        ("line one\n{{ broken", "syntax error on line 2"),
        ("{{ items.append(1) }}", "refused by the sandbox"),
        ("{{ undefined_thing.attr }}", "failed to render"),
    ],
)
async def test_unsafe_or_runaway_templates_are_refused(renderer, source, message):
    with pytest.raises(RequestError, match=re.escape(message)):
        await render(renderer, source, {"items": list(range(100_000))})


async def test_file_source_reads_inside_its_root(tmp_path):
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "p.jinja2").write_text("hello")

    assert await FileTemplateSource(tmp_path).load("nested/p.jinja2") == ("hello", "file:nested/p.jinja2")


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../../x", "C:/x", "a\\..\\x", "", ".", "./", "x" * 5000, "é" * 200]
)
async def test_file_source_refuses_names_that_leave_the_root(tmp_path, name):
    with pytest.raises(RequestError):
        await FileTemplateSource(tmp_path).load(name)


async def test_file_source_refuses_a_symlink_out_of_the_root(tmp_path):
    root = tmp_path / "prompts"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("s3cret")
    (root / "link.jinja2").symlink_to(tmp_path / "secret.txt")

    with pytest.raises(RequestError, match="leaves the template root"):
        await FileTemplateSource(root).load("link.jinja2")


async def test_file_source_reads_a_file_once_and_sees_every_change(tmp_path, monkeypatch):
    reads = []
    read_text = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: reads.append(self.name) or read_text(self, **kw))
    prompt = tmp_path / "p.jinja2"
    prompt.write_text("first")
    source = FileTemplateSource(tmp_path)

    assert [await source.load("p.jinja2") for _ in range(3)] == [("first", "file:p.jinja2")] * 3
    assert reads == ["p.jinja2"]
    prompt.write_text("second, longer")
    assert (await source.load("p.jinja2"))[0] == "second, longer"
    prompt.unlink()
    with pytest.raises(RequestError, match="was not found"):
        await source.load("p.jinja2")


async def test_file_source_follows_a_swapped_symlink(tmp_path):
    """A ConfigMap-style update: the link moves to a new folder and the old one goes."""
    import shutil

    root = tmp_path / "prompts"
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "p.jinja2").write_text("one")
    root.mkdir()
    (root / "data").symlink_to(tmp_path / "v1")
    source = FileTemplateSource(tmp_path)
    assert (await source.load("prompts/data/p.jinja2"))[0] == "one"

    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "p.jinja2").write_text("two")
    (root / "data").unlink()
    (root / "data").symlink_to(tmp_path / "v2")
    shutil.rmtree(tmp_path / "v1")

    assert (await source.load("prompts/data/p.jinja2"))[0] == "two"


async def test_a_timed_out_render_thread_is_stopped(renderer):
    import asyncio
    import threading

    with pytest.raises(RequestError):
        await render(renderer, RUNAWAY_LOOP, {"items": list(range(100_000))})
    for _ in range(50):
        if not any(t.name == "template-render" for t in threading.enumerate()):
            break
        await asyncio.sleep(0.02)

    assert not any(t.name == "template-render" for t in threading.enumerate())


@pytest.mark.parametrize(
    "source",
    [
        "{{ '{a}'.format() }}",
        "{{ '%(a)s' % {} }}",
        "{{ 'x'.encode('nope') }}",
        "{{ 1.5|round(method='x') }}",
        "{{ {'a': 1}|dictsort(by='x') }}",
        "{{ cycler().next() }}",
        "{{ ('a',)|xmlattr }}",
    ],
)
async def test_operations_that_fail_on_their_arguments_are_a_render_failure(renderer, source):
    with pytest.raises(RequestError, match="template inline failed to render"):
        await render(renderer, source, {})


# Jinja's truncate asserts its arguments (an AssertionError, once a 500): any exception a
# render raises is the template's failure, a 400 naming the line and the filter.
FAILING_FILTERS = [
    ("{{ 'abcdef'|truncate(1) }}", "on line 1: truncate(): AssertionError: expected length >= 3, got 1"),
    ("{{ 'abcdef'|truncate(5, False, '...', -1) }}", "on line 1: truncate(): AssertionError: expected leeway >= 0"),
    ("\n{{ ['abcdef']|map('truncate', 1)|list }}", "on line 2: truncate(): AssertionError: expected length >= 3"),
]


@pytest.mark.parametrize(("source", "message"), FAILING_FILTERS)
async def test_a_failing_filter_is_a_render_failure_naming_it(renderer, source, message):
    with pytest.raises(RequestError, match=re.escape(f"template inline failed to render {message}")):
        await render(renderer, source, {})


@pytest.mark.parametrize(("source", "message"), FAILING_FILTERS)
async def test_a_failing_filter_answers_400_over_http(client, source, message):
    body = {"question": "q", "skip_knowledge_base": True, "override_config": {"params": {"max_tokens": 4}}}

    response = await client.post("/api/v2/flexible-rag", json={**body, "system_prompt_template": source})

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert "Traceback" not in response.text


async def test_a_long_failure_message_is_shortened(renderer):
    with pytest.raises(RequestError) as failed:
        await render(renderer, "{{ ('{' ~ 'k' * 1900 ~ '}').format() }}", {})

    assert failed.value.message.endswith("kkk...")
    assert len(failed.value.message) < 400
