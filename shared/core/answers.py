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
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import snowballstemmer

from shared.core.followups import Resolved, resolve
from shared.core.intents import answer_kind
from shared.core.interfaces import Embeddings
from shared.core.key_terms import asked_for, is_name, key_words, modifiers, names
from shared.core.passages import Passage, passages
from shared.core.relevance import PROXIMITY_WEIGHT, QuestionWords, Ranking, Scored, naming, preferred, proximity
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
# An acronym's plural ("DVDs", "CPUs"): the stemmer keeps its "s" (no vowel before it), so it is dropped first.
_ACRONYM_PLURAL = re.compile(r"\b([A-Z][A-Z0-9]*[A-Z0-9])s\b")
# ", and how ...", "; ", "? ": where a question goes on to ask something else.
_PART_BOUNDARY = re.compile(
    r",?\s+and\s+(?=(?:(?:in|into|on|at|to|for|by|with|under|of)\s+(?:which|what|whom)|"
    r"how|what|when|where|which|who|why|whether|is|are|do|does|can|could|should|up to|from)\b)"
    r"|\?\s+|;\s+",
    re.IGNORECASE,
)
# Two things asked about at once: "the normal and the uniform distributions", "exec_prefix and of bindir".
_CONJUNCTS = re.compile(r"\b(\w+)\s+(?:and|or)\s+(?:of\s+)?(?:the\s+|a\s+|an\s+)?(\w+)", re.IGNORECASE)
_PASSAGES_PER_PART = 2  # a part's best passage and, when it scores nearly as well, the next one
_ALTERNATIVE_MARGIN = 0.1
_REPEAT_PENALTY = 0.1  # a passage the previous answer quoted
# The share of the question's own content words the best passage must hold: one rare word (a
# product the documents only name) is not enough to answer a question about something else.
MIN_COVERAGE = 0.3
# A passage whose meaning is this much closer to the question than the relevance bar asks answers it
# in other words ("an annual fee" for "cost per year"): its few shared words are no sign it is about
# something else.
PARAPHRASE_MARGIN = 0.2
# How much more relevance is needed when a key word of the question ("the CEO", "to Spain") is in no
# retrieved passage: the documents most likely do not hold what is asked.
UNHELD_MARGIN = 0.06
_DAYS_OF = {"weekend": ("saturday", "sunday"), "weekday": ("monday", "tuesday", "wednesday", "thursday", "friday")}
_STEM_CACHE = 65536  # words
_EMBEDDING_CACHE = 4096  # passages: chunks repeat across questions, their vectors need not be recomputed


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
        answered = ""  # what the part before was answered with
        for number, part in enumerate(parts):
            ranking = await self.rank(part, sources, _part_of(question, parts, number, answered))
            scored = [s for s in ranking.scored if s.fits]
            conjuncts = self._conjuncts(part)
            # One of two things asked about at once that no passage names ("alpha and beta"): not answered by half.
            if not scored or ranking.unnamed or conjuncts & ranking.missing:
                continue
            if not self.answers(scored[0], ranking.unheld):
                continue
            close = [s for s in scored[:_PASSAGES_PER_PART] if s.relevance >= scored[0].relevance - self._margin]
            thing = {self._stem(w) for w in asked_for(part)}
            for candidate in close + self._other_conjuncts(conjuncts, close, scored):
                chosen = _with(chosen, self._labelled(candidate, thing, chosen))
            answered = " ".join(s.passage.text for s in close)
        return list(chosen.values())[: self._max_passages]

    def _labelled(self, candidate: Scored, thing: set[str], chosen: dict[str, Scored]) -> Scored:
        """A passage that answers "which X?" where only its heading names the X ("7.1 The read.table()
        function" over "To read an entire data frame directly, ...", "Version 3.2 (May 2026)" over "Fixed
        a bug where ...") is quoted with that heading as its label, once per answer."""
        passage = candidate.passage
        unsaid = thing - self._terms(passage.text)
        if not unsaid:
            return candidate
        # The section's own heading only: a lead-in or a table's header reads badly as a label.
        label = passage.section.rsplit(" › ", 1)[-1]
        named = label and not label.endswith("?") and unsaid & self._terms(label)
        opening = f"{label.rstrip(' :')}: "
        if not named or any(text.startswith(opening) for text in chosen):
            return candidate
        return replace(candidate, passage=replace(passage, text=opening + passage.text))

    async def rerank(self, question: Resolved, sources: Sequence[Source], count: int) -> tuple[Source, ...]:
        """The `count` sources whose best passage is most relevant to the question, best first (a tie keeps the
        search's order): a few more chunks are searched than are returned, and the passage scores rerank them,
        as a semantic ranker reranks a search's results (the search ranks chunks, not what answers)."""
        if len(sources) <= count:
            return tuple(sources)
        best: dict[int, float] = {}
        for scored in (await self.rank(question.question, sources, question)).scored:
            best.setdefault(scored.passage.source, scored.relevance)
        order = sorted(range(len(sources)), key=lambda i: -best.get(i + 1, -math.inf))
        return tuple(sources[i] for i in order[:count])

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
        paraphrase = best.similarity >= self.min_relevance + PARAPHRASE_MARGIN
        return best.relevance >= threshold and (best.coverage >= self.min_coverage or paraphrase)

    async def rank(self, part: str, sources: Sequence[Source], question: Resolved | None = None) -> Ranking:
        """Every distinct passage of the sources with its relevance to a part of the question, best first.

        The part's own words count fully, the words it takes from the conversation (and from a
        statement before the question: "My bike is a Zephyr. How long ...?") half; a passage
        the previous answer already gave counts less (a follow-up asks for something new)."""
        candidates = _candidates(sources)
        if not candidates:
            return Ranking([], False)
        background, asked = _background(part)
        carried = " ".join((background, *((*question.carried, *question.referents) if question else ())))
        sequences = [self._sequence(p.text) for p in candidates]  # each passage's own words, in order
        quoted = [_with_days(frozenset(sequence)) for sequence in sequences]
        held = [terms | self._terms(f"{p.title} {p.context}") for p, terms in zip(candidates, quoted, strict=True)]
        words = QuestionWords.of(
            self._terms(asked), self._terms(carried), {self._stem(w) for w in key_words(asked)}, held
        )
        said_names = (
            [*names(asked), *(w for w in question.carried if is_name(w))]
            if question and question.points_back
            else names(asked)
        )
        asked_names = {self._stem(n) for n in said_names}
        own_words = self._sequence(asked)
        pairs = frozenset(zip(own_words, own_words[1:], strict=False))
        texts = [scored_text(p) for p in candidates]
        similarity = await self._similarities(f"{asked} {carried}".strip(), texts)
        if question and question.restated:
            # "And a book?" embeds as little; "How long can I keep a book?" as what it asks: the better of both.
            similarity = np.maximum(similarity, await self._similarities(question.restated, texts))
        kind = answer_kind(part) or (question.kind if question else None)
        previous = question.previous_answer if question else ""
        scored, named = [], []
        for passage, sequence, own_text, terms, cosine in zip(
            candidates, sequences, quoted, held, similarity, strict=True
        ):
            lexical = words.share(terms, own_text)
            relevance = self._lexical_weight * lexical + (1 - self._lexical_weight) * float(cosine)
            relevance += PROXIMITY_WEIGHT * proximity(pairs, sequence)
            if previous and passage.text in previous:
                relevance -= _REPEAT_PENALTY
            names_held = asked_names & words.everywhere <= terms
            fits = (kind is None or kind.found_in(passage.text)) and names_held
            scored.append(Scored(passage, relevance, lexical, float(cosine), words.coverage(terms), fits))
            named.append(names_held)
        if kind and not kind.strict:
            scored = preferred(scored, named)
        thing = {self._stem(w) for w in asked_for(asked)}
        if thing:
            scored = naming(scored, [bool(thing & terms) for terms in held])
        ranked = sorted(scored, key=lambda s: s.relevance, reverse=True)
        missing = words.keys - words.everywhere
        # A kind of a thing no passage holds ("a tax refund" where they speak of refunds): they speak of others.
        other_kind = any(
            self._stem(m) not in words.everywhere and self._stem(n) in words.everywhere for m, n in modifiers(asked)
        )
        return Ranking(ranked, bool(missing), other_kind or not asked_names <= words.everywhere, missing)

    def _stem(self, word: str) -> str:
        return self._stem_word(_ACRONYM_PLURAL.sub(r"\1", word).lower())

    def _sequence(self, text: str) -> list[str]:
        """A text's content words, stemmed, in order."""
        words = _WORD.findall(_ACRONYM_PLURAL.sub(r"\1", text).lower())
        return [self._stem_word(w) for w in words if w not in _STOPWORDS]

    def _terms(self, text: str) -> frozenset[str]:
        return frozenset(self._sequence(text))

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


