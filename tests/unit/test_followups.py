"""Follow-ups: which need the conversation (shared.core.followups), and what a turn then costs and
searches for: no model call for a self-contained follow-up, the model's rewrite or the cheap
expansion for one that leans on the conversation."""

from __future__ import annotations

import json
import typing

import pytest

from shared.core.followups import Resolved, RewriteMode, expanded_query, needs_conversation, resolve
from shared.core.intents import AnswerKind
from shared.core.types import Message, RetrievalSpec, SearchQuery, TurnRequest
from shared.remote_models import QueryRewrite, RemoteModel
from shared.settings import ModelSettings
from tests.support import make_orchestrator, remote_model_entry, rewriting_model

WARRANTY = (Message("user", "How long is the frame warranty?"), Message("assistant", "10 years [1]."))
DELIVERY = (Message("user", "How much does delivery to Germany cost?"), Message("assistant", "49 euros [1]."))
ERROR = (Message("user", "What does error E04 mean?"), Message("assistant", "The speed sensor [1]."))


@pytest.mark.parametrize(
    "question",
    [
        "And the motor?",
        "what about shipping it back?",
        "How much does it cost?",
        "Is that with the battery?",
        "Which one is for children?",
        "Can I test ride there?",
        "How much?",
        "By whom?",
        "En op de accu?",  # Dutch: "and the battery?"
        "Und der Motor?",  # German
        "Wie lange hält er?",  # German: "how long does it last?"
    ],
)
def test_a_question_that_continues_points_back_or_says_almost_nothing_needs_the_conversation(question):
    assert needs_conversation(question, WARRANTY)


@pytest.mark.parametrize(
    "question",
    [
        "How long is the battery warranty?",
        "Can I return a battery that has been charged?",  # "that" starts a relative clause
        "Is there a showroom in Utrecht?",  # "there" after "is": existential
        "Tyre pressure?",
        "Hoeveel kost de bezorging naar Duitsland?",  # Dutch: how much does delivery to Germany cost?
        "Gibt es eine Garantie auf den Akku?",  # German "gibt es": existential
    ],
)
def test_a_question_that_names_what_it_asks_about_stands_on_its_own(question):
    assert not needs_conversation(question, DELIVERY)


def test_a_first_question_never_needs_a_conversation():
    assert not needs_conversation("And the motor?", ())
    assert not needs_conversation("And the motor?", (Message("assistant", "Hello! Ask me anything."),))


def test_the_expansion_adds_the_earlier_questions_content_words_back_to_one_that_stands_alone():
    assert expanded_query("And the motor?", WARRANTY) == "And the motor? frame warranty"
    chain = (*WARRANTY, Message("user", "And the motor?"), Message("assistant", "3 years [1]."))
    # The motor's question is read as restated ("How long is the motor warranty?"): the frame is no longer the topic.
    assert expanded_query("And the battery?", (*DELIVERY, *chain)) == "And the battery? motor warranty"


def test_an_elliptical_follow_up_asks_what_the_question_before_it_asked_about_its_new_topic():
    resolved = resolve("And the battery?", WARRANTY)

    assert resolved == Resolved(
        "And the battery?",
        ("frame", "warranty"),
        AnswerKind.DURATION,
        "10 years [1].",
        restated="How long is the battery warranty?",  # what the answers read it as
    )
    assert resolve("What about shipping it back?", DELIVERY).kind == AnswerKind.MONEY


def test_a_follow_up_that_points_back_keeps_its_own_question_and_takes_the_topic():
    error = (Message("user", "What does error E04 mean?"), Message("assistant", "The speed sensor [1]."))

    resolved = resolve("How do I fix it?", error)

    assert resolved.carried == ("error", "E04", "mean") and resolved.kind == AnswerKind.ACTION
    assert resolved.search_text == "How do I fix it? error E04 mean"
    # Its "it" stands for what it takes (E04 must be in the answer); "And the battery?" only borrows a topic.
    assert resolved.points_back and not resolve("And the battery?", WARRANTY).points_back


def test_a_follow_up_that_points_back_may_mean_a_name_of_the_answer_before_it():
    assembled = (
        Message("user", "Where are the bikes assembled?"),
        Message("assistant", "The company designs its bikes in Utrecht and assembles them in Eindhoven [12]."),
    )

    resolved = resolve("Can I test ride one there?", assembled)

    assert resolved.points_back and resolved.referents == ("Utrecht", "Eindhoven")
    assert resolved.search_text == "Can I test ride one there? bikes assembled Utrecht Eindhoven"
    assert resolve("And the battery?", (*WARRANTY, Message("assistant", "Zephyr: 2 years [1]."))).referents == ()


