"""The words of a question that name what it asks about, found without a parser.

A name ("Zephyr", "E04", "Germany": a capitalized word or one with digits, past the first
word) says which thing is asked about; an answer that does not mention a name the sources hold
is about something else. A noun the question puts after an article, a possessive pronoun, a
quantifier or a preposition ("the CEO", "a student discount", "to Spain", "many employees"), and
the subject of a yes-no question ("Are dogs allowed?"), says what is asked; when no retrieved
passage holds it at all, the documents most likely do not hold the answer either, and a passage
must be very relevant to answer anyway. Verbs and adverbs ("carry", "often", "fix") are left out:
documents say them in other words. A noun before the last noun of a phrase ("a tax refund") says
which kind of it is asked about, and the words after "which" or "what" ("Which prefix do ...?")
what the answer names.
"""

from __future__ import annotations

import re

# As the answers' terms are split: "e-bike" is "e" and "bike", "1.3.6.1.4.1.11591.15" one word.
_WORD = re.compile(r"\w+(?:[.,:/]\w+)*")
_BEFORE_NOUN_TEXT = """a an the my your our its their his her this that these those any some no which what whose many
    much few several every each other another in on at to from for of with by about through under over into after
    before near during without within between s"""  # s: a possessive's ("Brightwheel's revenue")
_BEFORE_NOUN = frozenset(_BEFORE_NOUN_TEXT.split())
# Capitalized in English, but times rather than things a question is about.
_CALENDAR_TEXT = """monday mondays tuesday tuesdays wednesday wednesdays thursday thursdays friday fridays saturday
    saturdays sunday sundays january february march april may june july august september october november december"""
_CALENDAR = frozenset(_CALENDAR_TEXT.split())
_AUXILIARIES_TEXT = """do does did is are was were be been have has had can could should would will may might must shall
    if when and or but than"""
_AUXILIARIES = frozenset(_AUXILIARIES_TEXT.split())  # and conjunctions
_QUESTION_WORDS = frozenset(("how", "when", "where", "why", "who", "whom"))  # "within how many days"
# Particles and adverbs a quantifier may precede ("how many days off", "how much further"), and "own" ("my own
# towel"): never things.
_PARTICLES_TEXT = "off up out back away down again ago also only still yet ever even too very often own"
_PARTICLES = frozenset(_PARTICLES_TEXT.split())
_ARTICLES = frozenset(("a", "an", "the", "my", "your", "our", "its", "their", "this", "these"))
_WHICH = re.compile(r"\b(?:which|what)\s+((?:[\w-]+\s+){0,2}[\w-]+)", re.IGNORECASE)
# What a "which/what X" question names the form of, not a thing: an answer gives it without the word
# ("In which year was it founded?": "founded in 2016").
_ANSWER_FORMS_TEXT = """time times year years day days date dates month months hour hours age ages kind kinds type types
    sort sorts way ways number numbers amount amounts"""
