"""A source's text as answer candidates: its sentences, list items and table rows.

Indexed chunks are flattened to one line (shared.ingest.chunking joins its units with
spaces), so structure is recovered from its marks: "| a | b |" runs are tables (a row per
group of cells, the first the header), "#" starts a heading, " - " a list item. A heading
or a question (an FAQ's) is not an answer itself but the context of what follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TABLE = re.compile(r"\|(?:[^|]*\|)+")
_SEPARATOR_CELL = re.compile(r":?-{2,}:?")
# Sentence ends, list items and headings: the boundaries of candidates within prose.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\s+(?=#{1,6}\s)|\s+[-*+]\s+(?=\S)")
_HEADING = re.compile(r"#{1,6}\s+")
# Where a flattened heading most likely ends: before the word opening its first sentence.
_FIRST_WORD = re.compile(r"\s(?=(?:The|A|An|This|These|Every|Each|Any|All|Our|Your|You|We|It|If|When)\s)")
_HEADING_WORDS = 10


@dataclass(frozen=True)
class Passage:
    source: int  # the source's number, as cited: [source]
    text: str  # what the answer shows
    context: str  # the heading, question or table header it sits under


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


def _prose(text: str, source: int, context: str, found: list[Passage]) -> str:
    """Adds the prose's sentences to `found`; returns the context in force at its end."""
    for piece in _BOUNDARY.split(" ".join(text.split())):
        if _HEADING.match(piece):
            heading, body = _split_heading(_HEADING.sub("", piece, count=1))
            context = heading
            piece = body
        if not piece:
            continue
        if piece.endswith("?"):  # an FAQ's question introduces its answer
            context = piece
        elif len(piece.split()) > 1:
            found.append(Passage(source, piece, context))
    return context


def _split_heading(text: str) -> tuple[str, str]:
    """(heading, the sentence run on after it) of a flattened heading line."""
    end = _FIRST_WORD.search(text)
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
    return [Passage(source, _row_text(header, row), table_context) for row in body]


def _row_text(header: list[str], row: list[str]) -> str:
    """A row as a sentence: "Battery: 2 years", or with more columns "Motor: Period 3 years; Cost free"."""
    first, *rest = row
    if len(rest) == 1:
        return f"{first}: {rest[0]}"
    named = [f"{name} {value}" for name, value in zip(header[1:], rest, strict=False)]
    return f"{first}: {'; '.join(named)}"
