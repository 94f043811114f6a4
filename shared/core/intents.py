"""What kind of answer a question asks for, and whether a passage holds one.

"How long is the warranty?" asks for a duration, "How much does it cost?" for an amount of
money, "How fast ...?" for a speed, "How do I fix it?" for something to do. A passage that
repeats the question's words but holds no answer of that kind ("The Atlas is a cargo e-bike"
for "How much does the Atlas cost?") does not answer it, however rare the words it shares:
the kind is checked, not weighed. The kinds are those of any document (units, money, dates,
instructions); a question whose kind its words do not say (what, which, is, does, ...) is
not checked.
"""

from __future__ import annotations

import re
from enum import Enum

_N = r"(?:\d[\d.,]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|a|an)"
_DURATION_UNIT = r"(?:years?|months?|weeks?|days?|hours?|minutes?|seconds?|cycles?|yrs?|hrs?|mins?)\b"


def _measure(units: str) -> re.Pattern[str]:
    """A number followed by one of `units` ("25 km/h", "4.5 bar", "between 3.5 and 4.5 bar")."""
    return re.compile(rf"\d[\d.,]*\s?(?:-\s?\d[\d.,]*\s?)?(?:{units})(?![a-z])", re.IGNORECASE)


class AnswerKind(Enum):
    DURATION = re.compile(
        rf"\b{_N}\s*(?:-|to|or)?\s*(?:{_N}\s+)?(?:\w+\s+)?{_DURATION_UNIT}|\b(?:yearly|monthly|weekly|daily|"
        r"annual(?:ly)?|lifetime|every\s+\w+)\b|"
        # A table row under a unit's column: "Wedding: Days 2", "Period: Months 6".
        r"\b(?:years|months|weeks|days|hours|minutes)\s*:?\s+(?:up to\s+)?\d",
        re.IGNORECASE,
    )
    MONEY = re.compile(
        r"[$€£¥]\s?\d|\d\s?(?:[$€£]|euros?|eur|usd|dollars?|pounds?|cents?)\b|\b(?:no charge|no cost|free of charge|"
        r"copay\w*|coinsurance|deductible)\b|\d\s?%|"
        # "Delivery is free", "Cost: free." (free of charge); not "is free software" (free to use and share).
        r"\b(?:is|are|be|been|for|comes?|stays?|remains?|costs?)\s+free\b(?!\s+(?!(?:and|or|of|at|to|for|in|on|with|if|"
        r"when|from|until|within|during)\b)[a-z])|\bfree\s*(?:[.,;:)]|$)",
        re.IGNORECASE,
    )
    SPEED = _measure(r"km/h|kph|mph|m/s|km per hour|miles per hour")
    MASS = _measure(r"kg|g|lbs?|pounds?|tonnes?|t|kilograms?|grams?")
    DISTANCE = _measure(r"km|kilometres?|kilometers?|mi|miles?|m|metres?|meters?")
    POWER = _measure(r"W|kW|watts?|hp")
    CAPACITY = _measure(r"Wh|kWh|Ah|mAh|l|litres?|liters?|GB|TB|MB")
    PRESSURE = _measure(r"bar|psi|kPa|Pa")
    TEMPERATURE = _measure(r"°\s?[CF]|degrees?")
    QUANTITY = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|dozen|hundred)\b", re.I)
    TIME = re.compile(
        r"\d|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|"
        r"june|july|august|september|october|november|december|before|after|when|within|once|until|every|"
        r"daily|weekly|yearly)\b",
        re.IGNORECASE,
    )
    PERSON = re.compile(r"\b[A-Z][a-z]+\s+[A-Z][a-z]+|\bby\s+(?:the\s+)?[A-Z]")
    PLACE = re.compile(
        r"\b(?:in|at|from|on|under|near|inside|behind|to)\s+(?:the\s+)?[A-Z0-9]|"
        r"\b(?:in|at|on|under|inside|behind|near|beside)\s+(?:the|a|an|your|its)\s+\w|"
        # Where a program puts things: "all on standard output", "to stderr", "kept in memory".
        r"\b(?:in|on|to|into|from)\s+(?:standard\s+(?:output|error|input)|stdout|stderr|stdin|disk|memory)\b"
    )
    # A setting's value: a number, a path, a quoted or code-like token, an assignment, a yes or no.
    VALUE = re.compile(r"\d|(?:^|\s)/\w|\$[({]|[‘'\"`].+?[’'\"`]|=|\b(?:true|false|yes|no|none|null|empty)\b")
    # An instruction: a clause opening with a verb of doing, or one that says what you should or can do
    # ("Lost receipts can be replaced by ...").
    ACTION = re.compile(
        r"(?:^|[.:;!,]\s+)(?:please\s+)?(?:add|apply|ask|avoid|book|bring|call|charge|check|clean|connect|contact|"
        r"describe|disconnect|do|don't|dry|e-mail|email|ensure|fill|fit|follow|go|hold|inspect|install|keep|leave|"
        r"let|lubricate|make|measure|never|open|plug|press|pull|push|read|remove|replace|reseat|reset|restart|"
        r"return|rinse|select|send|set|sign|stop|store|submit|switch|take|tighten|turn|unplug|update|use|visit|"
        r"wait|wash|wipe|always)\b|\byou (?:should|must|can|need to|have to)\b|\b(?:should|must|can|needs? to) be\b",
        re.IGNORECASE,
    )

    def found_in(self, text: str) -> bool:
        return bool(self.value.search(text))

    @property
    def strict(self) -> bool:
        """A number, an amount or a measure is there or not: a passage without one does not answer.
        Times, places, people, instructions and values are said in too many ways to rule a passage out:
        they are preferred when some passage has one."""
        return self not in (AnswerKind.TIME, AnswerKind.PERSON, AnswerKind.PLACE, AnswerKind.ACTION, AnswerKind.VALUE)


