"""Answers built from the passages (the extractive strategy), and citations that name a source."""

from __future__ import annotations

import json

import pytest

from shared.core.answers import DECLINE, ExtractiveAnswers
from shared.core.citations import StreamedCitations, valid_citations
from shared.core.errors import UpstreamError
from shared.core.followups import Resolved
from shared.core.intents import AnswerKind, answer_kind
from shared.core.key_terms import asked_for, key_words, modifiers
from shared.core.orchestrator import FALLBACK_ANSWER
from shared.core.passages import passages
from shared.core.relevance import proximity
from shared.core.types import Source, TurnRequest
from shared.ingest.chunking import Chunker
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


def test_a_heading_on_its_own_line_is_never_quoted_whatever_its_first_sentence():
    """Chunks keep a heading on its own line: no guess where it ends, even before "Error E1 ..." or a
    sentence that repeats the heading's word."""
    document = (
        "# Manual\n\n## Troubleshooting\nError E1 means the tank is empty.\n\n## Membership\n\nMembership is free."
    )

    found = [p for chunk in Chunker().split(document) for p in passages(chunk, 1)]

    assert [(p.text, p.context) for p in found] == [
        ("Error E1 means the tank is empty.", "Troubleshooting"),
        ("Membership is free.", "Membership"),
    ]


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

    answer = await answered(answers, question, source(DISTRIBUTIONS))

    assert "mean, sd" in answer and "min, max" in answer and "shape1" not in answer


async def test_a_question_about_two_things_one_of_which_no_passage_names_is_declined(answers):
    question = Resolved("Which distribution takes the arguments alpha and beta?")

    assert await answered(answers, question, source(DISTRIBUTIONS)) == DECLINE


async def test_a_kind_of_answer_is_preferred_only_when_such_a_passage_is_nearly_as_relevant(answers):
    text = (
        "Each new call to a device driver function opens a new graphics device. When you have finished with a "
        "device, be sure to terminate the device driver by issuing the command dev.off(). Use pdf() for PDF files."
    )
    question = Resolved("How do you terminate a graphics device driver when you have finished with it?")

    answer = await answered(answers, question, source(text))

    assert "dev.off()" in answer and "pdf()" not in answer


async def test_an_acronym_is_the_same_word_in_the_plural(answers):
    """The stemmer keeps the "s" of "DVDs" (no vowel before it): the singular asked must still find the row."""
    table = (
        "| Item | Loan period | Renewals | |---|---|---| | Books | 3 weeks | 2 | | DVDs | 1 week | 1 | "
        "| CPUs | 2 days | 0 |"
    )

    dvd = await answered(answers, "How long can I keep a DVD?", source(table, "Loans"))
    cpu = await answered(answers, "What is the loan period of a CPU?", source(table, "Loans"))

    assert "1 week" in dvd and "3 weeks" not in dvd
    assert "2 days" in cpu and "1 week" not in cpu


def test_verbs_and_auxiliaries_are_no_key_words_of_a_question():
    assert key_words("What happens to the warranty if I tune the motor?") == ["warranty", "motor"]
    assert key_words("In which city are the bikes assembled?") == ["city", "bikes"]
    assert key_words("What was Brightwheel's revenue last year?")[:2] == ["Brightwheel", "revenue"]


def source(text: str, title: str = "R manual") -> Source:
    return Source("1", "index", 1.0, text, {"title": title})


async def answered(answers: ExtractiveAnswers, question: str | Resolved, *sources: Source) -> str:
    """The extractive answer's text to `question` from `sources`."""
    resolved = question if isinstance(question, Resolved) else Resolved(question)
    return (await answers.answer(resolved, list(sources))).choices[0]


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

    answer = await answered(answers, question, source(text, "Information for maintainers"))

    assert answer.count("gpg --clearsign") == 1, answer


