"""Answers built from the passages (the extractive strategy), and citations that name a source."""

from __future__ import annotations

import json

import pytest

from shared.core.answers import DECLINE, ExtractiveAnswers
from shared.core.citations import StreamedCitations, valid_citations
from shared.core.errors import UpstreamError
from shared.core.orchestrator import FALLBACK_ANSWER
from shared.core.passages import passages
from shared.core.types import TurnRequest
from tests.recording_server import RecordingServer, StreamScript
from tests.support import completion, make_orchestrator, remote_model_entry

RAG = "/api/v2/flexible-rag"
CHAT = "/api/v2/flexible-chat"
TABLE = (
    "## What is covered | Part | Warranty period | |------|-----| | Frame | 10 years | | Battery | 2 years | "
    "A battery is defective below 70 %."
)


def test_a_flattened_table_becomes_one_passage_per_row_under_its_header():
    found = passages(TABLE, 2)

    assert [p.text for p in found] == ["Frame: 10 years", "Battery: 2 years", "A battery is defective below 70 %."]
    assert found[0].context == "What is covered Part Warranty period" and found[0].source == 2


def test_an_faq_question_is_the_context_of_its_answer_not_an_answer():
    found = passages("Can I test ride a bike? Yes. Test rides are free at the showrooms.", 1)

    assert [(p.context, p.text) for p in found] == [
        ("Can I test ride a bike?", "Test rides are free at the showrooms.")
    ]


def test_citations_naming_no_source_are_removed_and_valid_ones_kept():
    assert valid_citations("Ten years [1]. Two years [4]. Both [1, 3].", 2) == "Ten years [1]. Two years. Both [1]."
    assert valid_citations("See [x] and [the manual](m.md) [2]", 0) == "See [x] and [the manual](m.md)"


def test_streamed_pieces_are_cleaned_exactly_like_the_whole_answer():
    answer = "Frame: ten years [1]. Battery: two years [7][2]. Motor [1, 9]."
    for size in (1, 2, 3, 5):
        citations = StreamedCitations(2)
        pieces = [citations.feed(answer[i : i + size]) for i in range(0, len(answer), size)]
        assert (
            "".join(pieces) + citations.flush()
            == valid_citations(answer, 2)
            == ("Frame: ten years [1]. Battery: two years [2]. Motor [1].")
        )


@pytest.fixture
def extractive(configure):
    configure(LLM_ANSWER_STRATEGY="extractive")


async def test_the_embedded_default_answers_with_the_passage_that_holds_the_fact(client, extractive):
    body = (await client.post(RAG, json={"question": "How much does the Zephyr weigh?"})).json()

    assert body["answer"] == "The frame is aluminium and the bike weighs 21.5 kg with the battery fitted [1]."
    assert body["metadata"][0]["filename"] == "zephyr-e-bike-manual.md"
    assert body["response_metadata"]["parameters"]["answer_strategy"] == "extractive"
    assert body["response_metadata"]["token_usage"] == {"prompt": 0, "completion": 0, "total": 0}


async def test_a_question_the_documents_do_not_answer_is_declined(client, extractive):
    body = (await client.post(RAG, json={"question": "What are the opening hours of the Amsterdam store?"})).json()

    assert body["answer"] == DECLINE and body["errors"] == []


async def test_the_extractive_answer_streams_its_text_before_the_final_event(client, extractive):
    question = {"question": "Which fluid do the hydraulic brakes use?", "stream": True}
    async with client.stream("POST", RAG, json=question) as response:
        text = "".join([chunk async for chunk in response.aiter_text()])

    events = [block.split("\n", 1) for block in text.strip().split("\n\n")]
    names = [name.removeprefix("event: ") for name, _ in events]
    data = [json.loads(line.removeprefix("data: ")) for _, line in events]
    assert names == ["accepted", "sources", "delta", "final"]
    assert data[2]["text"] == data[3]["answer"] and "mineral oil" in data[2]["text"]


def citing_model(answer: str, rewrite: str = "Which fluid do the brakes use?") -> RecordingServer:
    """A model that answers with `answer` (streamed in 3-character pieces when asked) and
    rewrites follow-ups as `rewrite`."""

    def respond(request):
        if "standalone search query" in request.body["messages"][-1]["content"]:
            return 200, completion(rewrite)
        if not request.body.get("stream"):
            return 200, completion(answer)
        pieces = [answer[i : i + 3] for i in range(0, len(answer), 3)]
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        events = [{**chunk, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        return 200, StreamScript(events)

    return RecordingServer(respond)


async def test_a_models_citation_of_a_missing_source_never_reaches_the_caller(client, configure):
    with citing_model("Mineral oil [1], not DOT fluid [5].") as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server)]), LLM_DEFAULT_ALIAS="remote")
        whole = (await client.post(RAG, json={"question": "Which brake fluid?"})).json()
        async with client.stream("POST", RAG, json={"question": "Which brake fluid?", "stream": True}) as response:
            streamed = "".join([chunk async for chunk in response.aiter_text()])

    assert len(whole["metadata"]) == 3 and whole["answer"] == "Mineral oil [1], not DOT fluid."
    deltas = [json.loads(line[6:])["text"] for line in streamed.splitlines() if line.startswith('data: {"text"')]
    assert "".join(deltas) == whole["answer"]
    assert server.requests[0].body["model"] == "m"  # the remote model answered: generative by default


