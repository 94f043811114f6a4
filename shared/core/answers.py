"""The extractive answer strategy: answers made of the retrieved passages themselves.

A small model (the embedded SmolLM2-135M) misreads passages it is given: it answers "2
years" where the table says 3 and invents what no source holds. This strategy answers with
the sentences, list items or table rows of the sources that best answer the question, each
cited as [n], the way Azure AI Search's semantic answers extract them; when no passage is
relevant enough it says so plainly. Relevance mixes two measures of each passage against
the question: the share of the question's content words it holds (weighted by how rare each
word is among the passages, so the words that single out the answer count most) and the
cosine similarity of their embeddings.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import snowballstemmer

from shared.core.interfaces import Embeddings
from shared.core.passages import Passage, passages
from shared.core.types import Completion, Source, TokenUsage

DECLINE = "The documents do not say."
# The relevance below which an answer declines, by embedding model: each model's cosine
# similarities spread differently (multilingual-e5-small's sit high, all-MiniLM-L6-v2's
# lower), so each threshold was measured on the ground truth and the held-out questions
# (docs/quality.md). Another model (e.g. Azure OpenAI's) gets the default model's.
MIN_RELEVANCE = {"all-MiniLM-L6-v2": 0.48, "multilingual-e5-small": 0.68}

# Function words: they say nothing about which passage answers.
_STOPWORDS_TEXT = """a an and are as at be by can could do does did for from has have how i if in is it its me my of
    on or our should so than that the their them there these they this to us was we were what when
    where which who whom why will with would you your about any also into just may more most much
    many some such tell please know"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_WORD = re.compile(r"\w+(?:[.,:/]\w+)*")
# ", and how ...", "; ", "? ": where a question goes on to ask something else.
_PART_BOUNDARY = re.compile(
    r",?\s+and\s+(?=(?:how|what|when|where|which|who|why|whether|is|are|do|does|can|could|should|up to|from)\b)"
    r"|\?\s+|;\s+",
    re.IGNORECASE,
)
_PASSAGES_PER_PART = 2  # a part's best passage and, when it scores nearly as well, the next one
_EMBEDDING_CACHE = 4096  # passages: chunks repeat across questions, their vectors need not be recomputed


@dataclass(frozen=True)
class Scored:
    passage: Passage
    relevance: float


class ExtractiveAnswers:
    """Builds an answer from a turn's sources. One instance serves every turn (it caches vectors)."""

    def __init__(
        self,
        embeddings: Embeddings,
        *,
        min_relevance: float,
        lexical_weight: float = 0.5,
        runner_up_margin: float = 0.03,
        max_passages: int = 4,
    ) -> None:
        self._embeddings = embeddings
        self.min_relevance = min_relevance
        self._lexical_weight = lexical_weight
        self._margin = runner_up_margin
        self._max_passages = max_passages
        self._stemmer = snowballstemmer.stemmer("english")
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = asyncio.Lock()

    async def answer(self, question: str, sources: Sequence[Source], search_text: str | None = None) -> Completion:
        """The answer as a Completion (no model ran: no tokens), cited as [n] by source number."""
        chosen = await self.select(question, sources, search_text)
        text = " ".join(cited(s.passage) for s in chosen) if chosen else DECLINE
        parameters = {"answer_strategy": "extractive", "min_relevance": self.min_relevance}
        return Completion((text,), TokenUsage(0, 0), "stop", parameters)

    async def select(self, question: str, sources: Sequence[Source], search_text: str | None = None) -> list[Scored]:
        """The passages that answer the question, part by part; none when none is relevant enough.

        Each part of a question ("what is X, and how long is Y?") gets its best passage, and
        the passages scoring nearly as well (within `runner_up_margin`: two sentences may hold
        the answer between them), up to max_passages in all."""
        chosen: dict[str, Scored] = {}
        rewrite = search_text if search_text != question else None  # a follow-up's standalone query
        for part in _parts(question):
            scored = await self.score(part, sources, rewrite)
            if not scored or scored[0].relevance < self.min_relevance:
                continue
            close = [s for s in scored[:_PASSAGES_PER_PART] if s.relevance >= scored[0].relevance - self._margin]
            for candidate in close:
                chosen.setdefault(candidate.passage.text, candidate)
        return list(chosen.values())[: self._max_passages]

    async def score(self, question: str, sources: Sequence[Source], search_text: str | None = None) -> list[Scored]:
        """Every distinct passage of the sources with its relevance to the question, best first."""
        unique: dict[str, Passage] = {}
        for number, source in enumerate(sources, start=1):
            for passage in passages(source.text, number):
                unique.setdefault(passage.text, passage)  # overlapping chunks repeat sentences
        candidates = list(unique.values())
        if not candidates:
            return []
        text = question if not search_text or search_text == question else f"{search_text} {question}"
        query = self._terms(text)
        terms = [self._terms(f"{p.context} {p.text}") for p in candidates]
        weights = _rarity(query, terms)
        similarity = await self._similarities(text, [f"{p.context} {p.text}".strip() for p in candidates])
        total = sum(weights.values()) or 1.0
        scored = [
            Scored(
                passage,
                self._lexical_weight * sum(weights[t] for t in query & held) / total
                + (1 - self._lexical_weight) * float(cosine),
            )
            for passage, held, cosine in zip(candidates, terms, similarity, strict=True)
        ]
        return sorted(scored, key=lambda s: s.relevance, reverse=True)

    def _terms(self, text: str) -> frozenset[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
        return frozenset(self._stemmer.stemWords(words))

    async def _similarities(self, question: str, texts: list[str]) -> np.ndarray:
        query = await self._embeddings.embed_query(question)
        async with self._lock:  # one embedding of a new passage at a time, shared by concurrent turns
            missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
            if missing:
                for text, vector in zip(missing, await self._embeddings.embed_documents(missing), strict=True):
                    self._vectors[text] = vector
            for text in texts:
                self._vectors.move_to_end(text)
            while len(self._vectors) > _EMBEDDING_CACHE:
                self._vectors.popitem(last=False)
            matrix = np.vstack([self._vectors[t] for t in texts])
        return matrix @ query


def _parts(question: str) -> list[str]:
    """A question's parts: "What is X, and how long is Y?" asks two things."""
    parts = [p.strip(" ,") for p in _PART_BOUNDARY.split(question)]
    return [p for p in parts if len(p.split()) > 1] or [question]


def _rarity(query: frozenset[str], passages_terms: list[frozenset[str]]) -> dict[str, float]:
    """Each question word's weight: rare among the passages counts more; a word no passage
    holds counts most, so a question about something the sources never mention scores low."""
    count = len(passages_terms)
    return {t: math.log((count + 1) / (sum(t in p for p in passages_terms) + 0.5)) for t in query}


def cited(passage: Passage) -> str:
    text = passage.text.rstrip()
    end = text[-1] if text[-1] in ".!" else "."
    return f"{text.rstrip('.!')} [{passage.source}]{end}"