async def test_more_chunks_are_searched_than_returned_and_those_that_answer_are_the_sources(client, configure):
    # The search ranks the FAQ's chunk first; the passage that answers is in the maintenance guide.
    body = {
        "question": "How often should the bike get a full service?",
        "fetch_args": {"AzureSearchFetcher": {"top_k": 1}},
    }
    configure(LLM_ANSWER_STRATEGY="extractive", LLM_ANSWER_POOL="0")
    searched = (await client.post(RAG, json=body)).json()
    configure(LLM_ANSWER_STRATEGY="extractive", LLM_ANSWER_POOL="8")  # the default: 8 chunks searched

    reranked = (await client.post(RAG, json=body)).json()

    assert [m["filename"] for m in searched["metadata"]] == ["company-faq.html"]
    assert [m["filename"] for m in reranked["metadata"]] == ["maintenance-guide.txt"]  # still top_k sources
    assert reranked["answer"].startswith("Every year or every 3,000 km, whichever comes first: book a full service")
    assert reranked["answer"].endswith("[1].")


async def test_passages_rerank_the_sources_best_first(answers):
    frame = source("The frame is made of aluminium and painted by hand.")
    battery = source("Keep the battery at 60 % charge for storage in winter.")
    charger = source("The charger takes 4 hours to charge the battery.")

    question = Resolved("At what charge should the battery be stored?")

    assert await answers.rerank(question, [frame, charger, battery], 2) == (battery, charger)
    assert await answers.rerank(question, [frame, battery], 2) == (frame, battery)  # nothing to choose: as searched


def test_a_passage_saying_the_questions_words_together_matches_more_than_one_spreading_them(answers):
    def share(text: str) -> float:
        asked = answers._sequence("What should the default value of prefix be?")
        return proximity(frozenset(zip(asked, asked[1:], strict=False)), answers._sequence(text))

    assert share("The default value of prefix should be /usr/local.") == 1.0
    assert share("exec_prefix A prefix used in constructing the default values of some of the variables.") == 0.5
    assert share("The value is chosen by the installer, who also sets the default for the prefix.") == 0.0


async def test_a_which_question_is_answered_by_a_passage_naming_what_it_asks_for(answers):
    text = (
        "We can plot the empirical cumulative distribution function by using the function ecdf. "
        "Prefix the name given here by 'd' for the density, 'p' for the CDF and 'q' for the quantile function."
    )
    question = Resolved("Which prefix do the distribution functions use for the cumulative distribution function?")

    answer = await answered(answers, question, source(text))

    assert "'p' for the CDF" in answer and "ecdf" not in answer


async def test_a_kind_of_thing_no_passage_names_is_declined(answers):
    text = "You may return a bike within 30 days of delivery for a full refund if it has been ridden less than 50 km."

    assert key_words("Can I get a tax refund when buying an e-bike?")[:2] == ["tax", "refund"]
    assert await answered(answers, "Can I get a tax refund when buying an e-bike?", source(text)) == DECLINE
    assert "full refund" in await answered(answers, "Can I get a full refund?", source(text))


def test_free_is_a_price_when_it_says_what_something_costs_not_when_it_names_free_software():
    money = AnswerKind.MONEY

    assert money.found_in("Delivery to Belgium is free.") and money.found_in("Motor: Period 3 years; Cost free")
    assert money.found_in("Test rides are free at the showrooms")
    assert not money.found_in("Auto Multiple Choice is free software: you can redistribute it")
    assert answer_kind("How much does an Auto Multiple Choice site license cost?") is AnswerKind.MONEY


def test_a_which_question_names_a_thing_not_the_form_of_its_answer():
    assert asked_for("Which prefix do the distribution functions use?") == ["prefix"]
    assert asked_for("What license can short manuals use?") == ["license"]
    assert asked_for("In which year was Brightwheel founded?") == []  # "founded in 2016" says no "year"
    assert asked_for("What kind of bike is the Atlas?") == []
    assert asked_for("What is the frame warranty?") == []


async def test_a_question_about_a_value_is_answered_by_the_passage_that_states_one(answers):
    text = (
        "prefix\nA prefix used in constructing the default values of the variables listed below. The default value "
        "of prefix should be /usr/local. When building the complete system, the prefix will be empty."
    )

    answer = await answered(answers, "What should the default value of prefix be?", source(text))

    assert answer == "The default value of prefix should be /usr/local [1]."


def test_where_a_program_prints_is_a_place():
    place = AnswerKind.PLACE

    assert answer_kind("Where should the --version option print its information?") is place
    assert place.found_in("print its name and version, all on standard output, and then exit")
    assert place.found_in("Errors go to stderr.") and not place.found_in("It prints its name and version.")