_OPENING = r"^\W*(?:and |but |so )?"
# What the question's words say it asks for, first match wins.
_KINDS = (
    # "How long can a line be?" asks for a length, not a time.
    (r"\bhow long (?:can|may|might|should|must|could|will|would) (?:\w+ ){0,10}be\b", AnswerKind.QUANTITY),
    (
        r"\bhow (?:long|many (?:\w+ )?(?:years|months|weeks|days|hours|minutes))\b|\bhow (?:quickly|soon|often)\b|"
        r"\bwithin how\b|\bwarranty period\b|\bhow (?:far )?in advance\b|\bhow far (?:ahead|beforehand)\b",
        AnswerKind.DURATION,
    ),
    (
        r"\bhow much (?:\w+ ){0,8}(?:cost|charge|pay|fee|price)|\bwhat (?:\w+ ){0,2}(?:costs?|prices?|fees?)\b|"
        r"\b(?:price|cost|fee|copay\w*|deductible)s? (?:of|for)\b|^\W*(?:\w+ ){0,3}(?:price|cost|fee)s?\W*$",
        AnswerKind.MONEY,
    ),
    (r"\bhow fast\b|\bwhat (?:\w+ ){0,2}speed\b|\bat what speed\b|\bspeed\W*$", AnswerKind.SPEED),
    (r"\bhow heavy\b|\bweigh|\bwhat (?:\w+ ){0,2}(?:weight|payload)\b|\b(?:weight|payload)\W*$", AnswerKind.MASS),
    (r"\bhow far back\b", AnswerKind.TIME),  # "How far back does the data go?": to a year, not a distance
    (r"\bhow far\b|\bwhat (?:\w+ ){0,2}distance\b|\bdistance\W*$", AnswerKind.DISTANCE),
    # A range is of any numbers (a bike's in km, exit statuses' 0 to 255); "what does range return" names a function.
    (r"\bwhat (?!do\b|does\b|did\b)(?:\w+ ){0,2}range\b|\brange\W*$", AnswerKind.QUANTITY),
    (r"\bhow powerful\b|\bwhat (?:\w+ ){0,2}power\b", AnswerKind.POWER),
    (r"\bwhat (?:\w+ ){0,2}capacity\b|\bhow big is (?:\w+ ){0,3}battery\b", AnswerKind.CAPACITY),
    (r"\bwhat (?:\w+ ){0,2}pressure\b|\bhow much (?:\w+ ){0,3}inflate\b|\bpressure\W*$", AnswerKind.PRESSURE),
    (r"\bwhat (?:\w+ ){0,2}temperatures?\b|\bhow (?:hot|cold)\b|\bwhich temperatures\b", AnswerKind.TEMPERATURE),
    (
        r"\bhow (?:many|much|big|large|high|wide|old)\b|\bat what (?:level|charge|wear)\b|\b(?:what|which) "
        r"(?!do\b|does\b|did\b)(?:\w+ ){0,2}(?:resolution|port|number|version|percentage|ratio|frequency|size|"
        r"length|width|height|depth)\b",
        AnswerKind.QUANTITY,
    ),
    (
        _OPENING + r"(?:when|until when|by when|what time|(?:in )?which (?:year|day|month)|what (?:year|day|month))\b",
        AnswerKind.TIME,
    ),
    (_OPENING + r"(?:who|whom|by whom)\b", AnswerKind.PERSON),
    (
        r"\bwhat (?:\w+ ){0,2}(?:is|are|was|were|should|must) (?:the )?(?:\w+ )?values? of\b|\bwhat values?\b",
        AnswerKind.VALUE,
    ),
    (_OPENING + r"(?:where|from where|in which (?:city|country|place|town))\b", AnswerKind.PLACE),
    (
        r"\bhow (?:do|can|should|would) (?:i|we|you)\b(?! (?:know|reach|get (?:a|my)))|\bwhat (?:should|can|must|do) "
        r"(?:i|we|you) do\b|\bhow to\b",
        AnswerKind.ACTION,
    ),
)
_PATTERNS = tuple((re.compile(pattern, re.IGNORECASE), kind) for pattern, kind in _KINDS)


def answer_kind(question: str) -> AnswerKind | None:
    """The kind of answer `question` asks for, or None when its words do not say."""
    return next((kind for pattern, kind in _PATTERNS if pattern.search(question)), None)
