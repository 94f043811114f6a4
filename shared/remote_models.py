"""The remote chat models of LLM_MODELS (shared.settings.ModelSettings), and the choices every
model makes, the embedded one too: its answer strategy and its query rewrite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# extractive: answers are the retrieved passages that best answer the question (shared.core.answers);
# generative: the model writes them from the prompt.
AnswerStrategy = Literal["extractive", "generative"]
# How a follow-up that needs the conversation becomes a search query (shared.core.followups):
# model: the model rewrites it; expand: the earlier questions' words are added, no model call;
# always: the model rewrites every follow-up, needed or not.
QueryRewrite = Literal["model", "expand", "always"]


class RemoteModel(BaseModel):
    """A chat model reached over the OpenAI protocol, configured under an alias."""

    model_config = ConfigDict(extra="forbid")

    alias: str = Field(min_length=1)
    provider: Literal["azure_openai", "openai"]
    model: str = Field(description="Azure OpenAI: the deployment name; other servers: the model name.")
    endpoint: str = Field(description="Azure: https://<resource>.openai.azure.com; others: the base URL (…/v1).")
    api_key: SecretStr | None = Field(None, description="Azure OpenAI without a key signs in with Entra ID.")
    api_version: str = "2024-10-21"
    supports_multimodal: bool = False
    reasoning: bool = Field(False, description="A reasoning model: it takes reasoning_effort.")
    context_window: int = Field(128_000, ge=512)
    parameters: dict[str, Any] = Field(default_factory=dict, description='Defaults, e.g. {"temperature": 0.2}.')
    timeout_seconds: float = Field(60, gt=0)
    max_retries: int = Field(2, ge=0, description="Retries on refused connections, timeouts, 408, 409, 429, 5xx.")
    answer_strategy: AnswerStrategy = Field("generative", description="generative: the model writes the answer.")
    query_rewrite: QueryRewrite = Field("model", description="model: the model rewrites a follow-up that needs it.")


@dataclass(frozen=True)
class ModelCapabilities:
    """What the model under an alias can take, decided here alone (ModelSettings.capabilities).

    Every model takes response_format (the embedded one through a grammar), so that needs no flag."""

    alias: str
    embedded: bool  # llama.cpp in this process's worker, not a remote service
    tools: bool  # function calling: the remote models; the embedded model calls no tools
    images: bool  # images with the messages (supports_multimodal)

    @classmethod
    def of(cls, alias: str, remote: RemoteModel | None) -> ModelCapabilities:
        if remote is None:
            return cls(alias, embedded=True, tools=False, images=False)
        return cls(alias, embedded=False, tools=True, images=remote.supports_multimodal)
