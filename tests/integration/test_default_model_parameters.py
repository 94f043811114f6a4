"""Every request parameter is honored or refused on the embedded default model, never ignored
(docs/parameters.md): extractive answers and the generative llama.cpp path, through the flexible
API, chat completions and the Responses API, with the real openai SDK on the OpenAI routes."""

from __future__ import annotations

import json

import openai
import pytest

from shared import backends
from shared.core.types import Message

EXTRACTIVE = {"LLM_ANSWER_STRATEGY": "extractive"}
QUESTION = "How long is the frame warranty, and how long is the battery warranty?"
RAG = "/api/v2/flexible-rag"


def tokens(text: str) -> int:
    model = backends.chat_model()
    return model.count_tokens([Message("assistant", text)]) - model.count_tokens([Message("assistant", "")])


async def ask(sdk, **extra):
    return await sdk.chat.completions.create(
        model=backends.chat_model().info.alias, messages=[{"role": "user", "content": QUESTION}], **extra
    )


# --- extractive answers ---


async def test_max_tokens_cuts_an_extractive_answer_after_a_whole_sentence(sdk, configure):
    configure(**EXTRACTIVE)
    whole = (await ask(sdk)).choices[0]
    first_sentence = whole.message.content.split("]. ")[0] + "]."
    assert whole.finish_reason == "stop" and first_sentence != whole.message.content  # two sentences

    cut = (await ask(sdk, max_tokens=tokens(first_sentence) + 1)).choices[0]
    newer = (await ask(sdk, max_completion_tokens=tokens(first_sentence) + 1)).choices[0]

    assert cut.finish_reason == "length" and cut.message.content == first_sentence
    assert newer.finish_reason == "length" and newer.message.content == first_sentence


async def test_max_tokens_shorter_than_a_sentence_cuts_at_a_word(sdk, configure):
    configure(**EXTRACTIVE)
    choice = (await ask(sdk, max_tokens=3)).choices[0]

    assert choice.finish_reason == "length"
    assert 0 < tokens(choice.message.content) <= 3 and not choice.message.content.endswith(" ")


async def test_stop_cuts_an_extractive_answer(sdk, configure):
    configure(**EXTRACTIVE)
    whole = (await ask(sdk)).choices[0].message.content
    word = whole.split()[3]

    choice = (await ask(sdk, stop=[word, "never-there"])).choices[0]

    assert choice.finish_reason == "stop"
    assert choice.message.content == whole[: whole.index(word)].rstrip()


async def test_n_gives_distinct_extractive_answers_best_first(sdk, configure):
    configure(**EXTRACTIVE)
    best = (await ask(sdk)).choices[0].message.content

    choices = (await ask(sdk, n=3)).choices

    assert [c.index for c in choices] == [0, 1, 2]
    assert choices[0].message.content == best
    assert choices[1].message.content != best and "[" in choices[1].message.content  # another cited passage


async def test_each_of_n_extractive_answers_has_its_own_finish_reason(sdk, configure):
    configure(**EXTRACTIVE)
    whole = [c.message.content for c in (await ask(sdk, n=3)).choices]
    limit = min(tokens(text) for text in whole)  # the shortest answer fits, a longer one is cut

    choices = (await ask(sdk, n=3, max_tokens=limit)).choices

    reasons = [c.finish_reason for c in choices]
    assert reasons == ["stop" if tokens(text) <= limit else "length" for text in whole]
    assert {"stop", "length"} <= set(reasons)
    for choice, text in zip(choices, whole, strict=True):
        assert (choice.message.content == text) == (choice.finish_reason == "stop")


async def test_a_declined_question_declines_n_times(sdk, configure):
    configure(**EXTRACTIVE)
    completion = await sdk.chat.completions.create(
        model=backends.chat_model().info.alias,
        messages=[{"role": "user", "content": "What is the capital of Mongolia?"}],
        n=2,
    )

    assert [c.message.content for c in completion.choices] == ["The documents do not say."] * 2


async def test_the_flexible_apis_own_n_example_answers_twice(client, configure):
    """Seed 001's multi-completions example, as written there."""
    configure(**EXTRACTIVE)
    payload = {
        "question": "Suggest two concise introductions.",
        "ab_testing": {"user_id": "u1"},
        "override_config": {"llm": "default", "n": 2, "params": {"temperature": 0.2}},
    }
    body = (await client.post("/api/v2/flexible-chat", json=payload)).json()

    assert len(body["answers"]) == 2 and body["answer"] == body["answers"][0]
    assert body["response_metadata"]["parameters"]["n"] == 2