async def test_a_rewrite_that_keeps_the_question_is_not_reported_as_rewritten(client, configure):
    history = [{"role": "user", "content": "Brakes?"}, {"role": "assistant", "content": "Hydraulic discs [1]."}]
    question = "Which fluid do they use?"  # "they": the question needs the conversation, the model rewrites it
    with citing_model("Mineral oil [1].", rewrite="which fluid do they use") as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server)]), LLM_DEFAULT_ALIAS="remote")
        body = (await client.post(CHAT, json={"question": question, "history": history})).json()

    assert body["response_metadata"]["search_query"] == {"text": question, "origin": "question"}
    assert "standalone search query" in server.requests[0].body["messages"][-1]["content"]


class UnreachableEmbeddings:
    dimensions = 384

    async def embed_query(self, text):
        raise UpstreamError("embeddings_failed", "The embedding model failed.")

    embed_documents = embed_query


async def test_an_extractive_answer_whose_embeddings_fail_falls_back_like_a_failed_model(sample_index):
    orchestrator = make_orchestrator(
        extractive_answers=lambda alias: ExtractiveAnswers(UnreachableEmbeddings(), min_relevance=0.5)
    )

    result = await orchestrator.answer(TurnRequest("How much does the Zephyr weigh?"))

    assert result.answer == FALLBACK_ANSWER and result.sources
    assert [(e.stage, e.code) for e in result.errors] == [("generation", "embeddings_failed")]


async def test_json_output_is_left_to_the_model_and_its_arrays_are_not_taken_for_citations(client, configure):
    schema = {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "integer"}}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "ids", "schema": schema}}
    with citing_model('{"ids": [7, 9]}') as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server, answer_strategy="extractive")]))
        body = {"model": "remote", "messages": [{"role": "user", "content": "Part ids?"}]}
        answer = await client.post("/api/v1/chat/completions", json={**body, "response_format": response_format})

    content = answer.json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"ids": [7, 9]}  # [7, 9] names no source, and stays: it is data
    assert server.requests[-1].body["response_format"] == response_format  # the model wrote it, not passages


def test_a_table_row_under_a_group_label_keeps_the_label():
    table = (
        "## Specialist visits | Service | You pay | |---|---| | In-network | | | Specialist visit | $40 copay | "
        "| Out-of-network | | | Specialist visit | 40% coinsurance |"
    )

    rows = [(p.text, p.context) for p in passages(table, 1)]

    assert rows == [
        ("Specialist visit (In-network): $40 copay", "Specialist visits Service You pay In-network"),
        ("Specialist visit (Out-of-network): 40% coinsurance", "Specialist visits Service You pay Out-of-network"),
    ]


def test_a_heading_is_context_never_part_of_a_candidate():
    text = (
        "## Making a claim Open a claim through your account. Claims are answered within five working days. "
        "Rehabilitation Therapy REHABILITATION THERAPY Inpatient rehabilitation is covered for 60 days."
    )

    found = passages(text, 1)

    assert [p.text for p in found] == [
        "Open a claim through your account.",
        "Claims are answered within five working days.",
        "Inpatient rehabilitation is covered for 60 days.",
    ]
    assert found[0].context == "Making a claim" and found[2].context == "Rehabilitation Therapy REHABILITATION THERAPY"


def test_a_sentence_whose_pronoun_points_back_is_quoted_with_the_sentence_before():
    text = (
        "## Tyres The Zephyr ships with 700x40c tyres. Keep them inflated between 3.5 and 4.5 bar. "
        "## Error codes - E04: the speed sensor lost the wheel magnet. Check the magnet on the rear spoke."
    )

    found = {p.text: p.context for p in passages(text, 1)}

    assert "The Zephyr ships with 700x40c tyres. Keep them inflated between 3.5 and 4.5 bar." in found
    assert found["Check the magnet on the rear spoke."] == "Error codes E04: the speed sensor lost the wheel magnet."


async def test_a_question_about_something_the_documents_only_name_is_declined(client, extractive):
    body = (await client.post(RAG, json={"question": "How much does the Atlas cost?"})).json()

    assert body["answer"] == DECLINE
