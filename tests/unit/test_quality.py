"""Answer quality on the project's two corpora (samples/corpus with samples/ground_truth.jsonl, the
real PDFs of samples/pdfs with their questions), measured by the evaluation command's own code:
the build fails when the embedded default drops below the thresholds, and the command runs
against a scripted OpenAI-compatible model too."""

from __future__ import annotations

import json

import pytest

from devtools.evaluate.__main__ import SUITES, own_index
from devtools.evaluate.__main__ import main as evaluate_main
from devtools.evaluate.report import summarize
from devtools.evaluate.runner import run_cases
from devtools.evaluate.scoring import load_cases
from shared import backends
from shared.config import PROJECT_ROOT, get_settings
from shared.settings import ModelSettings
from tests.recording_server import RecordingServer
from tests.support import completion, remote_model_entry

GROUND_TRUTH = PROJECT_ROOT / "samples" / "ground_truth.jsonl"
# Multi-turn conversations written for issue 25 (ellipsis, pronouns, topic switches, follow-ups the
# documents do not answer), kept out of every threshold's calibration.
CONVERSATIONS = PROJECT_ROOT / "samples" / "ground_truth_conversations.jsonl"


def test_the_shipped_default_answer_strategy_is_extractive(monkeypatch):
    monkeypatch.delenv("LLM_ANSWER_STRATEGY", raising=False)  # the suite sets it for the model's tests

    assert ModelSettings().answer_strategy == "extractive"


async def test_the_embedded_default_is_right_cited_and_honest_on_the_ground_truth(client, configure):
    configure(LLM_ANSWER_STRATEGY="extractive")  # the shipped default (see the test above)
    cases = load_cases(GROUND_TRUTH)
    assert sum(len(c.turns) for c in cases) >= 40 and {c.kind for c in cases} == {
        "single",
        "multi",
        "followup",
        "unanswerable",
    }

    records = await run_cases(client, cases)
    summary = summarize(records)

    assert summary["failed_requests"] == 0
    # Issue 25's targets: right and cited, declined when the documents do not say, rarely declined wrongly.
    assert summary["answerable_correct_and_cited"] >= 0.85, summary
    assert summary["correct_citing_right_source"] >= 0.95, summary
    assert summary["unanswerable_declined"] >= 0.9, summary
    assert summary["answerable_declined"] <= 0.05, summary
    assert summary["repetition_loops"] == 0 and summary["dangling_citations"] == 0


async def test_follow_ups_are_answered_in_conversation(client, configure):
    configure(LLM_ANSWER_STRATEGY="extractive")
    cases = load_cases(CONVERSATIONS)
    assert len(cases) >= 30 and all(len(c.turns) > 1 for c in cases)

    records = await run_cases(client, cases)
    last_turns = {f"{c.id}#{len(c.turns)}" for c in cases}
    last = [r for r in records if r["id"] in last_turns]
    right = sum(r["correct"] for r in last) / len(last)

    assert right >= 0.9, [(r["question"], r["answer"]) for r in last if not r["correct"]]
    # The follow-ups the documents do not answer ("How much does it cost?" after the Zephyr's motor) are declined.
    unanswerable = [r for r in records if not r["answerable"]]
    assert sum(r["correct"] for r in unanswerable) / len(unanswerable) >= 0.9, unanswerable


PDFS = SUITES["pdfs"]


def test_the_pdf_corpus_has_questions_of_every_kind_split_into_reported_and_calibration_sets():
    reported, calibration = load_cases(PDFS.reported), load_cases(PDFS.calibration)
    turns = [t for c in reported + calibration for t in c.turns]

    assert len(turns) >= 60 and len(reported) > len(calibration) >= 20
    assert not {c.id for c in reported} & {c.id for c in calibration}
    assert {c.kind for c in reported} == {"single", "multi", "table", "followup", "unanswerable"}
    documents = {p.name for p in PDFS.corpus.glob("*.pdf")}
    assert len(documents) >= 3 and all(set(t.documents) <= documents and t.pages for t in turns if t.answerable)