async def test_a_later_part_opening_with_a_preposition_is_a_part_of_its_own_and_its_pronoun_means_the_answer(answers):
    server = source("We normally use the server alpha.gnu.org for pretests and prerelease versions.")
    directory = source(
        "directory specifies the final destination directory where the uploaded file and its signature are placed. "
        "If the upload is destined for ftp.gnu.org, place the files in the directory /incoming/ftp. "
        "If the upload is destined for alpha.gnu.org, place the files in the directory /incoming/alpha."
    )
    question = Resolved("Which server hosts pretests, and into which directory are uploads destined for it placed?")

    answer = await answered(answers, question, server, directory)

    assert answer == (
        "We normally use the server alpha.gnu.org for pretests and prerelease versions [1]. "
        "If the upload is destined for alpha.gnu.org, place the files in the directory /incoming/alpha [2]."
    )


def test_a_bulleted_item_is_a_list_item_under_its_lead_in():
    text = "Some old software breaks AMC:\n• With old versions of ImageMagick, merging fails. Upgrade it."

    found = passages(text, 1)

    assert [p.text for p in found][1] == "With old versions of ImageMagick, merging fails."
    assert found[1].context == "Some old software breaks AMC:"


async def test_a_passage_that_holds_a_chosen_one_and_says_more_takes_its_place(answers):
    text = (
        "With old versions of ImageMagick, the merging of answer sheets into a single PDF file does not work "
        "when answer sheets have more than one page. This bug is fixed in versions 6.5.5 and later of ImageMagick."
    )
    question = Resolved("From which ImageMagick version does merging multi-page answer sheets into one PDF work?")

    answer = await answered(answers, question, source(text))

    assert answer.startswith("With old versions") and answer.endswith("6.5.5 and later of ImageMagick [1].")
    assert answer.count("With old versions") == 1


async def test_a_which_question_named_only_by_the_heading_is_answered_with_the_heading_as_label(answers):
    section = "7 Reading data from files › 7.1 The read.table() function"
    text = "To read an entire data frame directly, the external file will normally have a special form."
    question = Resolved("Which function reads an entire data frame directly from an external file?")

    answer = await answered(answers, question, Source("1", "index", 1.0, text, {"section": section}))
    unlabelled = await answered(answers, "How is a data frame read?", source(text))

    asked = Source("1", "index", 1.0, text, {"section": "Which function reads a data frame?"})
    under_a_question = await answered(answers, question, asked)

    assert answer == f"7.1 The read.table() function: {text[:-1]} [1]."
    assert unlabelled == under_a_question == f"{text[:-1]} [1]."  # a question is no label


def test_what_is_said_to_exist_is_a_key_noun_and_a_question_word_never_is():
    assert key_words("Is there parking at the library?") == ["parking", "library"]
    assert key_words("Within how many days can I return a bike?") == ["days", "bike"]


async def test_a_question_about_something_no_passage_mentions_is_declined_even_with_a_word_they_share(answers):
    card = source("A library card is issued on the spot; bring a photo ID and a proof of address.")

    assert await answered(answers, "Is there parking at the library?", card) == DECLINE


def test_a_table_row_under_a_units_column_holds_a_duration_and_a_particle_is_no_key_noun():
    assert key_words("How many days off do I get for my wedding?") == ["days", "wedding"]
    assert AnswerKind.DURATION.found_in("Wedding: Days 2; Paid yes")
    assert not AnswerKind.DURATION.found_in("Wedding: Paid yes")


def test_a_verb_after_the_question_word_before_a_participle_is_no_key_noun():
    assert key_words("What gets erased?") == []
    assert key_words("What parts are covered?") == ["parts"]


def test_the_subject_of_a_yes_no_question_is_a_key_noun_unless_it_is_a_pronoun():
    assert key_words("Are dogs allowed in the community garden?") == ["dogs", "community", "garden"]
    assert key_words("Can I grow bamboo on my plot?") == ["plot"]
    assert key_words("When am I allowed to use a hose?") == ["hose"]