def test_an_elliptical_follow_up_is_restated_with_its_thing_in_the_old_ones_place_and_so_read_after():
    dvd = (Message("user", "How long can I keep a DVD?"), Message("assistant", "DVDs: 1 week [1]."))
    book = (*dvd, Message("user", "And a book?"), Message("assistant", "Books: 3 weeks [1]."))

    assert resolve("And a book?", dvd).restated == "How long can I keep a book?"
    assert resolve("And E01?", ERROR).restated == "What does error E01 mean?"  # a name takes a name's place
    assert resolve("Can I renew it?", book).carried == ("keep", "book")  # "it" is the book now, not the DVD
    assert resolve("How do I fix it?", ERROR).restated == ""  # a pronoun's question is not elliptical


def test_a_question_that_stands_on_its_own_takes_nothing_from_the_conversation():
    resolved = resolve("Which fluid do the hydraulic brakes use?", WARRANTY)

    assert resolved == Resolved("Which fluid do the hydraulic brakes use?")


def test_the_shipped_defaults_expand_for_the_embedded_model_and_let_a_remote_model_rewrite(monkeypatch):
    monkeypatch.delenv("LLM_QUERY_REWRITE", raising=False)

    assert ModelSettings().query_rewrite == "expand"
    assert (
        RemoteModel(alias="r", provider="openai", model="m", endpoint="http://127.0.0.1:1/v1").query_rewrite == "model"
    )
    assert typing.get_args(QueryRewrite) == typing.get_args(RewriteMode)  # the settings name the core's modes


def follow_up(question: str, history: tuple[Message, ...]) -> TurnRequest:
    return TurnRequest(question, history, retrieval=RetrievalSpec(rewrite=True))


def rewrite_calls(server) -> list:
    return [r for r in server.requests if "standalone search query" in r.body["messages"][-1]["content"]]


@pytest.fixture
def remote(configure, sample_index):
    """A scripted remote model, the default, rewriting every follow-up as "motor warranty"."""
    with rewriting_model(rewrite="motor warranty") as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server)]), LLM_DEFAULT_ALIAS="remote")
        yield server


async def test_a_self_contained_follow_up_is_searched_as_asked_without_a_model_call(remote):
    result = await make_orchestrator().answer(follow_up("How long is the battery warranty?", DELIVERY))

    assert result.search_query == SearchQuery("How long is the battery warranty?", "question")
    assert rewrite_calls(remote) == [] and len(remote.requests) == 1  # the answer only
    assert result.sources[0].fields["filename"] == "warranty-policy.md"


async def test_a_follow_up_that_points_back_is_rewritten_by_the_model(remote):
    result = await make_orchestrator().answer(follow_up("And the motor?", WARRANTY))

    assert result.search_query == SearchQuery("motor warranty", "rewritten")
    (rewrite,) = rewrite_calls(remote)
    assert "How long is the frame warranty?" in rewrite.body["messages"][-1]["content"]
    assert len(remote.requests) == 2


async def test_expand_searches_a_follow_up_that_points_back_with_the_earlier_words_and_no_model_call(remote):
    orchestrator = make_orchestrator(query_rewrite=lambda alias: "expand")

    result = await orchestrator.answer(follow_up("And the motor?", WARRANTY))

    assert result.search_query == SearchQuery("And the motor? frame warranty", "expanded")
    assert rewrite_calls(remote) == [] and len(remote.requests) == 1
    assert result.sources[0].fields["filename"] == "warranty-policy.md"


async def test_always_rewrites_a_self_contained_follow_up_too(remote):
    orchestrator = make_orchestrator(query_rewrite=lambda alias: "always")

    result = await orchestrator.answer(follow_up("How long is the battery warranty?", DELIVERY))

    assert result.search_query == SearchQuery("motor warranty", "rewritten")
    assert len(rewrite_calls(remote)) == 1


async def test_a_turn_without_rewrite_searches_a_follow_up_with_the_earlier_words_and_no_model_call(remote):
    turn = TurnRequest("And the motor?", WARRANTY, retrieval=RetrievalSpec(rewrite=False))

    result = await make_orchestrator().answer(turn)

    assert result.search_query == SearchQuery("And the motor? frame warranty", "expanded")
    assert rewrite_calls(remote) == []


async def test_the_chat_api_reports_an_expanded_query_for_a_model_configured_to_expand(client, configure):
    history = [{"role": m.role, "content": m.content} for m in WARRANTY]
    with rewriting_model() as server:
        configure(
            LLM_MODELS=json.dumps([remote_model_entry(server, query_rewrite="expand")]), LLM_DEFAULT_ALIAS="remote"
        )
        data = (
            await client.post("/api/v2/flexible-chat", json={"question": "And the motor?", "history": history})
        ).json()

    assert data["response_metadata"]["search_query"] == {"text": "And the motor? frame warranty", "origin": "expanded"}
    assert len(server.requests) == 1  # the answer: no rewrite call
