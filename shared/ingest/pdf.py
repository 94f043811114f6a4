"""A PDF's text read from its layout (pdfminer.six), the way a reader sees the page.

Each line comes with its position, size and font, which tell what plain text extraction
loses: the running header or footer that repeats on every page (with its page number) is
dropped; a line set larger or in bold type is a heading, which becomes the section of the
text under it instead of part of it; lines whose cells line up in columns are a table, each
row written out with its column labels ("Distribution: beta; R name: beta; …") so that a
row read alone is still understood; a word hyphenated at the end of a line is joined again.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

_BOLD = re.compile(r"Bold|Black|Heavy|Semibold|Demi|CMBX?\d|BX\d", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(\d{1,4})(?![\w.])")
_ROMAN = re.compile(r"^[ivxlcdm]+$", re.IGNORECASE)
_NUMBERED_HEADING = re.compile(r"^(?:\d+(?:\.\d+)*|[A-Z](?:\.\d+)+|Appendix [A-Z])\.?\s+\S")
_DOT_LEADER = re.compile(r"\.\s?\.\s?\.")
# A line of a table of contents or an index ("var . . . . . 9, 18"): it says where an answer is, holds none,
# and would take a passage's place among the sources of every question that names its entries.
_CONTENTS_LINE = re.compile(r"(?:\.\s?){4,}|(?:\.\s)+\s*\d+$")
_HYPHENATED = re.compile(r"([A-Za-z]+)-$")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")

_HEADING_SIZE = 1.12  # times the body text's size
_HEADING_WORDS = 14
_FURNITURE_ROWS = 2  # rows at the top and at the bottom of a page that may be a running header or footer
_COLUMN_SLACK = 4.0  # points: cells starting this close are in one column
_SHORT_LINE = 60  # characters: a list item or a table row, not a line of a paragraph
# A line ending with one of these words goes on on the next line ("Thus", "will give NaN and a warning, but"):
# a sentence around a displayed expression, not an item of a list.
_GOES_ON_TEXT = "a an the and or but nor of to in on at by for with from as that which thus so if than then"
_GOES_ON = frozenset(_GOES_ON_TEXT.split())
_PARAGRAPH_GAP = 0.75  # times the body size: more space than this between two lines starts a paragraph


@dataclass
class Row:
    """One line of a page: its cells (text runs that pdfminer found apart) from left to right."""

    top: float
    bottom: float
    cells: list[tuple[float, str]]  # (left edge, text)
    size: float
    bold: bool
    font: str

    @property
    def text(self) -> str:
        return " ".join(text for _, text in self.cells)

    @property
    def left(self) -> float:
        return self.cells[0][0]


@dataclass
class Table:
    """A table's column edges and labels, for a table that goes on on the next page."""

    columns: list[float]
    labels: list[str] | None


@dataclass
class Block:
    """A run of one page's text under one heading."""

    page: int
    section: str | None
    lines: list[str] = field(default_factory=list)


def read_rows(data: bytes) -> list[list[Row]]:
    """Every page's rows, top to bottom."""
    from pdfminer.high_level import extract_pages  # deferred: only ingestion reads PDFs
    from pdfminer.layout import LAParams

    return [_page_rows(page) for page in extract_pages(io.BytesIO(data), laparams=LAParams())]


def _page_rows(page) -> list[Row]:
    from pdfminer.layout import LTChar, LTTextLine

    lines = sorted(_text_lines(page, LTTextLine), key=lambda line: (-line.y1, line.x0))
    rows: list[Row] = []
    for line in lines:
        text = " ".join(line.get_text().split())
        chars = [c for c in line if isinstance(c, LTChar)]
        if not text or not chars:
            continue
        row = next((r for r in reversed(rows[-3:]) if _same_line(r, line)), None)
        bold = sum(bool(_BOLD.search(c.fontname.split("+")[-1])) for c in chars) >= 0.8 * len(chars)
        if row is None:
            font = Counter(c.fontname for c in chars).most_common(1)[0][0]
            rows.append(Row(line.y1, line.y0, [(line.x0, text)], max(c.size for c in chars), bold, font))
        else:
            row.cells = sorted([*row.cells, (line.x0, text)])
            row.bold = row.bold and bold
    return rows


