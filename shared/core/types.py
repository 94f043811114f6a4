"""The orchestration core's own types. Wire formats live in shared.wire and map to these."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from shared.core.source_plan import RetrievalReport, SourcePlan

Role = Literal["system", "user", "assistant", "tool"]
TurnStage = Literal["history", "retrieval", "generation", "prompt"]


class Timing(StrEnum):
    """The timed steps of a turn: the keys of TurnResult.timings (seconds), as responses report them."""

    HISTORY_BUILD = "orchestrator.history_build"
    PROMPT_BUILD = "orchestrator.prompt_build"
    FETCH_TOTAL = "orchestrator.fetch_total"
    LLM_GENERATE = "orchestrator.llm_generate"
    RESPONSE_FORMAT = "orchestrator.response_format"


ReasoningEffort = Literal["low", "medium", "high", "auto"]


@dataclass(frozen=True)
class Source:
    """One retrieved document chunk, with the fields the caller selected."""

    id: str
    index_name: str
    score: float
    text: str
    fields: dict[str, Any]
    highlights: dict[str, list[str]] | None = None  # field -> fragments with <em>matched</em> terms


@dataclass(frozen=True)
class Chunk:
    """A passage of an ingested document, as ingestion hands it to an index (IndexWriter)."""

    filename: str
    title: str | None
    chunk_index: int
    page: int | None
    text: str
    content_hash: str = ""
    category: str | None = None
    tags: tuple[str, ...] = ()
    allowed_principals: tuple[str, ...] = ()
    section: str | None = None  # the heading the passage sits under (PDFs), not part of its text

    @property
    def id(self) -> str:
        # Stable across re-ingestion and valid as an Azure AI Search key.
        return f"{hashlib.sha1(self.filename.encode()).hexdigest()[:16]}-{self.chunk_index}"


@dataclass(frozen=True)
class Image:
    """An image sent with a user message: an https URL, or a data: URL carrying the bytes."""

    url: str | None  # None once stored: history keeps a note of inline bytes, never the bytes
    detail: Literal["low", "high", "auto"] | None = None
    note: str | None = None  # for inline bytes: "image/png, 48213 bytes, sha256 1f3a…"

    def reference(self) -> Image:
        """What the history store keeps of this image: the URL, or a note in place of inline bytes."""
        if not (self.url or "").startswith("data:"):
            return self
        header, _, payload = self.url.partition(",")
        media_type = header.removeprefix("data:").split(";")[0]
        raw = base64.b64decode(payload, validate=False)
        return Image(None, self.detail, f"{media_type}, {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}")


@dataclass(frozen=True)
class ToolCall:
    """A function the model asks the client to call (OpenAI's tool_calls entry)."""

    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True)
class Feedback:
    """A user's verdict on an assistant message, kept with it in the history store."""

    rating: Literal["up", "down"]
    comment: str | None = None


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    sources: tuple[Source, ...] = ()
    images: tuple[Image, ...] = ()  # on user messages; the model sees those of the latest turn only
    tool_calls: tuple[ToolCall, ...] = ()  # on assistant messages that called tools
    tool_call_id: str | None = None  # on tool messages: the call this is the result of
    feedback: Feedback | None = None  # on stored assistant messages


@dataclass(frozen=True)
class RetrievalSpec:
    """What to search for; `enabled=False` skips the knowledge base entirely."""

    enabled: bool = True
    query: str | None = None  # defaults to the question (or, with rewrite, a standalone query)
    rewrite: bool = False  # on a follow-up, search with a standalone query the model writes
    top_k: int | None = None  # defaults to the search settings
    vector_search: bool | None = None  # hybrid when true, full-text only when false
    vector_only: bool = False  # nearest neighbours alone; each source's score is then its cosine similarity
    select_fields: tuple[str, ...] | None = None
    filter: str | None = None  # OData, as Azure AI Search reads it
    include_total_count: bool = False
    facets: tuple[str, ...] | None = None  # "field" or "field,count:N"
    highlight_fields: tuple[str, ...] | None = None
    plan: SourcePlan | None = None  # None: search the main knowledge base


