"""Citation markers in answers: an [n] must name one of the turn's numbered sources.

Every API numbers the sources it returns from 1, so [n] is the n-th of them. A model may
still write [4] with three sources (or any [n] without sources): such a marker would point
a reader at nothing, so it is removed, on the whole answer and on streamed pieces alike.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

# [1], [2, 3] or [1][2] (a run of markers is one match): digits only, so links ("[text](url)")
# and checkboxes ("[x]") stay.
_MARKERS = re.compile(r"\s?((?:\[\d{1,4}(?:\s*,\s*\d{1,4})*\])+)")
_MARKER = re.compile(r"\[(\d{1,4}(?:\s*,\s*\d{1,4})*)\]")
_LONGEST_MARKER = 24  # streamed text that may start a marker is held back at most this many characters
# The end of a piece that a marker run may go on from: a space, "[1][", "[1, 2".
_OPEN_MARKER = re.compile(r"\s?(?:\[[\d,\s]*\])*(?:\[[\d,\s]*)?$")


def valid_citations(text: str, source_count: int) -> str:
    """`text` with every [n] that names no source removed ([1, 9] with two sources becomes [1])."""

    def keep_valid(run: re.Match[str]) -> str:
        kept = []
        for marker in _MARKER.finditer(run.group(1)):
            numbers = [int(n) for n in marker.group(1).split(",")]
            valid = [n for n in numbers if 1 <= n <= source_count]
            if len(valid) < len(numbers):
                log.info("citation %s names no source (%d given): removed", marker.group(0), source_count)
            if valid:
                kept.append(f"[{', '.join(map(str, valid))}]")
        space = run.group(0)[: len(run.group(0)) - len(run.group(1))]
        return f"{space}{''.join(kept)}" if kept else ""

    return _MARKERS.sub(keep_valid, text)


def cited_numbers(text: str) -> list[int]:
    """The source numbers an answer cites, in order of first appearance."""
    seen: dict[int, None] = {}
    for marker in _MARKER.finditer(text):
        for n in marker.group(1).split(","):
            seen.setdefault(int(n), None)
    return list(seen)


class StreamedCitations:
    """valid_citations over an answer that arrives in pieces: text that may be the start of a
    marker is held back until the marker closes (or cannot be one), so the pieces put together
    are exactly valid_citations of the whole answer."""

    def __init__(self, source_count: int, *, check: bool = True) -> None:
        self._source_count = source_count
        self._check = check  # off for JSON output: its "[3]" is data, not a citation
        self._pending = ""

    def feed(self, piece: str) -> str:
        if not self._check:
            return piece
        text = self._pending + piece
        held = _OPEN_MARKER.search(text)
        if held and len(text) - held.start() <= _LONGEST_MARKER:
            text, self._pending = text[: held.start()], text[held.start() :]
        else:
            self._pending = ""
        return valid_citations(text, self._source_count)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return valid_citations(text, self._source_count)
