"""The one place that chooses backends from configuration.

Each client is built on first use and kept for the life of the process, so every
invocation after the first reuses it. Backend modules are imported here, lazily, so that
importing function_app stays fast (cold start).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from shared.azure_clients import blob_container, history_container, search_client, search_credential
from shared.config import get_settings
from shared.core.errors import RequestError
from shared.settings import EMBEDDED_EMBEDDING_MODEL
from shared.text import quoted

if TYPE_CHECKING:
    from azure.storage.blob.aio import ContainerClient

    from shared.auth import TokenValidator
    from shared.core.answers import ExtractiveAnswers
    from shared.core.interfaces import (
        ChatModel,
        Embeddings,
        HistoryStore,
        IndexWriter,
        Retriever,
        TemplateRenderer,
        TemplateSource,
    )
    from shared.core.orchestrator import Orchestrator
    from shared.core.source_plan import SourcePlan
    from shared.ingest.stores import DocumentStore
    from shared.ingest.sync import DocumentSync
    from shared.remote_models import QueryRewrite
    from shared.retrieval.embedded import EmbeddedIndex
    from shared.retrieval.multi_source import MultiSourceSearch
    from shared.retrieval.query import SearchOptions
    from shared.settings import DataSource

DEFAULT_ALIAS = "default"


def rebuild() -> None:
    """Forgets the settings and every client built so far: the next use builds them from the environment as it is."""
    for part in list(globals().values()):
        if hasattr(part, "cache_clear"):
            part.cache_clear()


def chat_model(alias: str | None = None) -> ChatModel:
    """The model for an alias from a request; None or "default" is the configured default."""
    settings = get_settings().model
    name = settings.default_alias if alias in (None, DEFAULT_ALIAS) else alias
    if name not in settings.aliases():
        raise RequestError(
            f"unknown model alias {quoted(alias)}; available: {', '.join([DEFAULT_ALIAS, *settings.aliases()])}",
            field="override_config.llm",
        )
    return _chat_model(name)


@functools.cache
def _chat_model(alias: str) -> ChatModel:
    settings = get_settings().model
    if settings.capabilities(alias).embedded:
        from shared.llm.embedded import EmbeddedChatModel

        return EmbeddedChatModel(settings)
    from shared.llm.openai_chat import OpenAIChatModel

    return OpenAIChatModel(settings.remote(alias))


@functools.cache
def embeddings() -> Embeddings:
    settings = get_settings().embeddings
    if settings.provider == "azure_openai":
        from shared.embeddings.azure_openai import AzureOpenAIEmbeddings

        return AzureOpenAIEmbeddings(settings)
    from shared.embeddings.embedded import EmbeddedEmbeddings

    return EmbeddedEmbeddings(settings)


@functools.cache
def search_index() -> EmbeddedIndex:
    from shared.retrieval.embedded import EmbeddedIndex

    settings = get_settings().search
    return EmbeddedIndex(settings.index_path, settings.index_name)


@functools.cache
def retriever() -> Retriever:
    """The main knowledge base (SEARCH_*)."""
    settings = get_settings().search
    if settings.backend == "azure":
        from shared.retrieval.azure_search import AzureSearchRetriever

        return AzureSearchRetriever(
            search_client(),  # kept with the retriever, for the life of the process
            settings.index_name,
            None if settings.vectorizer else embeddings(),
            _search_options(),
            vectorizer=settings.vectorizer,
            semantic_configuration=settings.semantic_configuration,
        )
    from shared.retrieval.embedded import EmbeddedRetriever

    return EmbeddedRetriever(search_index(), embeddings(), _search_options())


def _search_options() -> SearchOptions:
    from shared.retrieval.query import SearchOptions

    settings = get_settings().search
    return SearchOptions(
        settings.top_k, settings.max_top_k, settings.vector_search, settings.security_field, settings.vector_weight
    )


@functools.cache
def data_sources() -> dict[str, DataSource]:
    """The named knowledge sources of POST /api/v1/chat/complete; by default, the main index."""
    from shared.settings import DataSource

    settings = get_settings()
    defined = settings.sources.definitions or [
        DataSource(name=settings.search.index_name, backend=settings.search.backend)
    ]
    return {source.name: source for source in defined}


@functools.cache
def source_retriever(name: str) -> Retriever:
    """The retriever of a named source: the main one when the source is the main index."""
    settings = get_settings()
    source = data_sources()[name]
    if not settings.sources.definitions:
        return retriever()
    index_name = source.index_name or source.name
    if source.backend == "azure":
        from azure.search.documents.aio import SearchClient

        from shared.retrieval.azure_search import AzureSearchRetriever

        key = source.api_key or settings.search.api_key
        client = SearchClient(source.endpoint or settings.search.endpoint, index_name, search_credential(key))
        return AzureSearchRetriever(client, index_name, embeddings(), _search_options())
    from shared.retrieval.embedded import EmbeddedRetriever

    return EmbeddedRetriever(_source_index(name), embeddings(), _search_options())


@functools.cache
def _source_index(name: str) -> EmbeddedIndex:
    from shared.config import DATA_DIR
    from shared.retrieval.embedded import EmbeddedIndex

    source = data_sources()[name]
    return EmbeddedIndex(
        source.index_path or DATA_DIR / "sources" / f"{source.name}.sqlite", source.index_name or source.name
    )


@functools.cache
def multi_source_search() -> MultiSourceSearch:
    from shared.retrieval.multi_source import MultiSourceSearch

    return MultiSourceSearch({name: source_retriever(name) for name in data_sources()}, embeddings())


def turn_retriever(plan: SourcePlan | None) -> Retriever:
    """A turn's retriever: the main knowledge base, or one built for the request's plan (the named
    sources and documents of POST /api/v1/chat/complete)."""
    if plan is None:
        return retriever()
    from shared.retrieval.multi_source import source_queries
    from shared.retrieval.request_context import RequestContext

    _check_plan(plan)
    embedding_model = get_settings().embeddings.model_name
    configured = {name: s.embedding_model or embedding_model for name, s in data_sources().items()}
    queries = source_queries(plan.sources, configured)
    attached = any(d.kind == "attachment" for d in plan.documents)
    return RequestContext(
        plan,
        queries,
        multi_source=multi_source_search() if queries else None,
        embeddings=embeddings(),
        attachments=attachments_container() if attached else None,
        documents_root=get_settings().sources.documents_root,
    )


def _check_plan(plan: SourcePlan) -> None:
    """RequestError when the plan names another embedding model than the deployment's; NotConfigured
    (503) when it brings attachments or documents and there is nowhere to read them from."""
    from shared.core.errors import NotConfigured

    settings = get_settings()
    embedding_model = settings.embeddings.model_name
    if plan.embedding_model not in (None, embedding_model):
        raise RequestError(
            f"embedding_model {plan.embedding_model!r} is not configured; this deployment embeds with "
            f"{embedding_model!r}",
            field="embedding_model",
        )
    kinds = {d.kind for d in plan.documents}
    if "attachment" in kinds and not settings.sources.attachments_configured():
        raise NotConfigured(
            "attachments are not configured: set SOURCES_ATTACHMENTS_CONNECTION_STRING or "
            "SOURCES_ATTACHMENTS_ACCOUNT_URL",
            field="attachment_config",
        )
    if "document" in kinds and settings.sources.documents_root is None:
        raise NotConfigured("documents are not configured: set SOURCES_DOCUMENTS_ROOT", field="document_paths")


def index_writer(source_name: str | None = None) -> IndexWriter:
    """Where ingestion writes: the main index, or a named source of POST /api/v1/chat/complete."""
    settings = get_settings().search
    if source_name is not None and get_settings().sources.definitions:
        source = data_sources().get(source_name)
        if source is None:
            raise RequestError(f"no source {source_name!r}; configured: {', '.join(data_sources())}")
        if source.backend == "embedded":
            from shared.retrieval.embedded import EmbeddedIndexWriter

            return EmbeddedIndexWriter(_source_index(source_name))
        raise RequestError(f"source {source_name!r} is an Azure AI Search index: point SEARCH_* at it to ingest")
    if settings.backend == "azure":
        from azure.search.documents.indexes.aio import SearchIndexClient

        from shared.retrieval.azure_search import AzureSearchIndexWriter

        return AzureSearchIndexWriter(
            # The writer's own clients: ingestion closes them when it is done.
            SearchIndexClient(settings.endpoint, search_credential()),
            search_client(),
            settings.index_name,
            settings.semantic_configuration,
        )
    from shared.retrieval.embedded import EmbeddedIndexWriter

    return EmbeddedIndexWriter(search_index())


@functools.cache
def history_store() -> HistoryStore:
    """The configured store, each call bounded by HISTORY_TIMEOUT_SECONDS and the HTTP deadline."""
    from shared.history.bounded import BoundedHistoryStore

    settings = get_settings().history
    store: HistoryStore
    if settings.backend == "cosmos":
        from shared.history.cosmos import CosmosHistoryStore

        store = CosmosHistoryStore(history_container(), keep=settings.max_messages, ttl_seconds=settings.ttl_seconds)
    else:
        from shared.history.sqlite import SqliteHistoryStore

        store = SqliteHistoryStore(settings.sqlite_path, settings.ttl_seconds)
    return BoundedHistoryStore(store, min(settings.timeout_seconds, get_settings().http.deadline_seconds))


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
    settings = get_settings().prompts
    return blob_container(
        settings.blob_connection_string, settings.blob_account_url, settings.blob_account_key, settings.blob_container
    )


@functools.cache
def attachments_container() -> ContainerClient:
    """Where POST /api/v1/chat/complete reads attachments (storage_key) from."""
    settings = get_settings().sources
    return blob_container(
        settings.attachments_connection_string,
        settings.attachments_account_url,
        settings.attachments_account_key,
        settings.attachments_container,
    )


@functools.cache
def document_store() -> DocumentStore:
    """Where documents are kept (DOCUMENTS_STORE): uploads, and what the trigger or watcher indexes."""
    settings = get_settings().documents
    if settings.store == "blob":
        from shared.ingest.stores import BlobStore

        container = blob_container(
            settings.connection_string, settings.account_url, settings.account_key, settings.container
        )
        return BlobStore(container)
    from shared.ingest.stores import FolderStore

    return FolderStore(settings.dir)


@functools.cache
def document_sync() -> DocumentSync:
    """The one handler that keeps the main index in step with the document store."""
    from shared.ingest.documents import DocumentIndexer, DocumentLimits
    from shared.ingest.sync import DocumentSync

    settings = get_settings().documents
    limits = DocumentLimits(settings.max_bytes, settings.max_pages, settings.max_chunks)
    return DocumentSync(document_store(), DocumentIndexer(index_writer(), embeddings(), limits))


@functools.cache
def template_renderer() -> TemplateRenderer:
    from shared.templates.sandbox import SandboxedRenderer

    settings = get_settings().prompts
    return SandboxedRenderer(settings.max_rendered_chars, settings.render_timeout_seconds)


@functools.cache
def token_validator() -> TokenValidator:
    from shared.auth import FETCH_TIMEOUT_SECONDS, TokenValidator

    fetch_timeout = min(FETCH_TIMEOUT_SECONDS, get_settings().http.deadline_seconds)
    return TokenValidator(get_settings().auth, fetch_timeout=fetch_timeout)


@functools.cache
def orchestrator() -> Orchestrator:
    from shared.core.orchestrator import Orchestrator

    return Orchestrator(
        retriever=turn_retriever,
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
        extractive_answers=extractive_answers,
        query_rewrite=query_rewrite,
        default_top_k=get_settings().search.top_k,
        answer_pool=get_settings().model.answer_pool,
    )


def extractive_answers(alias: str) -> ExtractiveAnswers | None:
    """The answerer for a model whose answer strategy is extractive; None when the model writes answers."""
    return _extractive_answers() if _per_model(alias, "answer_strategy") == "extractive" else None


def query_rewrite(alias: str) -> QueryRewrite:
    """How the model under `alias` turns a follow-up into a search query (shared.core.followups)."""
    return _per_model(alias, "query_rewrite")


def _per_model(alias: str, name: str) -> Any:
    """A setting each model may have: a remote model's own, else the embedded model's."""
    settings = get_settings().model
    return getattr(settings.remote(alias) or settings, name)


@functools.cache
def _extractive_answers() -> ExtractiveAnswers:
    from shared.core.answers import MIN_RELEVANCE, ExtractiveAnswers

    settings = get_settings()
    min_relevance = settings.model.answer_min_relevance
    if min_relevance is None:
        min_relevance = MIN_RELEVANCE.get(settings.embeddings.model_name, MIN_RELEVANCE[EMBEDDED_EMBEDDING_MODEL])
    return ExtractiveAnswers(_answer_embeddings(), min_relevance=min_relevance)


def _answer_embeddings() -> Embeddings:
    """The extractive answers' embeddings: the candidates' vectors are read from the embedded indexes
    (the main one, named sources) where ingestion stored them; Azure AI Search has none: computed."""
    settings = get_settings()
    indexes = [search_index()] if settings.search.backend == "embedded" else []
    if settings.sources.definitions:
        indexes += [_source_index(name) for name, s in data_sources().items() if s.backend == "embedded"]
    if not indexes:
        return embeddings()
    from shared.retrieval.passage_vectors import StoredPassageVectors

    return StoredPassageVectors(embeddings(), indexes)


def multimodal_aliases() -> list[str]:
    """The configured models that take images."""
    settings = get_settings().model
    return [alias for alias in settings.aliases() if settings.capabilities(alias).images]