def _with_days(terms: frozenset[str]) -> frozenset[str]:
    """A passage's terms with the days it speaks of: "weekends" are Saturdays and Sundays, "weekdays"
    Monday to Friday ("What time does the gym open on Saturday?")."""
    days = [day for period, named in _DAYS_OF.items() if period in terms for day in named]
    return terms | frozenset(days) if days else terms


def _part_of(question: Resolved, parts: list[str], number: int, answered: str) -> Resolved:
    """What a part of the question is asked with: the whole question's conversation when it is the
    only part; else its own kind, and a later part that points back ("..., and when do they need
    replacing?") takes the words of the part before it, as a follow-up takes the conversation's, and
    may mean what that part was answered with ("Which server ..., and where are uploads for it placed?")."""
    if len(parts) == 1:
        return question
    if not number:
        return replace(question, kind=None)
    inside = resolve(parts[number], [Message("user", parts[number - 1])])
    said = {w.casefold() for w in _WORD.findall(f"{parts[number - 1]} {parts[number]}")}
    referents = [w for w in _WORD.findall(answered) if w.casefold() not in said] if inside.points_back else []
    return replace(
        question,
        carried=(*question.carried, *inside.carried),
        kind=None,
        referents=(*question.referents, *dict.fromkeys(referents)),
    )