_ANSWER_FORMS = frozenset(_ANSWER_FORMS_TEXT.split())
# "Is there parking ...?", "there are lockers": what is said to exist is a noun.
_EXISTENTIAL = frozenset((("is", "there"), ("are", "there"), ("there", "is"), ("there", "are")))
_ADJECTIVE_SPAN = 2  # "a [cheap] [monthly] instalment": the noun may follow an adjective or two
# "Are dogs allowed ...?", "Is parking free?": the word after a yes-no question's opening verb is its
# subject, a thing, unless it is a pronoun ("Can I ...?", "Is it ...?").
_PRONOUNS_TEXT = "i me you we us they them he him she it one there"
_PRONOUNS = frozenset(_PRONOUNS_TEXT.split())
_CONJUNCTIONS_TEXT = "if when and or but than"
_CONJUNCTIONS = frozenset(_CONJUNCTIONS_TEXT.split())
_OPENING_VERBS = _AUXILIARIES - _CONJUNCTIONS
_INDEFINITE_TEXT = "anything something everything nothing anyone someone everyone anybody somebody everybody nobody"
_INDEFINITE_PRONOUNS = frozenset(_INDEFINITE_TEXT.split())
# "without deleting anything", "before riding", "by pressing": a verb in -ing these put before an action.
_ACTION_PREPOSITIONS = frozenset(("without", "before", "after", "by"))
_NEVER_NOUNS = _BEFORE_NOUN | _AUXILIARIES | _QUESTION_WORDS | _PARTICLES | _INDEFINITE_PRONOUNS
# A modifier follows an article, a possessive or an opening verb; neither it nor its noun is a function word.
_BEFORE_MODIFIER = _ARTICLES | _OPENING_VERBS
_NOT_MODIFIED = _PRONOUNS | _BEFORE_NOUN | _AUXILIARIES | _PARTICLES
_AFTER_PHRASE = _BEFORE_NOUN | _AUXILIARIES


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
        after = lowered[position + 1] if position + 1 < len(words) else ""
        introduced = (
            any(b in _BEFORE_NOUN for b in before) or tuple(before) in _EXISTENTIAL or _subject(lowered, position)
        )
        if len(word) > 1 and introduced and not _verb(lowered[position], before, after):
            found.add(word)
    return [w for w in words if w in found]


def _subject(lowered: list[str], position: int) -> bool:
    """The word after the auxiliary a yes-no question opens with ("Are dogs allowed?"), not a pronoun."""
    return position == 1 and lowered[0] in _OPENING_VERBS and lowered[1] not in _PRONOUNS


def _verb(word: str, before: list[str], after: str) -> bool:
    """Not a noun: a function word, an auxiliary, an indefinite pronoun ("anything"), a participle ("assembled"),
    an action after "without" or "before" ("without deleting"), a word an article follows ("which file holds
    the objects": nouns take no object), or a verb right after "what" ("what happens to")."""
    if word in _NEVER_NOUNS:
        return True
    # "what happens to", "what gets erased", "what happens when": a verb right after the question word
    asked = before[-1:] in (["what"], ["which"], ["who"]) and word.endswith("s")
    then = after in _CONJUNCTIONS  # "what happens when/if ..."
    gerund = word.endswith("ing") and before[-1:] != [] and before[-1] in _ACTION_PREPOSITIONS
    return _past(word) or gerund or (asked and (after in _BEFORE_NOUN or _past(after) or then)) or after in _ARTICLES


def asked_for(question: str) -> list[str]:
    """The words naming what a "which X" or "what X" question asks to be named: "Which prefix do the functions
    use?" asks for a prefix, "What license can short manuals use?" for a license ("What is ...?": none)."""
    match = _WHICH.search(question)
    words = []
    for word in _WORD.findall(match.group(1)) if match else ():
        if word.lower() in _BEFORE_NOUN or word.lower() in _AUXILIARIES:
            break
        if not is_answer_form(word):
            words.append(word)
    return words


def is_answer_form(word: str) -> bool:
    """A word naming the form of an answer ("days", "year", "kind"), not a thing."""
    return word.casefold() in _ANSWER_FORMS


def modifiers(question: str) -> list[tuple[str, str]]:
    """(modifier, noun) of each noun phrase that ends with a noun another word modifies, after an article,
    a possessive, a name or a verb like "is": "a tax refund when ...", "an Auto Multiple Choice site license?",
    "How long is parental leave?"."""
    words = _WORD.findall(question)
    said_names = set(names(question))
    return [
        (words[i], words[i + 1])
        for i in range(1, len(words) - 1)
        if (words[i - 1].lower() in _BEFORE_MODIFIER or words[i - 1] in said_names)
        and not {words[i].lower(), words[i + 1].lower()} & _NOT_MODIFIED
        and (i + 2 == len(words) or words[i + 2].lower() in _AFTER_PHRASE)
    ]


def _past(word: str) -> bool:
    """A participle in -ed ("assembled", "erased"), not a noun in -eed ("speed")."""
    return len(word) > 4 and word.endswith("ed") and not word.endswith("eed")
