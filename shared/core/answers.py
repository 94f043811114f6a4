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
import functools
import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import snowballstemmer

from shared.core.followups import Resolved, resolve
from shared.core.intents import answer_kind
from shared.core.interfaces import Embeddings
from shared.core.key_terms import is_name, key_words, names
from shared.core.passages import Passage, passages
from shared.core.types import Completion, Message, Source, TokenUsage

DECLINE = "The documents do not say."
# The relevance below which an answer declines, by embedding model: each model's cosine
# similarities spread differently (multilingual-e5-small's sit high, all-MiniLM-L6-v2's
# lower), so each threshold was measured on the ground truth and the held-out questions
# (docs/quality.md). Another model (e.g. Azure OpenAI's) gets the default model's.
MIN_RELEVANCE = {"all-MiniLM-L6-v2": 0.40, "multilingual-e5-small": 0.68}

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
# Two things asked about at once: "the normal and the uniform distributions", "exec_prefix and of bindir".
_CONJUNCTS = re.compile(r"\b(\w+)\s+(?:and|or)\s+(?:of\s+)?(?:the\s+|a\s+|an\s+)?(\w+)", re.IGNORECASE)
_PASSAGES_PER_PART = 2  # a part's best passage and, when it scores nearly as well, the next one
_CARRIED_WEIGHT = 0.5  # a word the question takes from the conversation, against one of its own
_ALTERNATIVE_MARGIN = 0.1
_CONTEXT_WEIGHT = 0.6  # a word of the question held by the passage's context only, against one it holds itself
_REPEAT_PENALTY = 0.1  # a passage the previous answer quoted
_PREFERENCE_MARGIN = 0.2  # how much less relevant a passage of a preferred kind may be and still win
# The share of the question's own content words the best passage must hold: one rare word (a
# product the documents only name) is not enough to answer a question about something else.
MIN_COVERAGE = 0.3
# How much more relevance is needed when a key word of the question ("the CEO", "to Spain") is in no
# retrieved passage: the documents most likely do not hold what is asked.
UNHELD_MARGIN = 0.06
_STEM_CACHE = 65536  # words
_EMBEDDING_CACHE = 4096  # passages: chunks repeat across questions, their vectors need not be recomputed


@dataclass(frozen=True)
class Scored:
    passage: Passage
    relevance: float  # lexical_weight * lexical + (1 - lexical_weight) * similarity, less a repeat penalty
    lexical: float  # the rarity-weighted share of the question's words the passage (with its context) holds
    similarity: float  # cosine similarity of their embeddings
    coverage: float  # the share of the question's content words it holds, each counted once
    # It holds an answer of the kind the question asks for (when its words say), and mentions each name of
    # the question the sources mention (shared.core.intents, shared.core.key_terms).
    fits: bool


@dataclass(frozen=True)
class Ranking:
    scored: list[Scored]  # best first
    unheld: bool  # a key word of the question is in none of the passages: answering needs more relevance
    unnamed: bool = False  # a name the question asks about is in none of the passages: nothing answers it
    missing: frozenset[str] = frozenset()  # the key words in none of the passages


