"""A source's text as answer candidates: its sentences, list items and table rows, each with
what it needs to be read alone.

Structure is read from a chunk's lines and marks: shared.ingest.chunking starts a line at each
heading, list item, table row and paragraph; "| a | b |" runs are tables (a row per group of
cells, the first the header), "#" starts a heading, "- " a list item. A heading, a question (an
FAQ's) or a line in capitals is not an answer itself but the context of what follows it. A chunk
indexed before chunks kept their lines (or an Azure AI Search chunk made another way) is one
line: there a heading's end is guessed (`_split_heading`).

A candidate keeps its context in two ways. What it sits under (the heading, the list's lead-in,
the first sentence of its list item, a table's header and the row's group label) is its
`context`: scored with it, never quoted. The sentence a pronoun at its start points back to
("The Zephyr ships with 700x40c tyres. Keep *them* inflated ...") is quoted with it, so the
answer reads alone and says what the document says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TABLE = re.compile(r"\|(?:[^|]*\|)+")
_SEPARATOR_CELL = re.compile(r":?-{2,}:?")
# No sentence ends after a title or an abbreviation a name or a word follows ("Mr. Jansen", "e.g. Paris").
NOT_AFTER_ABBREVIATION = r"(?<!\b(?:Mr|Ms|Dr|St|Jr|Sr|vs)\.)(?<!\b(?:Mrs|Mme)\.)(?<!\bProf\.)(?<!\b(?:e\.g|i\.e)\.)"
# A sentence ends before a capital, a digit, or a command-line option a reference list defines ("0.8. --bw-threshold").
_SENTENCE_END = re.compile(
    rf"(?:(?<=[.!?])|(?<=[.!?][)\"'”’])){NOT_AFTER_ABBREVIATION}\s+(?=[\"'(\[“‘]?[A-Z0-9]|--?[a-z])"
)
# Headings and list items: where a block (a run of sentences read together) starts (a numbered heading,
# "## 4. Sick leave", is one heading, no list item).
_BLOCK = re.compile(r"\s+(?=#{1,6}\s)|\s+(?=[-*+•]\s+\S)|(?<!#)\s+(?=\d{1,2}\.\s+[A-Z])")
_HEADING = re.compile(r"#{1,6}\s+")
_ITEM = re.compile(r"(?:[-*+•]|\d{1,2}\.)\s+")
# Where a flattened heading most likely ends: before the word opening its first sentence.
_FIRST_WORD = re.compile(r"\s(?=(?:The|A|An|This|These|Every|Each|Any|All|Our|Your|You|We|It|If|When)\s)")
# Else: the first capitalized word after the heading's first that a lowercase word follows ("Making a claim Open a").
_SENTENCE_OPENING = re.compile(r"(?<=\S)\s(?=[A-Z][a-z'-]*\s+[a-z])")
_HEADING_WORDS = 10
# A heading that lost its mark (PDF, plain text): words in capitals opening the line ("REHABILITATION THERAPY").
_SHOUTED = re.compile(r"^((?:[A-Z][\w&/,'-]*\s+){0,8}?(?:[A-Z][A-Z&/'-]{2,}\s+){1,8}[A-Z][A-Z&/'-]{2,})(?:\s+|$)")
# Words that point back to the sentence before when they open a sentence (or follow its verb).
# The words before it are plain words ("Keep them"), not a term a definition list opens with ("--bw-threshold This").
_BACK = re.compile(r"^(?:[A-Za-z']+\s+){0,2}?(?:it|its|they|them|their|this|these|those|he|she|his|her)\b", re.I)
# A line of a table of contents or an index ("range . . . . . 15"): it points to an answer, holds none.
_DOT_LEADER = re.compile(r"(?:\.\s){3,}\.")
_BACK_WINDOW = 3  # words: "Keep them inflated", "Let it reach"


@dataclass(frozen=True)
class Passage:
    source: int  # the source's number, as cited: [source]
    text: str  # what the answer quotes
    context: str  # what it sits under (heading, lead-in, table header, row label): scored, never quoted
    title: str = ""  # the document's title: its words count as context, too general to embed with it
    # The section it is in: as the source names it (a PDF's, "7 Reading › 7.1 read.table()"), else the heading
    # over it in the text ("Version 3.2 (May 2026)").
    section: str = ""


def passages(text: str, source: int) -> list[Passage]:
    """Every answer candidate in a source's text, in reading order."""
    found: list[Passage] = []
    context = ""
    position = 0
    for table in _TABLE.finditer(text):
        context = _prose(text[position : table.start()], source, context, found)
        found.extend(_table_rows(table.group(0), source, context))
        position = table.end()
    _prose(text[position:], source, context, found)
    return found


