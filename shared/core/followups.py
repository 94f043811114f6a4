"""Whether a follow-up question needs the conversation to be searched for, decided without a model.

A question is searched as it was asked unless it leans on the conversation, which it does when
- it continues the previous question: it opens with "and", "but", "what about", "how about", ...
  ("And the motor?", "What about shipping it back?");
- it points back: a pronoun or demonstrative ("How do I fix it?", "Is that with the battery?",
  "Which one is for children?"), or "there" that is not "is there";
- it has almost no words of its own: fewer than two content words ("How much?", "Why not?").

English "that" after a content word starts a relative clause ("a battery that has been charged"),
not a reference; "is there" and German "gibt es" are existential. Articles that double as
pronouns (Dutch "het", German "das") are left to the third rule: "Hoeveel kost het?" has one
content word.

Words are read in the question's language, the one whose function and referring words it uses
most: English, and the languages of the sample company's customers, Dutch and German (the
corpus is English; the embedder is multilingual). A question in another language reads as
English with every word its own: only a short one counts as leaning on the conversation.

`resolve` is the one way a follow-up is understood, whatever API it came through and before
anything is searched or answered: the question keeps its own words and takes from the conversation
the content words of the earlier questions it continues (its topic: "How do I fix it?" after "What
does error E04 mean?" is about E04) and, when it is elliptical ("And the battery?", "What about
shipping it back?"), the kind of answer the earlier question asked for (how long, how much, ...).
A question that stands on its own (a topic switch) takes nothing. `expanded_query`, the question
with those words, is how such a follow-up is searched without a model call: cheap, and for a small
model better than its own rewrite (docs/performance.md, "Follow-up questions").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shared.core.intents import AnswerKind, answer_kind
from shared.core.key_terms import is_answer_form, is_name, key_words, names
from shared.core.types import Message

_CITATION = re.compile(r"\[\d+\]")  # an answer's [n]: not a name

# model: the model rewrites a follow-up that needs the conversation; expand: such a follow-up is
# searched with the earlier questions' words added, no model call; always: the model rewrites
# every follow-up (the behaviour before the decision).
RewriteMode = Literal["model", "expand", "always"]

FOLLOWUP_HISTORY = 6  # latest messages a follow-up is read with: it refers to recent turns
_WORD = re.compile(r"\w+", re.UNICODE)
_MIN_CONTENT_WORDS = 2
# The words a question of its own opens with (English, Dutch, German): wh-words and auxiliaries.
_QUESTION_OPENERS_TEXT = """what which who whom whose when where why how is are was were do does did can could will
    would should shall has have had may might must wat welke welk wie waar wanneer waarom hoe hoeveel ben bent heeft
    hebben kan kun kunt zal zou moet mag welche welcher welches wer wo wann warum wieviel bin bist sind hat habe
    haben kann können wird soll muss darf"""
_QUESTION_OPENERS = frozenset(_QUESTION_OPENERS_TEXT.split())


@dataclass(frozen=True)
class _Language:
    function_words: frozenset[str]  # say nothing of what is asked about
    referring: frozenset[str]  # point back into the conversation wherever they stand
    relative: frozenset[str]  # refer unless they follow a content word (then they start a clause)
    existential: frozenset[tuple[str, str]]  # word pairs in which the referring word refers to nothing
    continuations: tuple[tuple[str, ...], ...]  # openings that carry on from the previous question

    @functools.cached_property
    def closed_class(self) -> frozenset[str]:
        return self.function_words | self.referring | self.relative


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ENGLISH = _Language(
    function_words=_words(
        """a an the and or but if so than of in on at to for from by with without about into over under
        after before during up down out off as is are was were be been being am do does did have has had
        can could will would shall should may might must i me my we us our you your what which who whom
        whose when where why how whether not no yes any some all each every more most much many few also
        just only very too please tell know get need want else other another long often far soon
        then here"""
    ),
    referring=_words("it its itself they them their theirs he him his she her this these those one ones same there"),
    relative=_words("that"),
    existential=frozenset({("is", "there"), ("are", "there"), ("was", "there"), ("were", "there")}),
    continuations=(("and",), ("but",), ("also",), ("or",), ("what", "about"), ("how", "about"), ("what", "if")),
)
_DUTCH = _Language(
    function_words=_words(
        """de het een en of maar ook is zijn was waren ben bent heb hebt heeft hebben kan kun kunt kunnen
        wil wilt zal zou moet moeten mag ik je jij u we wij mijn jouw uw ons onze van in op aan met voor
        naar bij uit over om tot door zonder wat welke welk wie waar wanneer waarom hoe hoeveel lang vaak
        niet geen ja nee er dan als nog al wel zo te zit"""
    ),
    referring=_words(
        """hij zij ze hem haar hun dit deze daar dezelfde hetzelfde ervan erop ermee ervoor erover daarvan
        daarop daarmee daarvoor daarover"""
    ),
    relative=_words("dat die"),
    existential=frozenset({("is", "er"), ("zijn", "er")}),
    continuations=(("en",), ("maar",), ("ook",), ("of",), ("hoe", "zit", "het", "met"), ("wat", "als")),
)
_GERMAN = _Language(
    function_words=_words(
        """der die das den dem des ein eine einen einem einer eines und oder aber auch ist sind war waren
        bin bist hat habe hast haben kann kannst können will wird werden soll sollte muss müssen darf ich
        du wir mein meine sein von in im auf an am mit für nach bei aus über um zu zum zur bis durch ohne
        was welche welcher welches wer wo wann warum wie viel viele lange oft nicht kein keine ja nein
        dann wenn noch schon so man gibt"""
    ),
    referring=_words(
        """es er ihn ihm dies diese dieser dieses diesem diesen dort dafür dazu damit davon darauf darüber
        daran dasselbe derselbe dieselbe"""
    ),
    relative=frozenset(),  # der, die, das are articles far more often than they refer: left out
    existential=frozenset({("gibt", "es")}),
    continuations=(("und",), ("aber",), ("auch",), ("oder",), ("was", "ist", "mit"), ("wie", "ist", "es", "mit")),
)
_LANGUAGES = (_ENGLISH, _DUTCH, _GERMAN)  # English first: it wins a tie


def _language(words: Sequence[str]) -> _Language:
    """The language whose closed-class words (function and referring words) the question uses most."""
    return max(_LANGUAGES, key=lambda language: sum(w in language.closed_class for w in words))


def _refers(words: Sequence[str], position: int, language: _Language) -> bool:
    word = words[position]
    before = words[position - 1] if position else ""
    if (before, word) in language.existential:
        return False
    if word in language.relative:
        return not before or before in language.function_words
    return word in language.referring


def _content_words(words: Sequence[str], language: _Language) -> list[str]:
    """The words that name what is asked about: no function word, no reference, no lone letter."""
    return [w for w in words if w not in language.closed_class and (len(w) > 1 or w.isdigit())]


def needs_conversation(question: str, history: Sequence[Message]) -> bool:
    """Whether `question` can only be understood with the conversation before it (see the module)."""
    if not any(m.role == "user" for m in history):
        return False
    words = _WORD.findall(question.casefold())
    language = _language(words)
    if _elliptical(words, language):
        return True
    return any(_refers(words, i, language) for i in range(len(words)))


def _elliptical(words: Sequence[str], language: _Language) -> bool:
    """It continues the previous question ("And the motor?") or has almost no words of its own ("Why not?")."""
    return _continues(words, language) or len(_content_words(words, language)) < _MIN_CONTENT_WORDS


def _continues(words: Sequence[str], language: _Language) -> bool:
    return any(tuple(words[: len(opening)]) == opening for opening in language.continuations)


@dataclass(frozen=True)
class Resolved:
    """A question as the turn understands it: its own words, and what it takes from the conversation."""

    question: str
    carried: tuple[str, ...] = ()  # content words of the earlier questions it continues
    kind: AnswerKind | None = None  # the kind of answer it asks for, its own or the earlier question's
    previous_answer: str = ""  # the answer it follows: a follow-up asks for something else
    # It points back with a pronoun ("How much does it cost?" after a question about the Zephyr): the names it
    # takes stand for its "it", and an answer must mention them, as it must the names the question says.
    points_back: bool = False
    # When it points back, the names of the answer it follows: "there" or "one" may stand for one of them
    # ("Can I test ride one there?" after "... assembled in Eindhoven"). Counted like carried words, never required.
    referents: tuple[str, ...] = ()
    # An elliptical follow-up as the question it continues, with its new thing in the old one's place ("And a
    # book?" after "How long can I keep a DVD?": "How long can I keep a book?"): what answers read it as.
    restated: str = ""

    @property
    def search_text(self) -> str:
        return " ".join((self.question, *self.carried, *self.referents))


def resolve(question: str, history: Sequence[Message]) -> Resolved:
    """`question` with what it takes from `history` (see the module): nothing when it stands on its own."""
    own_kind = answer_kind(question)
    if not needs_conversation(question, history):
        return Resolved(question, kind=own_kind)
    questions = [m.content for m in history if m.role == "user"]
    answers = [m.content for m in history if m.role == "assistant"]
    carried = _carried(question, _as_restated(questions))
    words = _WORD.findall(question.casefold())
    language = _language(words)
    elliptical = _elliptical(words, language)
    if elliptical and names(question):
        # "And E01?" after "What does E07 mean?": the new name takes the old one's place.
        carried = [w for w in carried if not is_name(w)]
    points_back = not _continues(words, language) and any(_refers(words, i, language) for i in range(len(words)))
    previous = answers[-1] if answers else ""
    said = {w.casefold() for w in (*words, *carried)}
    referents = [n for n in names(_CITATION.sub("", previous)) if n.casefold() not in said] if points_back else []
    return Resolved(
        question,
        tuple(carried),
        own_kind or _inherited_kind(question, questions),
        previous,
        points_back=points_back,
        referents=tuple(dict.fromkeys(referents)),
        restated=_restated(question, questions) if elliptical else "",
    )


def _as_restated(questions: Sequence[str]) -> list[str]:
    """The questions, each elliptical one as restated: "Can I renew it?" after "How long can I keep a DVD?",
    "And a book?" is about the book, not the DVD."""
    restated: list[str] = []
    for earlier in questions:
        words = _WORD.findall(earlier.casefold())
        restated.append((_elliptical(words, _language(words)) and _restated(earlier, restated)) or earlier)
    return restated


def _restated(question: str, questions: Sequence[str]) -> str:
    """The latest earlier question that stands on its own, a key word replaced by the follow-up's ("the frame
    warranty" -> "the battery warranty"); empty when either names no thing."""
    new = key_words(question)
    for earlier in reversed(questions):
        words = _WORD.findall(earlier.casefold())
        if _elliptical(words, _language(words)):
            continue
        old = [w for w in key_words(earlier) if not is_answer_form(w)]  # "how many days": the days stay
        if not new or not old:
            return ""
        # A name takes a name's place ("And E01?" after "What does error E04 mean?"), a noun a noun's if it can.
        replaced = next((w for w in old if is_name(w) == is_name(new[0])), old[0])
        return re.sub(rf"(?<!\w){re.escape(replaced)}(?!\w)", " ".join(new), earlier, count=1)
    return ""