async def test_the_embedded_default_is_right_cited_and_honest_on_real_pdfs(client, configure, tmp_path):
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest

    configure(LLM_ANSWER_STRATEGY="extractive", SEARCH_INDEX_PATH=str(tmp_path / "pdfs.sqlite"))
    indexed = await ingest(PDFS.corpus, backends.index_writer(), backends.embeddings(), prune=False, chunker=Chunker())
    assert indexed.failed == 0

    summary = summarize(await run_cases(client, load_cases(PDFS.reported)))

    # The targets (85 % right and cited, 90 % declined, at most 5 % wrongly declined), measured at 87.0 /
    # 100 / 2.2 % (docs/quality.md); right and cited with one question of slack (39 of 46) for another CPU's floats.
    assert summary["failed_requests"] == 0 and summary["dangling_citations"] == 0
    assert summary["answerable_correct_and_cited"] >= 0.84, summary
    assert summary["unanswerable_declined"] >= 0.9, summary
    assert summary["answerable_declined"] <= 0.05, summary


def test_a_suite_of_its_own_gets_an_index_file_of_its_own_for_the_evaluation_only():
    configured = get_settings().search.index_path

    with own_index("-pdfs"):
        assert get_settings().search.index_path == configured.with_name(f"{configured.stem}-pdfs.sqlite")
    with own_index(""):
        assert get_settings().search.index_path == configured
    assert get_settings().search.index_path == configured


SMALL_SET = [
    {"id": "frame", "kind": "single", "turns": [{"question": "How long is the frame warranty?",
                                                  "facts": [["10 years"]], "documents": ["warranty-policy.md"]}]},
    {"id": "ceo", "kind": "unanswerable", "turns": [{"question": "Who is the CEO?", "answerable": False}]},
    {"id": "chain", "kind": "followup", "turns": [
        {"question": "How long is the frame warranty?", "facts": [["10 years"]], "documents": ["warranty-policy.md"]},
        {"question": "And the battery?", "facts": [["2 years"]], "documents": ["warranty-policy.md"]},
    ]},
]  # fmt: skip


def scripted_model() -> RecordingServer:
    """Rewrites follow-ups as "battery warranty"; declines the CEO; says "10 years [1]" to anything else."""

    def respond(request):
        prompt = request.body["messages"][-1]["content"]
        if "standalone search query" in prompt:
            return 200, completion("battery warranty")
        return 200, completion("The documents do not say." if "CEO" in prompt else "10 years [1] [9].")

    return RecordingServer(respond)


@pytest.fixture
def small_set(tmp_path):
    path = tmp_path / "ground_truth.jsonl"
    path.write_text("".join(json.dumps(case) + "\n" for case in SMALL_SET))
    return path


def test_the_evaluation_command_reports_and_compares_runs_of_a_remote_model(
    sample_index, configure, small_set, tmp_path, capsys
):
    with scripted_model() as server:
        configure(LLM_MODELS=json.dumps([remote_model_entry(server)]), LLM_DEFAULT_ALIAS="remote")
        evaluate_main(["--ground-truth", str(small_set), "--out", str(tmp_path / "remote")])

    report = json.loads((tmp_path / "remote.json").read_text())
    summary = report["summary"]
    assert [t["id"] for t in report["turns"]] == ["frame", "ceo", "chain#1", "chain#2"]
    assert summary["answerable_correct"] == 0.6667  # "10 years" is wrong for the battery
    assert summary["unanswerable_declined"] == 1 and summary["correct_citing_right_source"] == 1
    assert summary["dangling_citations"] == 0  # the model's [9] named no source: removed
    assert summary["retrieval"]["hit_rate@3"] == 1
    assert report["turns"][3]["search_query"] == {"text": "battery warranty", "origin": "rewritten"}
    answer_prompts = [r for r in server.requests if "standalone search query" not in json.dumps(r.body)]
    assert len(answer_prompts) == 4 and "[1] Brightwheel Cycles Warranty Policy" in json.dumps(answer_prompts[0].body)
    markdown = (tmp_path / "remote.md").read_text()
    assert "python -m devtools.evaluate --ground-truth" in markdown and "| chain#2 | followup | no |" in markdown

    capsys.readouterr()
    evaluate_main(["compare", str(tmp_path / "remote.json"), str(tmp_path / "remote.json")])
    assert "| answerable_correct | 66.7% | 66.7% |" in capsys.readouterr().out
