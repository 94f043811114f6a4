"""Azure OpenAI sign-in and the openai SDK's client: the client embeds documents
(shared/embeddings/azure_openai.py); the chat models' calls (shared/llm/openai_http.py) sign in
with the same Entra ID tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


def entra_token_provider() -> Callable[[], Awaitable[str]]:
    """Managed identity (or a developer's sign-in): bearer tokens for Azure OpenAI, refreshed before they expire."""
    from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

    return get_bearer_token_provider(DefaultAzureCredential(), COGNITIVE_SERVICES_SCOPE)


def azure_openai_client(endpoint: str, api_version: str, api_key: str | None) -> Any:
    """An async Azure OpenAI client: with the key when there is one, else Entra ID (managed identity)."""
    from openai import AsyncAzureOpenAI

    auth: dict[str, Any] = {"api_key": api_key} if api_key else {"azure_ad_token_provider": entra_token_provider()}
    return AsyncAzureOpenAI(azure_endpoint=endpoint, api_version=api_version, timeout=60, max_retries=2, **auth)