class ExtractiveAnswers:
    """Builds an answer from a turn's sources. One instance serves every turn (it caches vectors)."""

    def __init__(
        self,
        embeddings: Embeddings,
        *,
        min_relevance: float,
        unheld_margin: float = UNHELD_MARGIN,
        lexical_weight: float = 0.5,
        runner_up_margin: float = 0.03,
        max_passages: int = 4,
        min_coverage: float = MIN_COVERAGE,
    ) -> None:
        self._embeddings = embeddings
        self.min_relevance = min_relevance
        self.unheld_relevance = min_relevance + unheld_margin
        # Another answer for n > 1 (shared.core.extractive_params): a passage of the kind asked for,
        # a little below the first answer's bar: offered beside the answer, never instead of it.
        self.alternative_relevance = min_relevance - _ALTERNATIVE_MARGIN
        self.min_coverage = min_coverage
        self._lexical_weight = lexical_weight
        self._margin = runner_up_margin
        self._max_passages = max_passages
        # Stemming (pure Python) was a third of a turn on PDFs: the same words recur in every turn.
        self._stem_word = functools.lru_cache(maxsize=_STEM_CACHE)(snowballstemmer.stemmer("english").stemWord)
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = asyncio.Lock()

    async def answer(self, question: Resolved, sources: Sequence[Source]) -> Completion:
        """The answer as a Completion (no model ran: no tokens), cited as [n] by source number."""
        chosen = await self.select(question, sources)
        text = " ".join(cited(s.passage) for s in chosen) if chosen else DECLINE
        parameters = {"answer_strategy": "extractive", "min_relevance": self.min_relevance}
        return Completion((text,), TokenUsage(0, 0), "stop", parameters)

    async def select(self, question: Resolved, sources: Sequence[Source]) -> list[Scored]:
        """The passages that answer the question, part by part; none when none answers well enough.

        Each part of a question ("what is X, and how long is Y?") gets its best passage, and
        the passages scoring nearly as well (within `runner_up_margin`: two sentences may hold
        the answer between them), up to max_passages in all. Only passages that hold an answer
        of the kind the part asks for (shared.core.intents) and mention the names it asks about
        compete. A part is declined when a name it asks about is in no passage, or unless its best
        passage is relevant enough and holds enough of the part's words (a rare name alone does
        not answer)."""
        chosen: dict[str, Scored] = {}
        parts = _parts(question.question)
        for number, part in enumerate(parts):
            ranking = await self.rank(part, sources, _part_of(question, parts, number))
            scored = [s for s in ranking.scored if s.fits]
            conjuncts = self._conjuncts(part)
            # One of two things asked about at once that no passage names ("alpha and beta"): not answered by half.
            if not scored or ranking.unnamed or conjuncts & ranking.missing:
                continue
            if not self.answers(scored[0], ranking.unheld):
                continue
            close = [s for s in scored[:_PASSAGES_PER_PART] if s.relevance >= scored[0].relevance - self._margin]
            for candidate in close + self._other_conjuncts(conjuncts, close, scored):
                if not _repeats(candidate.passage.text, chosen):
                    chosen[candidate.passage.text] = candidate
        return list(chosen.values())[: self._max_passages]

    def _conjuncts(self, part: str) -> frozenset[str]:
        """The terms of the things a part asks about at once: "the normal and the uniform distributions"."""
        return self._terms(" ".join(w for pair in _CONJUNCTS.findall(part) for w in pair))

    def _other_conjuncts(self, conjuncts: frozenset[str], chosen: list[Scored], scored: list[Scored]) -> list[Scored]:
        """For a part that asks about two things at once ("the normal and the uniform distributions", "exec_prefix
        and bindir"), the best passage about each one the chosen passages do not mention."""
        said = frozenset().union(*(self._terms(s.passage.text) for s in chosen))
        added = []
        for term in conjuncts - said:
            other = next((s for s in scored if term in self._terms(s.passage.text)), None)
            if other and other.relevance >= self.alternative_relevance and other not in added:
                added.append(other)
        return added

    def answers(self, best: Scored, unheld: bool) -> bool:
        """Three signals: relevance (higher when a key word of the question is in no passage), and
        the share of the question's words the passage holds (one rare name is not enough)."""
        threshold = self.unheld_relevance if unheld else self.min_relevance
        return best.relevance >= threshold and best.coverage >= self.min_coverage

    async def rank(self, part: str, sources: Sequence[Source], question: Resolved | None = None) -> Ranking:
        """Every distinct passage of the sources with its relevance to a part of the question, best first.

        The part's own words count fully, the words it takes from the conversation (and from a
        statement before the question: "My bike is a Zephyr. How long ...?") half; a passage
        the previous answer already gave counts less (a follow-up asks for something new)."""
        candidates = _candidates(sources)
        if not candidates:
            return Ranking([], False)
        background, asked = _background(part)
        carried = " ".join((background, *(question.carried if question else ())))
        quoted = [self._terms(p.text) for p in candidates]
        held = [terms | self._terms(f"{p.title} {p.context}") for p, terms in zip(candidates, quoted, strict=True)]
        words = _Words.of(self._terms(asked), self._terms(carried), {self._stem(w) for w in key_words(asked)}, held)
        said_names = (
            [*names(asked), *(w for w in question.carried if is_name(w))]
            if question and question.points_back
            else names(asked)
        )
        asked_names = {self._stem(n) for n in said_names}
        similarity = await self._similarities(f"{asked} {carried}".strip(), [scored_text(p) for p in candidates])
        kind = answer_kind(part) or (question.kind if question else None)
        previous = question.previous_answer if question else ""
        scored, named = [], []
        for passage, own_text, terms, cosine in zip(candidates, quoted, held, similarity, strict=True):
            lexical = words.share(terms, own_text)
            relevance = self._lexical_weight * lexical + (1 - self._lexical_weight) * float(cosine)
            if previous and passage.text in previous:
                relevance -= _REPEAT_PENALTY
            names_held = asked_names & words.everywhere <= terms
            fits = (kind is None or kind.found_in(passage.text)) and names_held
            scored.append(Scored(passage, relevance, lexical, float(cosine), words.coverage(terms), fits))
            named.append(names_held)
        if kind and not kind.strict:
            scored = _preferred(scored, named)
        ranked = sorted(scored, key=lambda s: s.relevance, reverse=True)
        missing = words.keys - words.everywhere
        return Ranking(ranked, bool(missing), not asked_names <= words.everywhere, missing)

    def _stem(self, word: str) -> str:
        return self._stem_word(word.lower())

    def _terms(self, text: str) -> frozenset[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
        return frozenset(map(self._stem_word, words))

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


@dataclass(frozen=True)
class _Words:
    """A part's words as they count for a passage: its own and those it takes from the conversation,
    each group weighed by rarity and shared out on its own, so that rare words carried from an earlier
    question never outweigh the part's own ("And the display?" after a question about the paint)."""

    own: dict[str, float]  # term -> rarity
    carried: dict[str, float]
    asked: frozenset[str]  # every content word of the part and of what it carries
    mine: frozenset[str]  # every content word of the part itself
    keys: frozenset[str]  # its key words (shared.core.key_terms)
    everywhere: frozenset[str]  # the words the passages hold between them

    @classmethod
    def of(cls, own: frozenset[str], carried: frozenset[str], keys: set[str], held: list[frozenset[str]]) -> _Words:
        everywhere = frozenset().union(*held)
        # A word no passage holds tells no passage from another; only a key word (a name, "the CEO")
        # still counts against them all: the documents may not hold what is asked.
        counted = {t for t in own | carried if t in everywhere or t in keys}
        rarity = _rarity(frozenset(counted), held)
        return cls(
            {t: rarity[t] for t in own & counted},
            {t: rarity[t] for t in (carried - own) & counted},
            own | carried,
            own,
            frozenset(keys) & own,
            everywhere,
        )

    def share(self, held: frozenset[str], said: frozenset[str]) -> float:
        """The rarity-weighted share of the words a passage holds; a word only its heading or
        header holds (not `said` by the passage itself) counts less."""
        shares = []
        for group, weight in ((self.own, 1.0), (self.carried, _CARRIED_WEIGHT)):
            total = sum(group.values())
            if total:
                found = sum(r * (1 if t in said else _CONTEXT_WEIGHT) for t, r in group.items() if t in held)
                shares.append((found / total, weight))
        return sum(s * w for s, w in shares) / sum(w for _, w in shares) if shares else 0.0

    def coverage(self, held: frozenset[str]) -> float:
        """The share of the part's words a passage holds: of all it asks with, or of its own words only
        (a follow-up that changes the topic, "And what does range return?", is not about the old one's words)."""
        shares = [len(held & self.asked) / len(self.asked) if self.asked else 1.0]
        if self.mine:
            shares.append(len(held & self.mine) / len(self.mine))
        return max(shares)


def _preferred(scored: list[Scored], named: list[bool]) -> list[Scored]:
    """A kind said in too many ways to be required (a time, a place, an instruction): the passages of that
    kind compete alone when one of them is nearly as relevant as the best passage; else every passage that
    names what is asked does ("be sure to terminate the driver with dev.off()" is an instruction no verb opens)."""
    best = max((s.relevance for s, n in zip(scored, named, strict=True) if n), default=None)
    kind_best = max((s.relevance for s in scored if s.fits), default=None)
    if best is None or (kind_best is not None and kind_best >= best - _PREFERENCE_MARGIN):
        return scored
    return [replace(s, fits=n) for s, n in zip(scored, named, strict=True)]


def _part_of(question: Resolved, parts: list[str], number: int) -> Resolved:
    """What a part of the question is asked with: the whole question's conversation when it is the
    only part; else its own kind, and a later part that points back ("..., and when do they need
    replacing?") takes the words of the part before it, as a follow-up takes the conversation's."""
    if len(parts) == 1:
        return question
    inside = resolve(parts[number], [Message("user", parts[number - 1])]) if number else Resolved(parts[number])
    return replace(question, carried=(*question.carried, *inside.carried), kind=None)


def _candidates(sources: Sequence[Source]) -> list[Passage]:
    unique: dict[str, Passage] = {}
    for number, source in enumerate(sources, start=1):
        # The document's title and the section the chunk sits under (PDFs), above the headings in its text.
        document = source.fields.get("title") or ""
        title = " ".join(filter(None, (document, _acronym(document), source.fields.get("section"))))
        for passage in passages(source.text, number):
            unique.setdefault(passage.text, replace(passage, title=title))  # overlapping chunks repeat sentences
    return list(unique.values())


def _repeats(text: str, said: Iterable[str]) -> bool:
    """Whether a passage says again what a chosen one says: overlapping chunks cut the same
    sentence at different places, so one may hold the other whole."""
    core = text.rstrip(" .!").casefold()
    return any(core in other.casefold() or other.rstrip(" .!").casefold() in core for other in said)


def _acronym(title: str) -> str:
    """What a document titled in capitalized words is called for short: "Auto Multiple Choice" is AMC."""
    words = title.split()
    if 2 <= len(words) <= 5 and all(w[:1].isupper() for w in words):
        return "".join(w[0] for w in words)
    return ""


def scored_text(passage: Passage) -> str:
    """What a candidate's embedding is made from: what it sits under, then what it says."""
    return f"{passage.context} {passage.text}".strip()


def scored_texts(source: Source) -> list[str]:
    """The texts whose embeddings answering from `source` needs: the embedded index stores their
    vectors with the chunk at ingestion (shared.retrieval.passage_vectors), so no turn computes them."""
    return [scored_text(p) for p in _candidates([source])]


def _background(part: str) -> tuple[str, str]:
    """(the statements before the question, the question): "My bike is a Zephyr. How long ...?"."""
    sentences = re.split(r"(?<=[.!])\s+", part.strip())
    if len(sentences) < 2 or not sentences[-1].endswith("?"):
        return "", part
    return " ".join(sentences[:-1]), sentences[-1]


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