@dataclass(frozen=True)
class PromptSpec:
    system_template: str | None = None  # inline Jinja2
    system_file: str | None = None  # a template name in the template source
    response_template: str | None = None  # inline Jinja2 shaping the answer; `answer` is set
    response_file: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    # The client's own instructions (OpenAI system and developer messages): the template's
    # `instructions` variable, or after the prompt of a template that does not use it.
    instructions: str | None = None


@dataclass(frozen=True)
class GenerationParams:
    """Per-request model choice and sampling parameters; None means the model's default."""

    alias: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    n: int | None = None  # completions to generate
    reasoning_effort: ReasoningEffort | None = None
    # OpenAI's wire shapes, passed through to remote models: {"type": "text" | "json_object" |
    # "json_schema", "json_schema": {"name", "schema", "strict"}}, the function tools, the choice.
    response_format: Mapping[str, Any] | None = None
    tools: tuple[Mapping[str, Any], ...] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> GenerationParams:
        """From plain values (a request's, a variant's, an agent's): None is unset, stop a list or tuple."""
        chosen = {k: v for k, v in values.items() if v is not None}
        for name in ("stop", "tools"):
            if name in chosen:
                chosen[name] = tuple(chosen[name])
        return cls(**chosen)

    def with_defaults(self, defaults: GenerationParams) -> GenerationParams:
        """These parameters, with `defaults` for those left unset."""
        return replace(defaults, **{k: v for k, v in self.__dict__.items() if v is not None})

    def overrides(self) -> dict[str, Any]:
        """The sampling parameters the request set explicitly (n included, reasoning and tools apart),
        as llama.cpp's create_chat_completion takes them: response_format becomes
        {"type": "json_object"} or {"type": "json_object", "schema": {...}} (its grammar), and
        "text" is left out (plain text is the default)."""
        chosen = {k: v for k, v in self.__dict__.items() if k not in _NOT_SAMPLING and v is not None}
        output = _grammar_format(self.response_format)
        if output:
            chosen["response_format"] = output
        return chosen

    @property
    def free_text(self) -> bool:
        """Whether the answer is prose for a reader: no JSON output asked for, no tools offered."""
        return _grammar_format(self.response_format) is None and not self.tools

    def tool_options(self) -> dict[str, Any]:
        """What OpenAI-protocol models take besides sampling: tools, tool choice, response_format as sent."""
        return {k: getattr(self, k) for k in _TOOL_OPTIONS if getattr(self, k) is not None}


_TOOL_OPTIONS = ("response_format", "tools", "tool_choice", "parallel_tool_calls")
_NOT_SAMPLING = ("alias", "reasoning_effort", *_TOOL_OPTIONS)