def _prose(text: str, source: int, heading: str, found: list[Passage]) -> str:
    """Adds the prose's sentences to `found`; returns the heading in force at its end."""
    lead_in = ""  # a sentence ending in ":" introduces the list after it
    lines = [" ".join(line.split()) for line in text.splitlines()]
    one_line = len([line for line in lines if line]) == 1  # flattened: a heading runs on into its first sentence
    for block in (b for line in lines if line for b in _BLOCK.split(line)):
        is_item = bool(_ITEM.match(block))
        if _HEADING.match(block):
            unmarked = _HEADING.sub("", block, count=1)
            heading, block = _split_heading(unmarked) if one_line else (unmarked, "")
            lead_in = ""
        elif is_item:
            block = _ITEM.sub("", block, count=1)
        else:
            lead_in = ""
        heading, lead_in = _sentences(block, source, (heading, lead_in if is_item else ""), is_item, found)
    return heading


def _sentences(block: str, source: int, under: tuple[str, str], is_item: bool, found: list[Passage]) -> tuple[str, str]:
    """Adds a block's sentences; returns the heading and the list lead-in in force after it."""
    heading, lead_in = under
    first = ""  # a list item's first sentence: its subject ("E04: the speed sensor ...")
    previous = ""
    for sentence in _SENTENCE_END.split(block):
        shouted = _SHOUTED.match(sentence)
        if shouted:
            heading, sentence = shouted.group(1), sentence[shouted.end() :]
        if not sentence:
            continue
        if sentence.endswith("?"):  # an FAQ's question introduces its answer
            heading, previous, first = sentence, "", ""
            continue
        if len(sentence.split()) < 2 or _DOT_LEADER.search(sentence):
            continue
        backward = bool(previous and _BACK.match(sentence))
        quoted = f"{previous} {sentence}" if backward else sentence
        subject = first if first and not (backward and first == previous) else ""
        found.append(Passage(source, quoted, " ".join(c for c in (heading, lead_in, subject) if c), section=heading))
        if sentence.endswith(":"):
            lead_in = sentence
        if is_item:
            first = first or sentence
        previous = sentence
    return heading, lead_in


def _split_heading(text: str) -> tuple[str, str]:
    """(heading, the sentence run on after it) of a flattened heading line."""
    end = _FIRST_WORD.search(text) or _SENTENCE_OPENING.search(text)
    if end and len(text[: end.start()].split()) <= _HEADING_WORDS:
        return text[: end.start()], text[end.end() :]
    words = text.split()
    return (text, "") if len(words) <= _HEADING_WORDS else ("", text)


def _table_rows(table: str, source: int, context: str) -> list[Passage]:
    rows: list[list[str]] = [[]]
    for cell in (c.strip() for c in table.split("|")[1:-1]):
        if cell:
            rows[-1].append(cell)
        elif rows[-1]:  # "| |" between two rows of a flattened table
            rows.append([])
    rows = [r for r in rows if r and not all(_SEPARATOR_CELL.fullmatch(c) for c in r)]
    if len(rows) < 2:
        return []
    header, *body = rows
    table_context = " ".join(filter(None, (context, *header)))
    found = []
    group = ""  # a row holding only a label ("In-network") names the rows under it
    for row in body:
        if len(row) == 1:
            group = row[0]
            continue
        found.append(
            Passage(source, _row_text(header, row, group), f"{table_context} {group}".strip(), section=context)
        )
    return found


def _row_text(header: list[str], row: list[str], group: str) -> str:
    """A row as a sentence: "Battery: 2 years", or with more columns "Motor: Period 3 years; Cost free",
    its group's label kept with it ("Specialist visit (In-network): ...")."""
    first, *rest = row
    label = f"{first} ({group})" if group else first
    if len(rest) == 1:
        return f"{label}: {rest[0]}"
    named = [f"{name} {value}" for name, value in zip(header[1:], rest, strict=False)]
    return f"{label}: {'; '.join(named)}"
