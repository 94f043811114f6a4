"""The openai SDK's Azure OpenAI client for embeddings, and the Entra ID scope the chat models' calls
(shared/llm/openai_http.py) sign in with too."""

from __future__ import annotations

from typing import Any

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


def azure_openai_client(
    endpoint: str,
    api_version: str,
    api_key: str | None,
    *,
    timeout: float = 60,
    max_retries: int = 2,
    http_client: Any = None,
) -> Any:
    """An async Azure OpenAI client: with the key when there is one, else Entra ID (managed identity)."""
    from openai import AsyncAzureOpenAI

    if api_key:
        auth: dict[str, Any] = {"api_key": api_key}
    else:
        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

        auth = {
            "azure_ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), COGNITIVE_SERVICES_SCOPE)
        }
    return AsyncAzureOpenAI(
        azure_endpoint=endpoint,
        api_version=api_version,
        timeout=timeout,
        max_retries=max_retries,
        http_client=http_client,
        **auth,
    )
