"""A realistic example request for each request body in the OpenAPI document: the README's
questions about the sample corpus (samples/corpus), so that the reference's try-it-out sends
a request that answers as it is. Keyed by the wire model's name; tests validate each example
against its model and send it.
"""

from __future__ import annotations

from typing import Any

FRAME = "How many years of warranty does the frame have?"
SESSION_ID = "s-frame-warranty-1"
DOCS_ASSISTANT = "8c3e2a57-4f0b-4c1e-9a6d-2f5b7e1d9c40"  # the built-in agent (shared.agents)
# A 1x1 PNG: a photo of the frame's serial plate would be the real thing.
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
IMAGES = {"images": [{"data_url": PIXEL, "detail": "low"}]}

EXAMPLES: dict[str, dict[str, Any]] = {
    "FlexibleChatRequest": {
        "question": FRAME,
        "history": [],
        "ab_testing": {"user_id": "ana", "session_id": SESSION_ID},
    },
    "FlexibleChatMultimodalRequest": {"question": "Is this frame still under warranty?", "metadata": IMAGES},
    "FlexibleRagRequest": {"question": FRAME, "fetch_args": {"AzureSearchFetcher": {"top_k": 3}}},
    "FlexibleRagMultimodalRequest": {"question": "Is this frame still under warranty?", "metadata": IMAGES},
    "FeedbackRequest": {"rating": "up", "comment": "Quoted the frame's warranty period, with its source."},
    "ChatCompletionsRequest": {
        "model": DOCS_ASSISTANT,
        "messages": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": FRAME},
        ],
    },
    "ResponsesRequest": {"model": DOCS_ASSISTANT, "input": FRAME},
    "SessionChatRequest": {"sessionId": SESSION_ID, "prompt": FRAME, "context": "warranty-policy.md"},
    "ChatCompleteRequest": {"query": "How long is the battery warranty?", "history": []},
    "JsonRpcMessage": {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "search", "arguments": {"query": "frame warranty"}},
    },
}