def _grammar_format(response_format: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's response_format in llama.cpp's shape; None for plain text."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        return {"type": "json_object", "schema": dict(response_format["json_schema"].get("schema") or {})}
    return None


@dataclass(frozen=True)
class Reasoning:
    """The reasoning effort asked for, and what the provider was actually sent."""

    requested: ReasoningEffort
    sent_effort: ReasoningEffort | None  # None: the parameter was not sent (the provider's default applies)
    provider: str
    source: Literal["request", "default"]
    sanitized: bool


@dataclass(frozen=True)
class TurnRequest:
    question: str
    history: tuple[Message, ...] = ()
    retrieval: RetrievalSpec = RetrievalSpec()
    prompt: PromptSpec = PromptSpec()
    generation: GenerationParams = GenerationParams()
    user_id: str | None = None
    session_id: str | None = None  # continue this stored conversation, and store this turn
    # Whose conversation session_id names: the caller's identity, or an owner derived from the
    # request's ids (shared.identity); user_id stays the search principal.
    session_owner: str | None = None
    session_must_exist: bool = False  # an unknown session is refused (404) instead of started
    images: tuple[Image, ...] = ()  # with the question; needs a multimodal model
    # The tool round trip after the question (assistant tool_calls, tool results), sent after it.
    after_question: tuple[Message, ...] = ()


@dataclass(frozen=True)
class TokenUsage:
    prompt: int
    completion: int

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class ModelInfo:
    alias: str
    provider: str
    deployment: str | None
    model: str
    reasoning: bool = False  # whether the model takes a reasoning effort
    context_window: int = 4096  # tokens, prompt and answer together
    supports_multimodal: bool = False  # takes images with messages


@dataclass(frozen=True)
class PromptBudget:
    """How the prompt was fitted to the model's context window, and what had to go."""

    context_window: int
    max_tokens: int  # reserved for the answer
    prompt_tokens: int
    dropped_history: int  # oldest messages left out
    dropped_sources: tuple[str, ...]  # ids of the lowest-ranked sources left out


@dataclass(frozen=True)
class Completion:
    choices: tuple[str, ...]  # n alternatives, best guess first
    usage: TokenUsage
    finish_reason: str | None  # "length" when any choice was cut, else the first choice's
    parameters: dict[str, Any]  # the effective values sent to the model
    reasoning_tokens: int | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # of the first choice
    finish_reasons: tuple[str | None, ...] = ()  # each choice's, in order; empty: finish_reason is every choice's

    @property
    def text(self) -> str:
        return self.choices[0]


@dataclass(frozen=True)
class SearchResult:
    sources: tuple[Source, ...]
    index_name: str
    count: int | None = None  # documents matching, when asked for
    facets: dict[str, list[dict[str, Any]]] | None = None  # field -> [{value, count}]
    report: RetrievalReport | None = None  # a SourcePlan's search: what it did besides finding sources


@dataclass(frozen=True)
class SearchQuery:
    """The text a turn searched for, and where it came from."""

    text: str
    # expanded: the question with the earlier questions' words (no model call); fallback: the rewrite failed
    origin: Literal["question", "request", "rewritten", "expanded", "fallback"]


@dataclass(frozen=True)
class TurnError:
    """An upstream failure reported to the caller; never carries secrets or tracebacks."""

    stage: TurnStage
    code: str
    message: str


@dataclass(frozen=True)
class TemplateInfo:
    system_prompt_source: str  # default | inline | file:<path> | blob:<path>
    response_template_source: str
    variables_used: tuple[str, ...]

    @property
    def custom(self) -> bool:
        """Whether the request chose either template (inline or by name)."""
        return self.system_prompt_source != "default" or self.response_template_source != "default"


@dataclass(frozen=True)
class TurnResult:
    answer: str  # answers[0]
    answers: tuple[str, ...]
    sources: tuple[Source, ...]
    history: tuple[Message, ...]
    system_prompt: str
    template_info: TemplateInfo
    model: ModelInfo
    usage: TokenUsage | None
    parameters: dict[str, Any]
    errors: tuple[TurnError, ...]
    timings: dict[str, float]  # by Timing (its value)
    queried_indexes: tuple[str, ...]
    search: SearchResult | None = None  # the raw search outcome (count, facets), when one ran
    search_query: SearchQuery | None = None  # None when retrieval was skipped
    finish_reason: str | None = None  # the model's: "stop", "length", ...; None without a completion
    finish_reasons: tuple[str | None, ...] = ()  # each answer's (Completion.finish_reasons)
    reasoning: Reasoning | None = None
    reasoning_tokens: int | None = None
    budget: PromptBudget | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # the tools the model asks the client to call

    @property
    def retrieval(self) -> RetrievalReport | None:
        """What the search of the request's SourcePlan did; None for the main knowledge base."""
        return self.search.report if self.search else None


@dataclass(frozen=True)
class Conversation:
    """A stored session's recent messages, and the store's record of what it read.

    `snapshot` is opaque to the core: handed back to HistoryStore.append, it lets the store
    write without reading again (Cosmos DB: the item and its ETag)."""

    messages: tuple[Message, ...] = ()
    snapshot: object = None


@dataclass(frozen=True)
class SessionSummary:
    session_id: str
    title: str  # the first question, shortened
    created_at: datetime
    updated_at: datetime
    message_count: int


@dataclass(frozen=True)
class SessionPage:
    sessions: tuple[SessionSummary, ...]  # newest activity first
    continuation: str | None  # pass back for the next page; None on the last
