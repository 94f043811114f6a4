"""The API families' mappings to and from the core, one module each: what a family's route
hands to shared.http.turns (a `TurnMapping`), with all of the family's policy.

    openai_chat       chat completions (/api/v1/chat/completions and its two other routes)
    openai_responses  the Responses API (/api/v1/responses)
    flexible          flexible chat and RAG (/api/v2/flexible-*), the MCP tool `ask`
    session_chat      session chat (/api/v1/chat)
    chat_complete     multi-source chat (/api/v1/chat/complete)
"""