async def test_a_yes_no_question_about_something_no_passage_mentions_is_declined(answers):
    rules = source(
        "What you may grow: Vegetables, herbs, fruit bushes and flowers are welcome. Trees taller than 2 metres are "
        "not allowed. Invasive plants such as Japanese knotweed and bamboo are prohibited.",
        "Riverside Community Garden: Rules for Plot Holders",
    )

    assert await answered(answers, "Are dogs allowed in the community garden?", rules) == DECLINE


async def test_a_passage_that_answers_in_other_words_answers_a_follow_up(answers):
    """ "Cost per year" and "annual fee" share no word: the passage's meaning answers, not its words."""
    fees = source(
        "Full plots measure 6 by 10 metres and half plots 3 by 10 metres. The annual fee is €45 for a full plot and "
        "€25 for a half plot, due by 1 March.",
        "Garden rules",
    )
    previous = "Full plots measure 6 by 10 metres and half plots 3 by 10 metres [1]."
    question = Resolved(
        "How much does it cost per year?", ("big", "half", "plot"), previous_answer=previous, referents=("10",)
    )

    assert "€25 for a half plot" in await answered(answers, question, fees)


def test_how_far_in_advance_asks_for_a_time_span_not_a_distance():
    assert answer_kind("How far in advance must I book a business trip?") is AnswerKind.DURATION
    assert answer_kind("How far can the bike go on one charge?") is AnswerKind.DISTANCE


def test_an_action_after_without_or_before_and_an_indefinite_pronoun_are_no_key_nouns():
    assert key_words("How can I see what would be deleted without deleting anything?") == []
    assert key_words("What should I check before riding the bike?") == ["bike"]
    assert key_words("Is there a fee for parking?") == ["fee", "parking"]


async def test_what_can_be_done_is_an_instruction_that_answers_what_to_do(answers):
    claims = source(
        "Submit receipts in the expense tool within 30 days of returning. Lost receipts can be replaced by a signed "
        "declaration, at most twice per year.",
        "Business Travel Policy",
    )

    answer = await answered(answers, "What should I do if I lose a receipt?", claims)

    assert AnswerKind.ACTION.found_in("Lost receipts can be replaced by a signed declaration.")
    assert answer.startswith("Lost receipts can be replaced by a signed declaration")


def test_a_numbered_heading_is_a_heading_not_a_list_item():
    found = passages("## 4. Sick leave during holidays\nIf you fall ill, report it to your manager.", 1)

    assert [(p.text, p.context) for p in found] == [
        ("If you fall ill, report it to your manager.", "4. Sick leave during holidays")
    ]


async def test_a_kind_of_leave_the_documents_never_name_is_declined_after_is(answers):
    policy = source("Full-time employees receive 25 days of paid annual leave per calendar year.", "Leave Policy")

    assert modifiers("How long is parental leave?") == [("parental", "leave")]
    assert modifiers("Do I need to bring my own towel?") == [] and key_words("Where is my own towel?") == ["towel"]
    assert await answered(answers, "How long is parental leave?", policy) == DECLINE


async def test_a_passage_about_weekends_answers_about_a_saturday(answers):
    hours = source("We are open Monday to Friday from 6:00 to 23:00, and on weekends from 8:00 to 20:00.", "Gym FAQ")

    assert "8:00 to 20:00" in await answered(answers, "what time does the gym open on saturday", hours)


def test_what_happens_when_is_a_verb_and_how_far_back_asks_for_a_time():
    assert key_words("What happens when I go over the rate limit?") == ["rate", "limit"]
    assert key_words("What parts are covered?") == ["parts"]
    assert answer_kind("How far back does historical data go?") is AnswerKind.TIME
    assert AnswerKind.TIME.found_in("Historical data goes back to 1990.")


async def test_a_which_question_named_only_by_a_markdown_heading_is_answered_with_it_as_label(answers):
    notes = source(
        "## Version 3.2 (May 2026)\n- Added air quality data for 1,200 cities.\n- Fixed a bug where sunrise times "
        "were one hour off during daylight saving changes.\n## Version 3.1 (February 2026)\n- New marine endpoint.",
        "Release notes",
    )

    answer = await answered(answers, "Which version fixed the sunrise time bug?", notes)

    assert answer.startswith("Version 3.2 (May 2026): Fixed a bug where sunrise times")