async def test_flexible_params_cut_an_extractive_answer(client, configure):
    configure(**EXTRACTIVE)
    whole = (await client.post(RAG, json={"question": QUESTION})).json()["answer"]
    word = whole.split()[2]
    params = {"stop": [word]}

    body = (await client.post(RAG, json={"question": QUESTION, "override_config": {"params": params}})).json()

    assert body["answer"] == whole[: whole.index(word)].rstrip()
    assert body["response_metadata"]["parameters"]["stop"] == [word]


async def test_max_output_tokens_makes_a_response_incomplete(sdk, configure):
    configure(**EXTRACTIVE)
    alias = backends.chat_model().info.alias
    whole = await sdk.responses.create(model=alias, input=QUESTION)
    cut = await sdk.responses.create(model=alias, input=QUESTION, max_output_tokens=4, store=False)

    stream = await sdk.responses.create(model=alias, input=QUESTION, max_output_tokens=4, store=False, stream=True)
    events = [event async for event in stream]

    assert whole.status == "completed" and whole.incomplete_details is None
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output[0].status == "incomplete"
    assert 0 < tokens(cut.output_text) <= 4 and whole.output_text.startswith(cut.output_text)
    assert events[-1].type == "response.incomplete" and events[-1].response.status == "incomplete"


async def test_instructions_take_the_turn_to_the_model(sdk, configure):
    """Quoting passages cannot follow an instruction: a turn with the client's instructions is the model's."""
    configure(**EXTRACTIVE)
    alias = backends.chat_model().info.alias
    plain = await ask(sdk)
    system = await sdk.chat.completions.create(
        model=alias,
        messages=[{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": QUESTION}],
        max_tokens=2,
    )
    developer = await sdk.chat.completions.create(
        model=alias,
        messages=[{"role": "developer", "content": "Answer in one word."}, {"role": "user", "content": QUESTION}],
        max_tokens=2,
    )
    response = await sdk.responses.create(model=alias, input=QUESTION, instructions="Be brief.", max_output_tokens=2)

    assert plain.usage.completion_tokens == 0  # extractive: no model ran
    assert system.usage.completion_tokens > 0 and developer.usage.completion_tokens > 0
    assert response.usage.output_tokens > 0


# --- JSON output on the embedded model ---


async def test_json_object_ends_with_json_that_parses(sdk):
    """Whether the model closes it (stop) or the limit cuts it (length, closed here), it parses."""
    completion = await ask(sdk, response_format={"type": "json_object"}, max_tokens=12)
    choice = completion.choices[0]

    assert isinstance(json.loads(choice.message.content), dict)
    assert choice.finish_reason in ("stop", "length") and completion.usage.completion_tokens <= 12


async def test_a_streamed_json_object_cut_by_max_tokens_parses(sdk):
    stream = await ask(sdk, response_format={"type": "json_object"}, max_tokens=10, stream=True)
    chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert isinstance(json.loads(text), dict)
    assert chunks[-1].choices[0].finish_reason in ("length", "stop")


async def test_a_json_schema_answer_cut_by_max_tokens_parses(sdk):
    schema = {
        "type": "object",
        "properties": {"part": {"type": "string"}, "years": {"type": "integer"}},
        "required": ["part", "years"],
    }
    completion = await ask(
        sdk,
        response_format={"type": "json_schema", "json_schema": {"name": "warranty", "schema": schema}},
        max_tokens=6,
    )

    assert isinstance(json.loads(completion.choices[0].message.content), dict)


# --- the generative path ---


async def test_max_tokens_and_stop_reach_llama_cpp(sdk):
    whole = (await ask(sdk, max_tokens=6, seed=3)).choices[0]
    word = whole.message.content.split()[1]
    stopped = (await ask(sdk, max_tokens=6, seed=3, stop=[word])).choices[0]

    assert whole.finish_reason == "length"
    assert stopped.finish_reason == "stop"
    assert stopped.message.content == whole.message.content[: whole.message.content.index(word)].strip()


async def test_n_samples_the_model_n_times(sdk):
    completion = await ask(sdk, n=2, max_tokens=4, temperature=1.0, seed=11)

    assert len(completion.choices) == 2 and all(c.message.content for c in completion.choices)
    assert completion.usage.completion_tokens <= 8


async def test_max_tokens_times_n_over_the_cap_is_refused(sdk, client):
    with pytest.raises(openai.BadRequestError) as refused:
        await ask(sdk, n=10, max_tokens=3000)
    flexible = await client.post(
        RAG,
        json={
            "question": "Hi",
            "skip_knowledge_base": True,
            "override_config": {"n": 5, "params": {"max_tokens": 1000}},
        },
    )

    assert "max_tokens × n" in str(refused.value) and "LLM_MAX_TOTAL_TOKENS" in str(refused.value)
    assert flexible.status_code == 400 and "max_tokens × n" in flexible.json()["detail"]
