"""The one place that chooses backends from configuration.

Each client is built on first use and kept for the life of the process, so every
invocation after the first reuses it. Backend modules are imported here, lazily, so that
importing function_app stays fast (cold start).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from shared.config import get_settings
from shared.core.errors import RequestError

if TYPE_CHECKING:
    from azure.cosmos.aio import ContainerProxy
    from azure.search.documents.aio import SearchClient
    from azure.storage.blob.aio import ContainerClient

    from shared.core.interfaces import ChatModel, Embeddings, HistoryStore, IndexWriter, Retriever, TemplateSource
    from shared.core.orchestrator import Orchestrator
    from shared.retrieval.embedded import EmbeddedIndex
    from shared.templates.sandbox import TemplateRenderer

DEFAULT_ALIAS = "default"


def chat_model(alias: str | None = None) -> ChatModel:
    """The model for an alias from a request; None or "default" is the configured default."""
    settings = get_settings().model
    name = settings.default_alias if alias in (None, DEFAULT_ALIAS) else alias
    if name not in settings.aliases():
        raise RequestError(
            f"unknown model alias {alias!r}; available: {', '.join([DEFAULT_ALIAS, *settings.aliases()])}",
            field="override_config.llm",
        )
    return _chat_model(name)


@functools.cache
def _chat_model(alias: str) -> ChatModel:
    settings = get_settings().model
    remote = settings.remote(alias)
    if remote is not None:
        from shared.llm.openai_chat import OpenAIChatModel

        return OpenAIChatModel(remote)
    from shared.llm.embedded import EmbeddedChatModel

    return EmbeddedChatModel(settings)


@functools.cache
def embeddings() -> Embeddings:
    settings = get_settings().embeddings
    if settings.provider == "azure_openai":
        from shared.embeddings.azure_openai import AzureOpenAIEmbeddings

        return AzureOpenAIEmbeddings(settings)
    from shared.embeddings.embedded import EmbeddedEmbeddings

    return EmbeddedEmbeddings()


@functools.cache
def search_index() -> EmbeddedIndex:
    from shared.retrieval.embedded import EmbeddedIndex

    settings = get_settings().search
    return EmbeddedIndex(settings.index_path, settings.index_name)


def _search_credential() -> Any:
    settings = get_settings().search
    if settings.api_key:
        from azure.core.credentials import AzureKeyCredential

        return AzureKeyCredential(settings.api_key.get_secret_value())
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


def _search_client() -> SearchClient:
    from azure.search.documents.aio import SearchClient

    settings = get_settings().search
    return SearchClient(settings.endpoint, settings.index_name, _search_credential())


@functools.cache
def retriever() -> Retriever:
    settings = get_settings().search
    from shared.retrieval.query import SearchOptions

    options = SearchOptions(settings.top_k, settings.max_top_k, settings.vector_search, settings.security_field)
    if settings.backend == "azure":
        from shared.retrieval.azure_search import AzureSearchRetriever

        return AzureSearchRetriever(
            _search_client(),  # kept with the retriever, for the life of the process
            settings.index_name,
            None if settings.vectorizer else embeddings(),
            options,
            vectorizer=settings.vectorizer,
            semantic_configuration=settings.semantic_configuration,
        )
    from shared.retrieval.embedded import EmbeddedRetriever

    return EmbeddedRetriever(search_index(), embeddings(), options)


def index_writer() -> IndexWriter:
    """Where ingestion writes: the configured search backend."""
    settings = get_settings().search
    if settings.backend == "azure":
        from azure.search.documents.indexes.aio import SearchIndexClient

        from shared.retrieval.azure_search import AzureSearchIndexWriter

        return AzureSearchIndexWriter(
            # The writer's own clients: ingestion closes them when it is done.
            SearchIndexClient(settings.endpoint, _search_credential()),
            _search_client(),
            settings.index_name,
            settings.semantic_configuration,
        )
    from shared.retrieval.embedded import EmbeddedIndexWriter

    return EmbeddedIndexWriter(search_index())


@functools.cache
def history_store() -> HistoryStore:
    settings = get_settings().history
    if settings.backend == "cosmos":
        from shared.history.cosmos import CosmosHistoryStore

        return CosmosHistoryStore(history_container(), keep=settings.max_messages, ttl_seconds=settings.ttl_seconds)
    from shared.history.sqlite import SqliteHistoryStore

    return SqliteHistoryStore(settings.sqlite_path, settings.ttl_seconds)


def history_container() -> ContainerProxy:
    """The Cosmos DB container of conversations, with a key or Entra ID (managed identity)."""
    from azure.cosmos.aio import CosmosClient

    settings = get_settings().history
    if settings.cosmos_key:
        credential: Any = settings.cosmos_key.get_secret_value()
    else:
        from azure.identity.aio import DefaultAzureCredential

        credential = DefaultAzureCredential()
    client = CosmosClient(settings.cosmos_endpoint, credential=credential)
    return client.get_database_client(settings.cosmos_database).get_container_client(settings.cosmos_container)


@functools.cache
def template_source() -> TemplateSource:
    settings = get_settings().prompts
    if settings.backend == "blob":
        from shared.templates.blob import BlobTemplateSource

        return BlobTemplateSource(prompts_container(), settings.blob_prefix)
    from shared.templates.files import FileTemplateSource

    return FileTemplateSource(settings.dir)


@functools.cache
def prompts_container() -> ContainerClient:
    """The prompts container: connection string, account URL with key, or Entra ID (managed identity)."""
    from azure.storage.blob.aio import BlobServiceClient

    settings = get_settings().prompts
    if settings.blob_connection_string:
        service = BlobServiceClient.from_connection_string(settings.blob_connection_string.get_secret_value())
    elif settings.blob_account_key:
        service = BlobServiceClient(settings.blob_account_url, credential=settings.blob_account_key.get_secret_value())
    else:
        from azure.identity.aio import DefaultAzureCredential

        service = BlobServiceClient(settings.blob_account_url, credential=DefaultAzureCredential())
    return service.get_container_client(settings.blob_container)


@functools.cache
def template_renderer() -> TemplateRenderer:
    from shared.templates.sandbox import TemplateRenderer

    settings = get_settings().prompts
    return TemplateRenderer(settings.max_rendered_chars, settings.render_timeout_seconds)


@functools.cache
def orchestrator() -> Orchestrator:
    from shared.core.orchestrator import Orchestrator

    return Orchestrator(
        retriever=retriever,
        chat_model=chat_model,
        templates=template_source(),
        renderer=template_renderer(),
        default_system_prompt=get_settings().prompts.system_prompt_file,
        default_response_template=get_settings().prompts.response_template_file,
        deadline_seconds=get_settings().http.deadline_seconds,
        history=history_store,
        history_limit=get_settings().history.max_messages,
        query_rewrite_template=get_settings().prompts.query_rewrite_file,
        multimodal_aliases=multimodal_aliases,
    )


def multimodal_aliases() -> list[str]:
    """The configured models that take images."""
    return [m.alias for m in get_settings().model.models if m.supports_multimodal]
