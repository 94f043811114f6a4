"""Issue 24's red team: requests built to keep a server busy on its event loop, and the same kinds
of request at their limits. tests/integration/test_heavy_requests.py holds the app to them, and
bench/heavy_requests.py measures them.
"""

from __future__ import annotations

from shared.retrieval.limits import MAX_FILTER_CHARS
from shared.wire.common import MAX_HISTORY_CHARS

CHAT = "/api/v2/flexible-chat"
RAG = "/api/v2/flexible-rag"
CHEAP = "/api/v2/models"


FEW_TOKENS = {"override_config": {"params": {"max_tokens": 4}}}


def rag(**fetch_args) -> dict:
    return {
        "question": "frame warranty",
        "fetch_args": {"AzureSearchFetcher": {"top_k": 1, "vector_search": False} | fetch_args},
    } | FEW_TOKENS


def history(messages: int, chars: int) -> list[dict]:
    text = ("word " * (chars // 5 + 1))[:chars]
    return [{"role": ("user", "assistant")[n % 2], "content": text} for n in range(messages)]


def any_of(terms: int, prefix: str = "c") -> str:
    return " or ".join(f"category eq '{prefix}{n}'" for n in range(terms - 1)) + " or category eq 'policy'"


# The payloads: (path, body, status, what the refusal names).
RED_TEAM = {
    "7.7 MB history": (CHAT, {"question": "q", "history": history(78, 99_000)}, 422, f"at most {MAX_HISTORY_CHARS}"),
    "4.2 MB filter": (RAG, rag(filter=any_of(160_000, "cat-")), 400, f"at most {MAX_FILTER_CHARS}"),
    "7.8 MB invalid filter": (RAG, rag(filter="category eq " + "(" * 7_800_000), 400, f"at most {MAX_FILTER_CHARS}"),
    "2.3 MB query": (RAG, rag(query="word " * 460_000), 422, "at most 20000 characters"),
}
# The same kinds of request at their limits: processed, not refused.
AT_THE_LIMITS = {
    "990,000-character history": (CHAT, {"question": "q", "history": history(10, 99_000)} | FEW_TOKENS, 200, None),
    "500-condition filter": (RAG, rag(filter=any_of(501)), 200, None),
    "20,000-character query": (RAG, rag(query=("word " * 4_000)[:20_000]), 200, None),
}
