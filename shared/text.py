"""Text shown in listings, previews and error messages."""

from __future__ import annotations

import reprlib

QUOTED_CHARS = 200  # of request input an error message quotes

_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = QUOTED_CHARS


def shortened(text: str, limit: int) -> str:
    """`text` on one line (whitespace collapsed), cut to `limit` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def quoted(value: object) -> str:
    """repr(value) for an error message, at most about QUOTED_CHARS characters (the middle of a
    longer one left out): quoting a request's input never makes an answer as large as the input."""
    return _QUOTE.repr(value)


def clipped(text: str) -> str:
    """`text` as it is when short, else its first QUOTED_CHARS characters and its length."""
    return text if len(text) <= QUOTED_CHARS else f"{text[:QUOTED_CHARS]}… ({len(text)} characters)"
