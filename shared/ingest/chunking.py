"""Token-aware chunking with overlap.

Text is split into sentences and paragraphs, which are packed into chunks of at most
`max_tokens` tokens (cl100k, the tokenizer of Azure OpenAI's embedding models); each chunk
repeats the last sentences of the previous one, up to `overlap_tokens`, so that a fact
cut at a boundary is still found whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Sentence ends, or a line break before a heading, list item or blank line.
_UNIT_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n(?=\s*(?:#|[-*+] |\d+\. |\|))|\n\s*\n")


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
        units = [(u, self.count(u)) for u in self._units(text)]
        chunks: list[str] = []
        current: list[tuple[str, int]] = []
        size = 0
        for unit, tokens in units:
            if current and size + tokens > self.max_tokens:
                chunks.append(" ".join(u for u, _ in current))
                current, size = self._overlap(current)
            current.append((unit, tokens))
            size += tokens
        if current:
            chunks.append(" ".join(u for u, _ in current))
        return chunks

    def _units(self, text: str) -> Iterator[str]:
        for piece in _UNIT_BOUNDARY.split(text):
            piece = " ".join(piece.split())
            if not piece:
                continue
            if self.count(piece) <= self.max_tokens:
                yield piece
            else:  # one very long sentence: cut it by tokens
                tokens = self._encoding.encode(piece)
                step = self.max_tokens - self.overlap_tokens
                for start in range(0, len(tokens), step):
                    yield self._encoding.decode(tokens[start : start + self.max_tokens])

    def _overlap(self, previous: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], int]:
        kept: list[tuple[str, int]] = []
        size = 0
        for unit, tokens in reversed(previous):
            if size + tokens > self.overlap_tokens:
                break
            kept.insert(0, (unit, tokens))
            size += tokens
        return kept, size
