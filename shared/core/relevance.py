"""How relevant a passage is to a part of a question: the pieces of shared.core.answers' score.

A passage's relevance mixes the rarity-weighted share of the question's words it holds
(`QuestionWords.share`), the cosine similarity of their embeddings, and a little for saying the
question's neighbouring words together (`proximity`). Then two preferences narrow who competes:
a passage of the kind of answer asked for (`preferred`), and one naming what a "which X"
question asks for (`naming`), each when it is nearly as relevant as the best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from shared.core.passages import Passage

_CARRIED_WEIGHT = 0.5  # a word the question takes from the conversation, against one of its own
_CONTEXT_WEIGHT = 0.6  # a word of the question held by the passage's context only, against one it holds itself
_PREFERENCE_MARGIN = 0.2  # how much less relevant a passage of a preferred kind may be and still win
# Relevance added for saying the question's neighbouring words close together ("the default value of prefix"),
# as much as the share of its neighbouring pairs a passage holds within _NEAR content words of each other.
PROXIMITY_WEIGHT = 0.05
_NEAR = 2


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


@dataclass(frozen=True)
class QuestionWords:
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
    def of(
        cls, own: frozenset[str], carried: frozenset[str], keys: set[str], held: list[frozenset[str]]
    ) -> QuestionWords:
        everywhere = frozenset().union(*held)
        # A word no passage holds tells no passage from another; only a key word (a name, "the CEO")
        # still counts against them all: the documents may not hold what is asked.
        counted = {t for t in own | carried if t in everywhere or t in keys}
        rarity = rarities(frozenset(counted), held)
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


def proximity(pairs: frozenset[tuple[str, str]], sequence: list[str]) -> float:
    """The share of the question's neighbouring content words ("default value", "value [of] prefix") that a
    passage says close together: words spread over a long passage match less than a phrase."""
    if not pairs:
        return 0.0
    positions: dict[str, list[int]] = {}
    for position, term in enumerate(sequence):
        positions.setdefault(term, []).append(position)
    near = sum(any(abs(i - j) <= _NEAR for i in positions.get(a, ()) for j in positions.get(b, ())) for a, b in pairs)
    return near / len(pairs)


def naming(scored: list[Scored], names_it: list[bool]) -> list[Scored]:
    """The passages that name the thing a "which X" question asks for (in their words or context) compete alone
    when one of them is nearly as relevant as the best passage: the others say something else about the topic."""
    best = max((s.relevance for s in scored if s.fits), default=None)
    naming_best = max((s.relevance for s, n in zip(scored, names_it, strict=True) if s.fits and n), default=None)
    if best is None or naming_best is None or naming_best < best - _PREFERENCE_MARGIN:
        return scored
    return [s if n else replace(s, fits=False) for s, n in zip(scored, names_it, strict=True)]


def preferred(scored: list[Scored], named: list[bool]) -> list[Scored]:
    """A kind said in too many ways to be required (a time, a place, an instruction): the passages of that
    kind compete alone when one of them is nearly as relevant as the best passage; else every passage that
    names what is asked does ("be sure to terminate the driver with dev.off()" is an instruction no verb opens)."""
    best = max((s.relevance for s, n in zip(scored, named, strict=True) if n), default=None)
    kind_best = max((s.relevance for s in scored if s.fits), default=None)
    if best is None or (kind_best is not None and kind_best >= best - _PREFERENCE_MARGIN):
        return scored
    return [replace(s, fits=n) for s, n in zip(scored, named, strict=True)]


def rarities(query: frozenset[str], passages_terms: list[frozenset[str]]) -> dict[str, float]:
    """Each question word's weight: rare among the passages counts more; a word no passage
    holds counts most, so a question about something the sources never mention scores low."""
    count = len(passages_terms)
    return {t: math.log((count + 1) / (sum(t in p for p in passages_terms) + 0.5)) for t in query}
