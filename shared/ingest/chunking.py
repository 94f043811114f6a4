"""Token-aware chunking with overlap.

Text is split into sentences and paragraphs, which are packed into chunks of at most
`max_tokens` tokens (cl100k, the tokenizer of Azure OpenAI's embedding models); each chunk
repeats the last sentences of the previous one, up to `overlap_tokens`, so that a fact
cut at a boundary is still found whole.

A chunk keeps the text's blocks on lines of their own: a heading, a list item, a table row and
a paragraph after a blank line start a line, so a heading stays apart from the sentence after it
(answers read it as the sentence's context, never as part of it). Sentences, and the lines a
paragraph wraps over, share a line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from shared.core.passages import NOT_AFTER_ABBREVIATION

# Sentence ends, or a line break before a heading, list item or blank line.
_UNIT_BOUNDARY = re.compile(rf"(?<=[.!?]){NOT_AFTER_ABBREVIATION}\s+|\n(?=\s*(?:#|[-*+•] |\d+\. |\|))|\n\s*\n")
_BLOCK_START = re.compile(r"[ \t]*(?:#{1,6}\s|[-*+•] |\d+\. |\|)")
_HEADING_UNIT = re.compile(r"#{1,6}\s")
_SEPARATOR = re.compile(r"\|[\s:|-]*-[\s:|-]*")  # a Markdown table's "| --- | :-: |" line
_HEADING_LINE = re.compile(r"^([ \t]*#{1,6}[ \t].*)$", re.M)

Unit = tuple[str, int, bool]  # text, tokens, whether it starts a line


class Chunker:
    def __init__(self, max_tokens: int = 200, overlap_tokens: int = 30) -> None:
        if not 0 <= overlap_tokens < max_tokens:
            raise ValueError("overlap_tokens must be at least 0 and less than max_tokens")
        from shared.llm.tokens import encoding  # deferred: a large native tokenizer

        self._encoding = encoding("cl100k_base")
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text))

    def split(self, text: str) -> list[str]:
        chunks: list[str] = []
        current: list[Unit] = []
        size = 0
        under: Unit | None = None  # the heading the current chunk's first unit sits under
        for unit, tokens, line in self._units(text):
            if current and size + tokens > self.max_tokens:
                # Headings that would end a chunk open the next one instead: they head what follows them.
                headings: list[Unit] = []
                while len(current) > 1 and _HEADING_UNIT.match(current[-1][0]):
                    headings.insert(0, current.pop())
                chunks.append(_joined(current))
                kept, size = self._overlap(current)
                cut = len(current) - len(kept)
                under = _heading_before(current, cut, under)
                opens = (kept or headings or [(unit, tokens, line)])[0]
                # The next chunk repeats what its first unit sits under: the section's heading, and inside
                # a table its header row (a row is read by its header's labels).
                heads = _heads(current, cut, under, opens[0])
                extra = sum(n for _, n, _ in heads)
                if heads and size + extra + tokens <= self.max_tokens:
                    kept = [*heads, *((u, n, starts or i == 0) for i, (u, n, starts) in enumerate(kept))]
                    line = line or len(kept) == len(heads)
                    size += extra
                current = kept + headings
                size += sum(t for _, t, _ in headings)
            current.append((unit, tokens, line))
            size += tokens
        if current:
            chunks.append(_joined(current))
        return chunks

    def _units(self, text: str) -> Iterator[Unit]:
        """The text's units, each with its tokens and whether it starts a line (a new block)."""
        text = _HEADING_LINE.sub("\\1\n", text)  # a heading ends its line, even without a blank line after it
        position, starts_line = 0, True
        for boundary in [*_UNIT_BOUNDARY.finditer(text), None]:
            piece = " ".join(text[position : boundary.start() if boundary else len(text)].split())
            for part, tokens in self._cut(piece) if piece else ():
                yield part, tokens, starts_line
                starts_line = False
            if boundary is not None:
                position = boundary.end()
                separator = boundary.group()
                new_block = "\n" in separator and (
                    separator.count("\n") > 1 or _BLOCK_START.match(text, position) is not None
                )
                starts_line = starts_line or new_block

    def _cut(self, piece: str) -> Iterator[tuple[str, int]]:
        """The piece with its tokens, or one very long sentence cut by tokens into pieces."""
        tokens = self._encoding.encode(piece)
        if len(tokens) <= self.max_tokens:
            yield piece, len(tokens)
            return
        step = self.max_tokens - self.overlap_tokens
        for start in range(0, len(tokens), step):
            part = self._encoding.decode(tokens[start : start + self.max_tokens])
            yield part, self.count(part)  # a cut may split a character: its text counts as it reads

    def _overlap(self, previous: list[Unit]) -> tuple[list[Unit], int]:
        kept: list[Unit] = []
        size = 0
        for unit, tokens, line in reversed(previous):
            if size + tokens > self.overlap_tokens:
                break
            kept.insert(0, (unit, tokens, line))
            size += tokens
        return kept, size


def _heads(units: list[Unit], end: int, heading: Unit | None, opens: str) -> list[Unit]:
    """What a chunk opening with `opens` (cut at `units[end]`) repeats first: the heading it sits under
    unless it opens with one, and when it opens inside a table, the table's header row and separator."""
    heads = [heading] if heading and not _HEADING_UNIT.match(opens) else []
    start = end
    while opens.startswith("|") and start > 0 and units[start - 1][0].startswith("|"):
        start -= 1
    if start < end:
        separated = end - start > 1 and _SEPARATOR.fullmatch(units[start + 1][0])
        heads += [(u, n, True) for u, n, _ in units[start : start + (2 if separated else 1)]]
    return heads


def _heading_before(units: list[Unit], end: int, above: Unit | None) -> Unit | None:
    """The heading in force at `units[end]`: the last one before it, else the one above the units."""
    return next((u for u in reversed(units[:end]) if _HEADING_UNIT.match(u[0])), above)


def _joined(units: list[Unit]) -> str:
    return "".join(("\n" if line else " ") + unit if i else unit for i, (unit, _, line) in enumerate(units))
