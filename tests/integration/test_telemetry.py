"""Observability: a correlation id per request, in the response and in every log line; a span
per turn with a child span per stage, carrying token usage (OpenTelemetry, exported to
Application Insights only when it is configured)."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry

URL = "/api/v2/flexible-rag"
BODY = {"question": "How long is the frame warranty?", "override_config": {"params": {"max_tokens": 8}}}


@pytest.fixture(scope="module")
def spans():
    """Every span the app ends, kept in memory (the SDK, as Application Insights' exporter gets them)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


async def test_every_response_carries_a_correlation_id_and_so_does_every_log_line(client, caplog):
    with caplog.at_level(logging.INFO):
        response = await client.post(URL, json=BODY)
    offered = await client.get("/api/v2/models", headers={"x-correlation-id": "order-1234"})
    hostile = await client.get("/api/v2/models", headers={"x-correlation-id": "a b\r\nX-Injected: 1"})

    request_id = response.headers["x-correlation-id"]
    assert len(request_id) == 32
    turn_lines = [r for r in caplog.records if r.getMessage().startswith("turn answered")]
    assert turn_lines and all(r.correlation_id == request_id for r in turn_lines)
    assert offered.headers["x-correlation-id"] == "order-1234"
    assert hostile.headers["x-correlation-id"] != "a b\r\nX-Injected: 1" and "x-injected" not in hostile.headers


async def test_a_turn_is_a_span_with_a_child_per_stage_and_its_token_usage(client, spans):
    spans.clear()
    response = await client.post(URL, json=BODY)

    finished = {s.name: s for s in spans.get_finished_spans()}
    turn = finished["turn"]
    assert {"retrieval", "prompt", "generation", "response_format"} <= finished.keys()
    for stage in ("retrieval", "prompt", "generation", "response_format"):
        assert finished[stage].parent.span_id == turn.context.span_id
    usage = response.json()["response_metadata"]["token_usage"]
    assert turn.attributes["gen_ai.usage.input_tokens"] == usage["prompt"]
    assert turn.attributes["gen_ai.usage.output_tokens"] == usage["completion"]
    assert turn.attributes["turn.model_alias"] == "smollm2"
    assert turn.attributes["turn.correlation_id"] == response.headers["x-correlation-id"]
    assert turn.attributes["turn.sources"] == len(response.json()["metadata"])
    assert turn.status.status_code is not trace.StatusCode.ERROR


async def test_a_failed_stage_marks_the_turn_span(client, spans, configure):
    down = {"alias": "down", "provider": "openai", "model": "m", "endpoint": "http://127.0.0.1:9/v1", "max_retries": 0}
    configure(LLM_MODELS=json.dumps([down]))
    spans.clear()
    await client.post(URL, json=BODY | {"override_config": {"llm": "down"}})

    turn = next(s for s in spans.get_finished_spans() if s.name == "turn")
    assert turn.status.status_code is trace.StatusCode.ERROR
    assert turn.attributes["turn.error_stages"] == ("generation",)


def test_nothing_is_exported_without_a_connection_string():
    assert telemetry.configure() is False


def test_without_a_collector_a_span_is_the_shared_no_op(monkeypatch):
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.ProxyTracerProvider())

    assert telemetry.start_span("turn") is trace.INVALID_SPAN


async def test_a_turn_creates_no_span_when_nothing_collects_them(monkeypatch, sample_index):
    from shared.core.types import TurnRequest
    from tests.support import make_orchestrator

    def refuse(*args, **kwargs):
        raise AssertionError("a tracer was asked for a span with telemetry off")

    provider = trace.ProxyTracerProvider()  # what OpenTelemetry gives when no SDK is installed
    monkeypatch.setattr(provider, "get_tracer", refuse)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)

    result = await make_orchestrator().answer(TurnRequest(question="How long is the frame warranty?"))

    assert result.sources and not result.errors
    assert {"orchestrator.fetch_total", "orchestrator.llm_generate"} <= result.timings.keys()
