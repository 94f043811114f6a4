"""Requests of the flexible chat and RAG family: POST /api/v2/flexible-{chat,chat-mm,rag,rag-mm}.

Schema violations become 422; shared.families.flexible maps a request to the core's turn.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, field_validator, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from shared.core.errors import RequestError
from shared.core.types import GenerationParams, Image, ReasoningEffort
from shared.retrieval.limits import MAX_FILTER_CHARS
from shared.wire.common import (
    MAX_MESSAGE_CHARS,
    MODEL_ALIASES,
    SESSION_ID_PATTERN,
    CompletionCount,
    Integer,
    PositiveInteger,
    Seed,
    StrictModel,
    not_both,
    within_history_limit,
)

MAX_QUESTION_CHARS = 20_000  # the question, and a search query given instead of it
MAX_IMAGES = 10
MAX_IMAGE_BYTES = 5_000_000  # decoded size of one inline image


class ChatMessage(StrictModel):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)
    sources: list[dict[str, Any]] | None = None


class AzureSearchFetcherArgs(StrictModel):
    query: str | None = Field(
        None,
        max_length=MAX_QUESTION_CHARS,
        description="Search text; defaults to the question. '*' matches everything.",
    )
    filter: str | None = Field(
        None, description=f"OData filter, e.g. \"category eq 'warranty'\"; at most {MAX_FILTER_CHARS} characters."
    )
    top_k: Integer | None = Field(None, description="Number of sources; 0 skips retrieval.")
    include_total_count: bool = False
    facets: list[str] | None = Field(None, description='e.g. ["filename,count:5", "tags"]')
    highlight_fields: list[str] | None = None
    select_fields: list[str] | None = None
    vector_search: bool | None = Field(None, description="Hybrid (text + vector) when true, full-text when false.")


class FetchArgs(StrictModel):
    AzureSearchFetcher: AzureSearchFetcherArgs = Field(default_factory=AzureSearchFetcherArgs)


SessionId = Annotated[
    str,
    Field(
        pattern=SESSION_ID_PATTERN,
        description="Chosen by the client: letters, digits and . _ : @ -, up to 128 characters.",
    ),
]


class ABTesting(StrictModel):
    user_id: str = Field(min_length=1, max_length=256)
    session_id: SessionId | None = Field(None, description="Continue (or start) this stored conversation.")
    experiment_name: str | None = Field(None, description="Assigns a variant when the deployment configures one.")


class ModelParams(StrictModel):
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: PositiveInteger | None = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    stop: list[str] | None = Field(None, max_length=4)
    seed: Seed | None = None
    n: CompletionCount | None = None


ModelAlias = Annotated[str, Field(min_length=1, max_length=128, json_schema_extra=MODEL_ALIASES)]


class ReasoningConfig(StrictModel):
    effort: ReasoningEffort


class OverrideConfig(BaseModel):
    # The contract calls override_config forward-looking: unknown keys are accepted, not acted on.
    model_config = ConfigDict(extra="allow", strict=True)

    llm: ModelAlias | ModelParams | None = Field(None, description="A model alias, or (legacy) parameters.")
    model: ModelAlias | None = Field(None, description="A model alias; `llm` wins when both are given.")
    params: ModelParams | None = None
    n: CompletionCount | None = Field(None, description="Completions to return; wins over params.n.")
    reasoning_effort: ReasoningEffort | None = None
    reasoning: ReasoningConfig | None = None

    def generation(self) -> GenerationParams:
        alias = self.llm if isinstance(self.llm, str) else self.model
        legacy = self.llm if isinstance(self.llm, ModelParams) else None
        values: dict[str, Any] = {}
        for params in (legacy, self.params):  # `params` wins over the legacy form
            if params is not None:
                values.update(params.model_dump(exclude_none=True))
        if self.n is not None:  # override_config.n > override_config.params.n > the alias's default
            values["n"] = self.n
        effort = self.reasoning_effort or (self.reasoning.effort if self.reasoning else None)
        return GenerationParams.of({**values, "alias": alias, "reasoning_effort": effort})


# Each template is given inline or by name, not both (422).
TEMPLATE_FORMS = (("system_prompt_template", "system_prompt_file"), ("response_template", "response_template_file"))


class FlexibleChatRequest(StrictModel):
    model_config = ConfigDict(json_schema_extra={"allOf": [not_both(*pair) for pair in TEMPLATE_FORMS]})

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    fetch_args: FetchArgs = Field(default_factory=FetchArgs)
    history: list[ChatMessage] = Field(default_factory=list, max_length=200)
    ab_testing: ABTesting | None = None
    system_prompt_template: str | None = None
    system_prompt_file: str | None = Field(None, description="A template name in the prompts folder or container.")
    response_template: str | None = Field(None, description="Inline Jinja2 shaping the answer; `answer` is set.")
    response_template_file: str | None = None
    template_variables: dict[str, Any] = Field(default_factory=dict)
    override_config: OverrideConfig = Field(default_factory=OverrideConfig)
    metadata: dict[str, Any] = Field(default_factory=dict)
    stream: bool = Field(False, description="Answer as Server-Sent Events (also with Accept: text/event-stream).")

    def freeform_metadata(self) -> dict[str, Any]:
        """`metadata` as templates and the response see it."""
        return self.metadata

    @field_validator("history")
    @classmethod
    def _history_within_limit(cls, history: list[ChatMessage]) -> list[ChatMessage]:
        within_history_limit(m.content for m in history)
        return history

    @model_validator(mode="after")
    def _one_form_per_template(self) -> FlexibleChatRequest:
        for inline, file in TEMPLATE_FORMS:
            if getattr(self, inline) is not None and getattr(self, file) is not None:
                raise ValueError(f"give {inline} or {file}, not both")
        return self


class FlexibleRagRequest(FlexibleChatRequest):
    skip_knowledge_base: bool = Field(False, description="Answer without searching the knowledge base.")


# Whole base64: groups of four characters, the last one padded (a lone or unpadded tail does not decode).
_BASE64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)"
_DATA_URL = re.compile(rf"^data:image/(png|jpeg|gif|webp);base64,{_BASE64}$")


class ImageIn(StrictModel):
    # The validator's rules, stated in the schema: exactly one of url and data_url, each in its form.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": [name], "properties": {name: {"type": "string"}}} for name in ("url", "data_url")]
        }
    )

    url: str | None = Field(
        None, description="An https URL the model fetches.", json_schema_extra={"pattern": "^[Hh][Tt][Tt][Pp][Ss]://"}
    )
    data_url: str | None = Field(
        None,
        description="data:image/<png|jpeg|gif|webp>;base64,<bytes>",
        json_schema_extra={"pattern": _DATA_URL.pattern},
    )
    detail: Literal["low", "high", "auto"] | None = None

    @model_validator(mode="after")
    def _one_https_url_or_image_data(self) -> ImageIn:
        if (self.url is None) == (self.data_url is None):
            raise ValueError("give url or data_url, exactly one")
        if self.url is not None and not self.url.lower().startswith("https://"):
            raise ValueError("url must be https; send other images inline as data_url")
        if self.data_url is not None and not _DATA_URL.match(self.data_url):
            raise ValueError("data_url must be data:image/(png|jpeg|gif|webp);base64,<base64 data, padded>")
        return self

    def decoded_size(self) -> int:
        payload = (self.data_url or "").partition(",")[2]
        return len(payload) * 3 // 4 - payload[-2:].count("=")


class MultimodalMetadata(BaseModel):
    # The rest of `metadata` stays freeform; only `images` has a shape. The schema states that
    # there is at least one image, which images() refuses with a 400 otherwise.
    model_config = ConfigDict(extra="allow", strict=True, json_schema_extra={"required": ["images"]})

    images: list[ImageIn] = Field(default_factory=list, max_length=MAX_IMAGES, json_schema_extra={"minItems": 1})


class _Multimodal(BaseModel):
    """The -mm endpoints: images in metadata.images, for the latest user turn."""

    metadata: MultimodalMetadata = Field(default_factory=MultimodalMetadata)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target["required"] = [*target.get("required", ()), "metadata"]  # with its images (400 without)
        return schema

    def freeform_metadata(self) -> dict[str, Any]:
        return self.metadata.model_dump(exclude={"images"})

    def images(self) -> tuple[Image, ...]:
        """The images, or RequestError: 400 when there are none, 413 when one is too large."""
        if not self.metadata.images:
            raise RequestError("at least one image is required in metadata.images", field="metadata.images")
        for n, image in enumerate(self.metadata.images):
            if image.decoded_size() > MAX_IMAGE_BYTES:
                raise RequestError(
                    f"metadata.images[{n}] is over the {MAX_IMAGE_BYTES // 1_000_000} MB limit for inline images",
                    field=f"metadata.images.{n}.data_url",
                    status=413,
                )
        return tuple(Image(i.url or i.data_url, i.detail) for i in self.metadata.images)


class FlexibleChatMultimodalRequest(_Multimodal, FlexibleChatRequest):
    pass


class FlexibleRagMultimodalRequest(_Multimodal, FlexibleRagRequest):
    pass
