"""Embeddings from an Azure OpenAI deployment (openai SDK), with an API key or Entra ID."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from shared.config import EmbeddingSettings
from shared.core.errors import UpstreamError

log = logging.getLogger(__name__)

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


class AzureOpenAIEmbeddings:
    def __init__(self, settings: EmbeddingSettings) -> None:
        from openai import AsyncAzureOpenAI

        if settings.api_key:
            auth = {"api_key": settings.api_key.get_secret_value()}
        else:
            from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

            auth = {
                "azure_ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), COGNITIVE_SERVICES_SCOPE)
            }
        self._client = AsyncAzureOpenAI(azure_endpoint=settings.endpoint, api_version=settings.api_version, **auth)
        self._deployment = settings.deployment
        self.dimensions: int = settings.dimensions
        self.name = settings.deployment

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        from openai import OpenAIError

        try:
            response = await self._client.embeddings.create(
                model=self._deployment, input=list(texts), dimensions=self.dimensions
            )
        except OpenAIError as exc:
            log.error("embedding deployment %s failed: %s", self._deployment, type(exc).__name__)
            raise UpstreamError("embeddings_failed", "The embedding model failed.") from exc
        vectors = np.array([item.embedding for item in sorted(response.data, key=lambda d: d.index)], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