def _text_lines(container, kind) -> Iterator:
    for item in container:
        if isinstance(item, kind):
            yield item
        elif hasattr(item, "__iter__"):
            yield from _text_lines(item, kind)


def _same_line(row: Row, line) -> bool:
    overlap = min(row.top, line.y1) - max(row.bottom, line.y0)
    return overlap > 0.5 * min(row.top - row.bottom, line.y1 - line.y0)


def body_size(pages: list[list[Row]]) -> float:
    sizes = Counter(round(r.size, 1) for rows in pages for r in rows for _ in r.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def drop_furniture(pages: list[list[Row]]) -> list[list[Row]]:
    """The pages without their running headers and footers: a row near the top or bottom that
    repeats on three pages or more (numbers aside), holds the printed page number, or is only a number."""
    candidates = [rows[:_FURNITURE_ROWS] + rows[-_FURNITURE_ROWS:] for rows in pages]
    repeats = Counter(key for rows in candidates for key in {_furniture_key(r) for r in rows})
    offset = _page_number_offset(candidates)

    def furniture(index: int, row: Row) -> bool:
        if len(row.text) > 120:
            return False
        numbers = {int(n) for n in _NUMBER.findall(row.text)}
        only_number = all(_NUMBER.fullmatch(t) or _ROMAN.match(t) or t in "/-–|" for t in row.text.split())
        return only_number or repeats[_furniture_key(row)] >= 3 or (offset is not None and index - offset in numbers)

    dropped = {id(r) for i, rows in enumerate(candidates, start=1) for r in rows if furniture(i, r)}
    return [[r for r in rows if id(r) not in dropped] for rows in pages]


def _furniture_key(row: Row) -> str:
    words = [w for w in row.text.casefold().split() if not (_NUMBER.fullmatch(w) or _ROMAN.match(w))]
    return " ".join(_NUMBER.sub("#", " ".join(words)).split())


def _page_number_offset(candidates: list[list[Row]]) -> int | None:
    """How the printed page numbers relate to the PDF's (page index minus printed number), if they do."""
    offsets = Counter(
        index - int(n)
        for index, rows in enumerate(candidates, start=1)
        for n in {n for r in rows for n in _NUMBER.findall(r.text)}
    )
    if not offsets:
        return None
    offset, pages = offsets.most_common(1)[0]
    return offset if pages >= max(3, len(candidates) // 4) else None


def is_heading(row: Row, body: float) -> bool:
    """A line of its own, of a few words: set larger than the text, or in bold and numbered."""
    words = row.text.split()
    if len(row.cells) > 1 or not 1 <= len(words) <= _HEADING_WORDS or not any(c.isalpha() for c in row.text):
        return False
    if _DOT_LEADER.search(row.text):  # a line of the table of contents
        return False
    if row.size >= body * _HEADING_SIZE:
        return not row.text.endswith((",", ";", ":"))
    return row.bold and bool(_NUMBERED_HEADING.match(row.text)) and not row.text.endswith((".", ",", ";", ":"))


def blocks(pages: list[list[Row]]) -> list[Block]:
    """The document's text by page and section, tables written out row by row."""
    body = body_size(pages)
    words = [w.casefold() for rows in pages for r in rows for w in _WORD.findall(r.text)]
    vocabulary = Counter(words) + Counter(w.split("-")[0] + "-" for w in words if "-" in w)
    found: list[Block] = []
    headings: list[tuple[float, str]] = []  # the open headings, outermost first: (size, text)
    table: Table | None = None  # the last table of the page before
    for number, rows in enumerate(pages, start=1):
        rows = [r for r in rows if not _CONTENTS_LINE.search(r.text)]
        block = Block(number, _section(headings))
        found.append(block)
        last = ""
        carried = table if table and table.labels else None
        table = None
        for kind, run in _runs(rows, body):
            if kind == "heading":
                headings = _open_heading(headings, run[0], continued=last == "heading")
                block = Block(number, _section(headings))
                found.append(block)
            elif kind == "table":
                lines, table = _table_lines(run, carried if not last else None)
                block.lines.extend(lines)
            else:
                block.lines.extend(_prose_lines(run, body, vocabulary))
            last = kind
    return [b for b in found if b.lines]


def _open_heading(headings: list[tuple[float, str]], row: Row, continued: bool) -> list[tuple[float, str]]:
    if continued and headings and headings[-1][0] == row.size and not _NUMBERED_HEADING.match(row.text):
        # A heading set on two lines: one heading.
        return [*headings[:-1], (row.size, f"{headings[-1][1]} {row.text}")]
    number = _number(row.text)
    # An unnumbered heading set like a numbered one is under it (Texinfo's @subsubheading); a numbered one is
    # under the heading its number extends ("11.6.1" under "11.6"), whatever their sizes.
    kept = [
        h
        for h in headings
        if h[0] > row.size + 0.5
        or (not number and abs(h[0] - row.size) <= 0.5 and _NUMBERED_HEADING.match(h[1]))
        or (number and _number(h[1]) and number.startswith(_number(h[1]) + "."))
    ]
    return [*kept, (row.size, row.text)]


def _number(heading: str) -> str:
    found = _NUMBERED_HEADING.match(heading)
    return heading.split()[0].rstrip(".") if found else ""


def _section(headings: list[tuple[float, str]]) -> str | None:
    """The innermost heading after its parent, which places it and names its topic ("11.6 Generalized linear
    models › 11.6.1 Families": the families' table is about those models; "11.6.2 The glm() function › The
    gaussian family")."""
    if not headings:
        return None
    inner = headings[-1][1]
    if len(headings) < 2 or (_number(inner) and not _number(headings[-2][1])):  # a title page's heading is no topic
        return inner
    return f"{headings[-2][1]} › {inner}"


def _runs(rows: list[Row], body: float) -> Iterator[tuple[str, list[Row]]]:
    """The page's rows grouped: ("heading", [row]), ("table", rows) or ("prose", rows)."""
    start = 0
    prose: list[Row] = []
    while start < len(rows):
        row = rows[start]
        table = _table_at(rows, start)
        if is_heading(row, body):
            if prose:
                yield "prose", prose
                prose = []
            yield "heading", [row]
            start += 1
        elif table:
            if prose:
                yield "prose", prose
                prose = []
            yield "table", rows[start : start + table]
            start += table
        else:
            prose.append(row)
            start += 1
    if prose:
        yield "prose", prose


def _table_at(rows: list[Row], start: int) -> int:
    """How many rows from `start` make a table: at least two rows of several cells whose columns
    line up, and the one-cell rows between them that continue a column."""
    if len(rows[start].cells) < 2:
        return 0
    columns = [x for x, _ in rows[start].cells]
    end, multi = start + 1, 1
    while end < len(rows):
        row = rows[end]
        aligned = [_column(columns, x) is not None for x, _ in row.cells]
        if len(row.cells) >= 2 and sum(aligned) >= 2:
            multi += 1
        elif not (len(row.cells) == 1 and aligned[0] and abs(row.size - rows[end - 1].size) < 0.5):
            break
        end += 1
    return end - start if multi >= 2 else 0


def _column(columns: list[float], x: float) -> int | None:
    for i, left in enumerate(columns):
        if abs(left - x) <= _COLUMN_SLACK:
            return i
    return None


def _table_lines(run: list[Row], carried: Table | None) -> tuple[list[str], Table]:
    """A table's rows as lines, and the table's columns and labels. With a header row (set in
    another font than the rows under it, or carried from the table this one continues), each
    cell is named by its column's label; without one, a row is its cells, the first as a label."""
    columns = [x for x, _ in run[0].cells]
    if (
        carried
        and len(carried.columns) == len(columns)
        and all(abs(a - b) <= _COLUMN_SLACK for a, b in zip(carried.columns, columns, strict=True))
    ):
        columns = carried.columns
    table: list[list[str]] = []
    for row in run:
        cells = [""] * len(columns)
        for x, text in row.cells:
            at = _column(columns, x)
            at = at if at is not None else max((i for i, left in enumerate(columns) if left <= x), default=0)
            cells[at] = f"{cells[at]} {text}".strip()
        if table and not cells[0]:  # a column carried on to the next line
            table[-1] = [f"{old} {new}".strip() for old, new in zip(table[-1], cells, strict=True)]
        else:
            table.append(cells)
    labels: list[str] | None = None
    if _header(run):
        labels, *table = table
    elif carried and carried.columns is columns:
        labels = carried.labels
    if not labels:
        return [_labelled(cells) for cells in table], Table(columns, None)
    lines = [
        "- " + "; ".join(f"{label}: {cell}" for label, cell in zip(labels, cells, strict=True) if cell) + "."
        for cells in table
    ]
    return lines, Table(columns, labels)


def _header(run: list[Row]) -> bool:
    """Whether a table's first row labels its columns: set in bold, or in a font none of the other rows use."""
    if run[0].bold:
        return sum(r.bold for r in run[1:]) < len(run[1:]) / 2
    return len(run) > 2 and all(r.font != run[0].font for r in run[1:])


def _labelled(cells: list[str]) -> str:
    first, rest = cells[0].rstrip(":"), " ".join(c for c in cells[1:] if c)
    return f"- {first}: {rest}" if first and rest else f"- {first or rest}"


def _prose_lines(run: list[Row], body: float, vocabulary: Counter) -> list[str]:
    """Prose as lines, a blank line between paragraphs and words broken at line ends joined.
    Three short lines or more in a row that end no sentence are a list (or a table's rows that
    line up as one cell): each becomes an item of its own."""
    lines: list[str] = []
    previous: Row | None = None
    listed = _short_runs(run)
    for i, row in enumerate(run):
        text = f"- {row.text}" if i in listed else row.text
        if previous is not None and previous.bottom - row.top > _PARAGRAPH_GAP * body:
            lines.append("")
        broken = _HYPHENATED.search(lines[-1]) if lines and lines[-1] and i not in listed else None
        if broken and text[:1].islower():
            head = lines[-1][: broken.start()]
            word = _WORD.match(text)
            tail = word.group(0) if word else ""
            joined = _join_hyphenated(broken.group(1), tail, vocabulary)
            lines[-1] = head + joined + text[len(tail) :]
        else:
            lines.append(text)
        previous = row
    return lines


def _short_runs(run: list[Row]) -> set[int]:
    short = [
        len(r.text) <= _SHORT_LINE
        and not r.text.endswith((".", ",", ";", ":", "-"))
        and r.text.rsplit(None, 1)[-1].casefold() not in _GOES_ON
        for r in run
    ]
    listed: set[int] = set()
    start = 0
    while start < len(run):
        end = start
        while end < len(run) and short[end]:
            end += 1
        if end - start >= 3:
            listed.update(range(start, end))
        start = end + 1
    return listed


def _join_hyphenated(left: str, right: str, vocabulary: Counter) -> str:
    """A word broken at a line end, joined: with its hyphen when the document writes it so
    elsewhere, or writes other compounds with the same first part ("non-free": "non-normal")."""
    joined, compound = f"{left}{right}", f"{left}-{right}"
    if vocabulary[compound.casefold()] > vocabulary[joined.casefold()]:
        return compound
    if not vocabulary[joined.casefold()] and vocabulary[f"{left}-".casefold()]:
        return compound
    return joined