def _inherited_kind(question: str, questions: Sequence[str]) -> AnswerKind | None:
    """A fragment ("And the battery?", "What about shipping it back?", "Tyre pressure?") asks what the
    question before it asked (and that one, if a fragment too); a question of its own ("What does it
    include?") asks its own."""
    for position in range(len(questions) - 1, -1, -1):
        words = _WORD.findall(question.casefold())
        language = _language(words)
        continues = any(tuple(words[: len(opening)]) == opening for opening in language.continuations)
        if not (continues or (_elliptical(words, language) and words[:1] and words[0] not in _QUESTION_OPENERS)):
            return None
        question = questions[position]
        if kind := answer_kind(question):
            return kind
    return None


def expanded_query(question: str, history: Sequence[Message]) -> str:
    """The question followed by the content words of the earlier questions it continues."""
    return resolve(question, history).search_text


def _carried(question: str, questions: Sequence[str]) -> list[str]:
    """The content words of the latest earlier question, and when that one leaned on the
    conversation too, of the one before it, back to a question that stood on its own: "And the
    battery?" after "And the motor?" after "How long is the frame warranty?" takes all three."""
    seen = set(_WORD.findall(question.casefold()))
    added: list[str] = []
    for position in range(len(questions) - 1, -1, -1):
        earlier = questions[position]
        words = _WORD.findall(earlier)
        folded = [w.casefold() for w in words]
        content = set(_content_words(folded, _language(folded)))
        for word, key in zip(words, folded, strict=True):
            if key in content and key not in seen:
                seen.add(key)
                added.append(word)
        if not needs_conversation(earlier, [Message("user", q) for q in questions[:position]]):
            break
    return added
