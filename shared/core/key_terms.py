"""The words of a question that name what it asks about, found without a parser.

A name ("Zephyr", "E04", "Germany": a capitalized word or one with digits, past the first
word) says which thing is asked about; an answer that does not mention a name the sources hold
is about something else. A noun the question puts after an article, a possessive
pronoun, a quantifier or a preposition ("the CEO", "a student discount", "to Spain", "many employees")
says what is asked; when no retrieved passage holds it at all, the documents most likely do
not hold the answer either, and a passage must be very relevant to answer anyway. Verbs and
adverbs ("carry", "often", "fix") are left out: documents say them in other words.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")  # as the answers' terms are split: "e-bike" is "e" and "bike"
_BEFORE_NOUN_TEXT = """a an the my your our its their his her this that these those any some no which what whose many
    much few several every each other another in on at to from for of with by about through under over into after
    before near during without within between"""
_BEFORE_NOUN = frozenset(_BEFORE_NOUN_TEXT.split())
# Capitalized in English, but times rather than things a question is about.
_CALENDAR_TEXT = """monday mondays tuesday tuesdays wednesday wednesdays thursday thursdays friday fridays saturday
    saturdays sunday sundays january february march april may june july august september october november december"""
_CALENDAR = frozenset(_CALENDAR_TEXT.split())
_ADJECTIVE_SPAN = 2  # "a [cheap] [monthly] instalment": the noun may follow an adjective or two


def names(text: str) -> list[str]:
    """Capitalized words and words with digits, past the first word of each sentence."""
    found = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        words = _WORD.findall(sentence)
        found += [w for w in words[1:] if is_name(w)]
    return found


def is_name(word: str) -> bool:
    """Capitalized or with digits ("Zephyr", "E04"), not a day or a month."""
    return len(word) > 1 and (word[:1].isupper() or any(c.isdigit() for c in word)) and word.lower() not in _CALENDAR


def key_words(text: str) -> list[str]:
    """Names, and the words an article, possessive pronoun, quantifier or preposition puts a noun before."""
    words = _WORD.findall(text)
    lowered = [w.lower() for w in words]
    found = set(names(text))
    for position, word in enumerate(words):
        before = lowered[max(0, position - _ADJECTIVE_SPAN) : position]
        if len(word) > 1 and any(b in _BEFORE_NOUN for b in before) and lowered[position] not in _BEFORE_NOUN:
            found.add(word)
    return [w for w in words if w in found]
