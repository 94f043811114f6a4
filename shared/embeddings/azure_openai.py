"""Embeddings from an Azure OpenAI deployment (openai SDK), with an API key or Entra ID."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from shared.core.errors import UpstreamError
from shared.openai_clients import azure_openai_client
from shared.settings import EmbeddingSettings

log = logging.getLogger(__name__)


class AzureOpenAIEmbeddings:
    def __init__(self, settings: EmbeddingSettings) -> None:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self._client = azure_openai_client(settings.endpoint, settings.api_version, key)
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
