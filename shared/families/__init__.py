"""What each API family does behind its declarations (shared.routes), one module each: its
policy (who the caller is, whose sessions and documents they reach, which agent and model
answer, what the model must take) and its mapping to and from the core.

A chat family's module holds a `TurnMapping` (shared.http.turns), which the one turn handler runs:
    openai_chat       chat completions (/api/v1/chat/completions and its two other routes)
    openai_responses  the Responses API (/api/v1/responses)
    flexible          flexible chat and RAG (/api/v2/flexible-*), the MCP tool `ask`
    session_chat      session chat (/api/v1/chat)
    chat_complete     multi-source chat (/api/v1/chat/complete)
The others answer one request each:
    sessions          the v2 sessions and feedback (/api/v2/sessions)
    sources           opening a cited passage (/api/v2/sources/{id}), the MCP tool get_source
    documents         the caller's uploaded documents (/api/v2/documents)
"""
