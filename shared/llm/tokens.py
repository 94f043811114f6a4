"""Token counting for OpenAI-protocol models, with tiktoken.

tiktoken downloads an encoding's file once into its cache (the Azure deployment, which has
network). Offline (local and CI) the copy bpe-openai bundles is put in that cache instead.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
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


# The address tiktoken downloads an encoding from: its cache names the file by this string's SHA-1.
TIKTOKEN_FILE = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


@functools.cache
def encoding(name: str) -> Any:
    """The encoding, from tiktoken. Reading its one file takes a few hundred milliseconds;
    importing bpe-openai parses all three of its vocabularies first (1.4 s on a busy VM)."""
    import tiktoken

    _cache_bundled_file(name)
    return tiktoken.get_encoding(name)


def _cache_bundled_file(name: str) -> None:
    """bpe-openai's copy of the encoding's file in tiktoken's cache, where bpe-openai is installed
    (not on Azure) and the cache lacks it. The package is found, not imported."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return
    bundled = Path(spec.submodule_search_locations[0]) / "data" / f"{name}.tiktoken.gz"
    folder = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    cache = Path(folder or Path(tempfile.gettempdir()) / "data-gym-cache")
    target = cache / hashlib.sha1(TIKTOKEN_FILE.format(name).encode()).hexdigest()
    if target.exists() or not bundled.exists():
        return
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(gzip.decompress(bundled.read_bytes()))
    partial.replace(target)  # whole or absent, for a process reading it meanwhile


def encoding_name(model: str) -> str:
    return "o200k_base" if model.lower().startswith(_O200K_PREFIXES) else "cl100k_base"


def _key(tokenizer: str, text: str) -> tuple[str, bytes]:
    return tokenizer, hashlib.blake2b(text.encode(), digest_size=16).digest()


def text_tokens(tokenizer: str, text: str, count: Callable[[str], int]) -> int:
    """count(text), computed once per text and tokenizer (kept by the text's digest, not the text)."""
    key = _key(tokenizer, text)
    tokens = _counted.get(key)
    if tokens is None:
        tokens = count(text)
        if len(_counted) >= MAX_COUNTED:
            _counted.clear()
        _counted[key] = tokens
    return tokens


def known_tokens(tokenizer: str, texts: Iterable[str]) -> int | None:
    """The texts' tokens when text_tokens has counted each of them already, else None."""
    total = 0
    for text in texts:
        tokens = _counted.get(_key(tokenizer, text))
        if tokens is None:
            return None
        total += tokens
    return total


def count_messages(messages: Sequence[Message], model: str) -> int:
    name = encoding_name(model)
    enc = encoding(name)

    def count(text: str) -> int:
        return len(enc.encode(text))

    return _framed(messages, sum(text_tokens(name, m.content, count) for m in messages))


def known_messages(messages: Sequence[Message], model: str) -> int | None:
    """count_messages' answer when each message's text is counted already (no tokenizer used), else None."""
    known = known_tokens(encoding_name(model), (m.content for m in messages))
    return None if known is None else _framed(messages, known)


def _framed(messages: Sequence[Message], texts: int) -> int:
    """The prompt's tokens: the texts' (`texts`), each message's role and separators and images, the reply's priming."""
    return texts + sum(PER_MESSAGE + sum(IMAGE_TOKENS[i.detail] for i in m.images) for m in messages) + PER_REPLY
