"""Answers built from the passages (the extractive strategy), and citations that name a source."""

from __future__ import annotations

import json

import pytest

from shared.core.answers import DECLINE, ExtractiveAnswers
from shared.core.citations import StreamedCitations, valid_citations
from shared.core.errors import UpstreamError
from shared.core.followups import Resolved
from shared.core.key_terms import key_words
from shared.core.orchestrator import FALLBACK_ANSWER
from shared.core.passages import passages
from shared.core.types import Source, TurnRequest
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


def test_a_line_of_a_table_of_contents_is_no_candidate():
    text = "Index var . . . . . . . . . . . . 9, 18. Functions are provided for each distribution."

    assert [p.text for p in passages(text, 1)] == ["Functions are provided for each distribution."]


def test_an_option_a_reference_list_defines_starts_a_sentence_of_its_own():
    text = (
        "--prop proportion sets the size of the box. Default value is 0.8. --bw-threshold threshold This parameter "
        "is used when converting scans to black and white. The default value is 0.6."
    )

    assert [p.text for p in passages(text, 1)] == [
        "--prop proportion sets the size of the box.",
        "Default value is 0.8.",
        "--bw-threshold threshold This parameter is used when converting scans to black and white.",
        "The default value is 0.6.",
    ]


DISTRIBUTIONS = (
    "| Distribution | R name | additional arguments | |---|---|---| | beta | beta | shape1, shape2, ncp | "
    "| binomial | binom | size, prob | | normal | norm | mean, sd | | Poisson | pois | lambda | "
    "| uniform | unif | min, max | | Weibull | weibull | shape, scale |"
)


@pytest.fixture
def answers(sample_index):
    from shared import backends

    return backends._extractive_answers()


async def test_a_question_about_two_things_at_once_is_answered_about_each(answers):
    question = Resolved("Which additional arguments do the normal and the uniform distributions take?")

    answer = (await answers.answer(question, [source(DISTRIBUTIONS)])).choices[0]

    assert "mean, sd" in answer and "min, max" in answer and "shape1" not in answer


async def test_a_question_about_two_things_one_of_which_no_passage_names_is_declined(answers):
    question = Resolved("Which distribution takes the arguments alpha and beta?")

    assert (await answers.answer(question, [source(DISTRIBUTIONS)])).choices[0] == DECLINE


async def test_a_kind_of_answer_is_preferred_only_when_such_a_passage_is_nearly_as_relevant(answers):
    text = (
        "Each new call to a device driver function opens a new graphics device. When you have finished with a "
        "device, be sure to terminate the device driver by issuing the command dev.off(). Use pdf() for PDF files."
    )
    question = Resolved("How do you terminate a graphics device driver when you have finished with it?")

    answer = (await answers.answer(question, [source(text)])).choices[0]

    assert "dev.off()" in answer and "pdf()" not in answer


def test_verbs_and_auxiliaries_are_no_key_words_of_a_question():
    assert key_words("What happens to the warranty if I tune the motor?") == ["warranty", "motor"]
    assert key_words("In which city are the bikes assembled?") == ["city", "bikes"]
    assert key_words("What was Brightwheel's revenue last year?")[:2] == ["Brightwheel", "revenue"]


def source(text: str, title: str = "R manual") -> Source:
    return Source("1", "index", 1.0, text, {"title": title})


async def test_a_price_asked_with_a_pronoun_is_of_the_thing_it_stands_for_and_declined_when_no_passage_says(
    client, extractive
):
    first = {"question": "What motor does the Zephyr have?", "history": []}
    answer = (await client.post(RAG, json=first)).json()["answer"]
    history = [{"role": "user", "content": first["question"]}, {"role": "assistant", "content": answer}]

    body = (await client.post(RAG, json={"question": "How much does it cost?", "history": history})).json()

    assert "250 W" in answer and body["answer"] == DECLINE  # not the delivery cost: the documents give no price


async def test_a_sentence_two_passages_hold_is_said_once(answers):
    text = (
        "To do this, you simultaneously upload three files: 1. The file to be distributed; in our example, "
        "foo-1.0.tar.gz. 2. Detached GPG binary signature file for (1); for example, foo-1.0.tar.gz.sig. Make this "
        "with 'gpg -b foo-1.0.tar.gz'. 3. A clearsigned directive file; for example, foo-1.0.tar.gz.directive.asc, "
        "created with 'gpg --clearsign foo-1.0.tar.gz.directive'. Its contents are described in the next section."
    )
    question = Resolved("Which command creates the clearsigned directive file?")

    answer = (await answers.answer(question, [source(text, "Information for maintainers")])).choices[0]

    assert answer.count("gpg --clearsign") == 1, answer
