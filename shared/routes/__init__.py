"""The API families' endpoints, one module each; importing this package declares them all,
in this order (the OpenAPI document's).

    flexible          flexible chat and RAG (/api/v2/flexible-*), the models
    sessions          the flexible chat's stored sessions and feedback (/api/v2/sessions)
    sources           opening a cited passage (/api/v2/sources/{id})
    documents         the caller's uploaded documents (/api/v2/documents)
    openai_compat     OpenAI-compatible chat completions and models (/api/v1/chat/completions, ...)
    openai_responses  the OpenAI Responses API (/api/v1/responses)
    session_chat      session chat (/api/v1/chat)
    chat_complete     multi-source chat (/api/v1/chat/complete)
    mcp               the knowledge base as an MCP server (/api/mcp)
    web               the OpenAPI document, the playground and reference pages and their files
"""

# isort: skip_file
from shared.http.endpoints import api
from shared.routes import flexible, sessions, sources, documents  # noqa: F401 - each module declares its operations
from shared.routes import openai_compat, openai_responses, session_chat, chat_complete, mcp, web  # noqa: F401

__all__ = ["api"]
