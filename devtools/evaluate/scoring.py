"""The ground truth's shape, and how one answered turn is scored against it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.core.citations import cited_numbers

# How an answer says the documents do not hold what was asked (the product's own phrase first).
_DECLINES = re.compile(
    r"documents do not say|do(?:es)? not (?:say|mention|contain|specify)|could not find|cannot find|"
    r"no information|not (?:in|found in) the (?:knowledge base|documents|sources)|don't know|do not know",
    re.IGNORECASE,
)
_LOOP_NGRAM = 4  # words
_LOOP_REPEATS = 3  # the same 4 words three times over: the answer is going round in circles


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    answerable: bool = True
    facts: list[list[str]] = Field(default_factory=list, description="Each fact: the ways it may be written.")
    wrong: list[str] = Field(
        default_factory=list, description="What a right answer does not say: a neighbouring table row's values."
    )
    documents: list[str] = Field(default_factory=list, description="The files that hold the facts.")
    pages: list[int] = Field(
        default_factory=list, description="The pages (1-based, of a PDF among `documents`) where the facts are."
    )
    answer: str | None = Field(None, description="A right answer, replayed as the assistant's turn by a bench.")


class Case(BaseModel):
    """A question, or a chain of follow-ups asked in one conversation."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    kind: Literal["single", "multi", "table", "followup", "unanswerable"]
    turns: list[Turn] = Field(min_length=1)
    needs_conversation: bool | None = Field(
        None, description="A follow-up set's label: whether the last question needs the earlier turns to be understood."
    )


def load_cases(path: Path) -> list[Case]:
    return [Case.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def _normal(text: str) -> str:
    return " ".join(text.casefold().replace("\u202f", " ").replace("\u00a0", " ").split())


def declines(answer: str) -> bool:
    return bool(_DECLINES.search(answer))


def facts_found(answer: str, facts: list[list[str]]) -> int:
    """How many of the facts the answer states, each in any of its accepted wordings."""
    text = _normal(answer)
    return sum(any(_normal(way) in text for way in fact) for fact in facts)


def loops(answer: str) -> bool:
    """Whether the answer repeats itself (a generation stuck until max_tokens)."""
    words = re.findall(r"\w+", answer.casefold())
    grams = Counter(tuple(words[i : i + _LOOP_NGRAM]) for i in range(len(words) - _LOOP_NGRAM + 1))
    return bool(grams) and max(grams.values()) >= _LOOP_REPEATS


def _on_reference(turn: Turn, source: dict) -> bool:
    """Whether a source is where the turn's facts are: one of its documents, on one of its pages if it lists any."""
    return source.get("filename") in turn.documents and (not turn.pages or source.get("page") in turn.pages)


def score_turn(turn: Turn, answer: str, sources: list[dict]) -> dict:
    """Correctness, citations, refusal and repetition of one answer; `sources` as the API numbered them."""
    cited = cited_numbers(answer)
    cited_sources = [sources[n - 1] for n in cited if 1 <= n <= len(sources)]
    declined = declines(answer)
    found = facts_found(answer, turn.facts)
    says_wrong = facts_found(answer, [[w] for w in turn.wrong]) > 0
    correct = (found == len(turn.facts) and not says_wrong and not declined) if turn.answerable else declined
    on_reference = [_on_reference(turn, s) for s in cited_sources] if turn.answerable else []
    return {
        "correct": correct,
        "declined": declined,
        "facts_found": found,
        "cited": cited,
        "dangling_citations": [n for n in cited if not 1 <= n <= len(sources)],
        "cites_right_source": bool({s.get("filename") for s in cited_sources} & set(turn.documents))
        if turn.answerable
        else None,
        # With reference pages, a citation counts when it names one of them (a document's page, not just the file).
        "cites_right_page": any(on_reference) if turn.answerable and turn.pages else None,
        "citations_on_reference": sum(on_reference),
        "citations_checked": len(on_reference),
        "loops": loops(answer),
    }
