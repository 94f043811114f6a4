"""Offline token counting for OpenAI-protocol models.

bpe-openai bundles the cl100k and o200k files and counts with no network (local and CI);
tiktoken, the same API, downloads its file once (the Azure deployment, which has network).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from shared.core.types import Message

# Role and separator tokens OpenAI's chat format adds per message, and to prime the reply.
PER_MESSAGE = 4
PER_REPLY = 3
# An image's tokens depend on its size, which the prompt budget does not fetch: OpenAI's
# figure for a low-detail image, and a 1024x1024 high-detail one (4 tiles), as estimates.
IMAGE_TOKENS = {"low": 85, "high": 765, "auto": 765, None: 765}
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4")
# Texts counted, by tokenizer and digest: a conversation sends its earlier messages again with
# every turn, and each is tokenized once. Emptied when full (a bound, not an eviction policy).
MAX_COUNTED = 50_000
_counted: dict[tuple[str, bytes], int] = {}


@functools.cache
def encoding(name: str) -> Any:
    try:
        from bpe_openai import get_encoding
    except ImportError:
        from tiktoken import get_encoding
    return get_encoding(name)


def encoding_name(model: str) -> str:
    return "o200k_base" if model.lower().startswith(_O200K_PREFIXES) else "cl100k_base"


def text_tokens(tokenizer: str, text: str, count: Callable[[str], int]) -> int:
    """count(text), computed once per text and tokenizer (kept by the text's digest, not the text)."""
    key = (tokenizer, hashlib.blake2b(text.encode(), digest_size=16).digest())
    tokens = _counted.get(key)
    if tokens is None:
        tokens = count(text)
        if len(_counted) >= MAX_COUNTED:
            _counted.clear()
        _counted[key] = tokens
    return tokens


def count_messages(messages: Sequence[Message], model: str) -> int:
    name = encoding_name(model)
    enc = encoding(name)

    def count(text: str) -> int:
        return len(enc.encode(text))

    return (
        sum(
            text_tokens(name, m.content, count) + PER_MESSAGE + sum(IMAGE_TOKENS[i.detail] for i in m.images)
            for m in messages
        )
        + PER_REPLY
    )