def _candidates(sources: Sequence[Source]) -> list[Passage]:
    unique: dict[str, Passage] = {}
    for number, source in enumerate(sources, start=1):
        # The document's title and the section the chunk sits under (PDFs), above the headings in its text.
        document = source.fields.get("title") or ""
        section = source.fields.get("section") or ""
        title = " ".join(filter(None, (document, _acronym(document), section)))
        for passage in passages(source.text, number):
            # Overlapping chunks repeat sentences: each is a candidate once.
            unique.setdefault(passage.text, replace(passage, title=title, section=section or passage.section))
    return list(unique.values())


def _with(chosen: dict[str, Scored], candidate: Scored) -> dict[str, Scored]:
    """The chosen passages with `candidate`, said once: overlapping chunks cut the same sentence at
    different places, and a sentence is also a candidate with the one its pronoun points back to.
    A candidate a chosen passage holds whole adds nothing; one that holds chosen passages whole
    takes their place (it says what they say, and more)."""
    core = _core(candidate.passage.text)
    if any(core in _core(text) for text in chosen):
        return chosen
    held = [text for text in chosen if _core(text) in core]
    if not held:
        return {**chosen, candidate.passage.text: candidate}
    first = held[0]  # the longer passage takes the first one's place in the answer
    return {
        (candidate.passage.text if text == first else text): (candidate if text == first else scored)
        for text, scored in chosen.items()
        if text == first or text not in held
    }


def _core(text: str) -> str:
    return text.rstrip(" .!").casefold()


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


def cited(passage: Passage) -> str:
    text = passage.text.rstrip()
    end = text[-1] if text[-1] in ".!" else "."
    return f"{text.rstrip('.!')} [{passage.source}]{end}"
