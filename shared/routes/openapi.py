"""The OpenAPI 3.1 document, generated from the same pydantic models the handlers use.

OPERATIONS names every function the app registers; a test fails when one is missing, so
the document cannot fall behind the app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request

from shared.config import get_settings
from shared.routes.common import endpoint

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())

ROUTE_PREFIX = "/api"


@dataclass(frozen=True)
class Operation:
    function: str  # the registered function's name
    method: str
    route: str  # as registered, without the /api prefix
    summary: str
    tag: str
    body: type | None = None
    query: type | None = None
    response: type | None = None  # the 2xx JSON body
    status: int = 200
    streams: bool = False  # 200 may be Server-Sent Events instead
    errors: tuple[int, ...] = (400, 422, 500, 503)
    media_types: tuple[str, ...] = ()  # a page or file (text) rather than a JSON body
    public: bool = False  # no function key or token: the pages


def operations() -> list[Operation]:
    from shared.wire import chat_complete, feedback, openai_compat, openai_responses, session_chat, sources, v2

    flexible = "Flexible chat and RAG"
    openai = "OpenAI-compatible"
    return [
        *(
            Operation(
                f"flexible_{name.replace('-', '_')}",
                "post",
                f"v2/flexible-{name}",
                summary,
                flexible,
                v2.FLAVORS[name].request,
                response=v2.FLAVORS[name].response,
                streams=True,
                errors=(400, 413, 422, 500, 503) if name.endswith("mm") else (400, 422, 500, 503),
            )
            for name, summary in (
                ("chat", "Multi-turn chat with retrieval"),
                ("chat-mm", "Multi-turn chat with images"),
                ("rag", "Single-turn question answering"),
                ("rag-mm", "Single-turn question answering with images"),
            )
        ),
        Operation(
            "models",
            "get",
            "v2/models",
            "The configured models",
            flexible,
            query=v2.ModelsQuery,
            response=v2.ModelsResponse,
            errors=(422, 500),
        ),
        Operation(
            "list_sessions",
            "get",
            "v2/sessions",
            "The caller's sessions, newest first",
            flexible,
            query=v2.SessionsQuery,
            response=v2.SessionsPage,
        ),
        Operation(
            "session",
            "get",
            "v2/sessions/{session_id}",
            "One session with its messages",
            flexible,
            query=v2.SessionQuery,
            response=v2.SessionHistory,
            errors=(404, 422, 500, 503),
        ),
        Operation(
            "message_feedback",
            "post",
            "v2/sessions/{session_id}/messages/{index}/feedback",
            "Thumbs up or down on an answer of the caller's session",
            flexible,
            feedback.FeedbackRequest,
            query=v2.SessionQuery,
            response=feedback.FeedbackResponse,
            errors=(400, 404, 422, 500, 503),
        ),
        Operation(
            "open_source",
            "get",
            "v2/sources/{source_id}",
            "A cited passage and its document, if the caller's search could return it",
            flexible,
            query=sources.SourceQuery,
            response=sources.OpenedSourceOut,
            errors=(404, 422, 500, 503),
        ),
        Operation(
            "session",
            "delete",
            "v2/sessions/{session_id}",
            "Delete a session and all its items",
            flexible,
            query=v2.SessionQuery,
            status=204,
            errors=(404, 422, 500, 503),
        ),
        *(
            Operation(
                function,
                "post",
                route,
                summary,
                openai,
                openai_compat.ChatCompletionsRequest,
                response=openai_compat.ChatCompletion,
                streams=True,
                errors=(400, 404, 422, 500, 503),
            )
            for function, route, summary in (
                (
                    "agent_chat_completions",
                    "v1/compatibility/openai/v1/assistants/{agent_id}/chat/completions",
                    "Chat completions answered by an agent",
                ),
                ("chat_completions", "v1/chat/completions", "Chat completions by agent id or model alias"),
            )
        ),
        Operation(
            "azure_chat_completions",
            "post",
            "openai/deployments/{deployment}/chat/completions",
            "Chat completions in the Azure OpenAI route shape (deployment: agent id or model alias)",
            openai,
            openai_compat.ChatCompletionsRequest,
            query=openai_compat.AzureApiVersion,
            response=openai_compat.ChatCompletion,
            streams=True,
            errors=(400, 404, 422, 500, 503),
        ),
        Operation(
            "create_response",
            "post",
            "v1/responses",
            "OpenAI Responses API: a response by agent id or model alias",
            openai,
            openai_responses.ResponsesRequest,
            response=openai_responses.ResponseObject,
            streams=True,
            errors=(400, 404, 422, 500, 503),
        ),
        Operation(
            "retrieve_model",
            "get",
            "v1/models/{model_id}",
            "One agent or model alias",
            openai,
            response=openai_compat.ModelCard,
            errors=(404, 500),
        ),
        Operation(
            "list_models",
            "get",
            "v1/models",
            "Agents and model aliases",
            openai,
            response=openai_compat.ModelList,
            errors=(500,),
        ),
        Operation(
            "session_chat",
            "post",
            "v1/chat",
            "Session chat",
            "Session chat",
            session_chat.SessionChatRequest,
            response=session_chat.SessionChatResponse,
        ),
        Operation(
            "chat_complete",
            "post",
            "v1/chat/complete",
            "Multi-source RAG chat",
            "Multi-source RAG",
            chat_complete.ChatCompleteRequest,
            response=chat_complete.ChatCompleteResponse,
            errors=(400, 404, 422, 500, 503),
        ),
        Operation("openapi", "get", "openapi.json", "This document", "Meta", errors=(500,)),
        *(
            Operation(function, "get", route, summary, "Pages", errors=errors, media_types=types, public=True)
            for function, route, summary, errors, types in (
                ("playground", "playground", "The chat playground (a web page)", (503,), ("text/html",)),
                ("docs", "docs", "This reference, in Swagger UI (a web page)", (503,), ("text/html",)),
                (
                    "static_file",
                    "static/{name}",
                    "A script, style sheet or license of the pages, by name",
                    (404, 503),
                    ("text/javascript", "text/css", "text/plain"),
                ),
            )
        ),
    ]


def openapi_document() -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    from shared.wire.errors import ErrorBody, ValidationErrorBody

    ops = operations()
    models = {(op.body, "validation") for op in ops if op.body}
    models |= {(op.response, "serialization") for op in ops if op.response}
    models |= {(ErrorBody, "serialization"), (ValidationErrorBody, "serialization")}
    refs, schemas = models_json_schema(
        sorted(models, key=lambda m: m[0].__name__), ref_template="#/components/schemas/{model}"
    )

    def json_content(model: type, mode: str) -> dict[str, Any]:
        return {"application/json": {"schema": refs[(model, mode)]}}

    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        responses: dict[str, Any] = {}
        if op.status == 204:
            responses["204"] = {"description": "Done."}
        else:
            content = (
                json_content(op.response, "serialization")
                if op.response
                else {"application/json": {"schema": {"type": "object"}}}
            )
            if op.media_types:
                content = {media_type: {"schema": {"type": "string"}} for media_type in op.media_types}
            if op.streams:
                # Each event's data: a JSON object, or OpenAI's closing [DONE].
                content["text/event-stream"] = {"schema": {"type": ["object", "string"]}}
            responses[str(op.status)] = {"description": "OK", "content": content}
        for status in sorted({*op.errors, 401, 403}):
            body = ValidationErrorBody if status == 422 else ErrorBody
            responses[str(status)] = {
                "description": _STATUS_TEXT[status],
                "content": json_content(body, "serialization"),
            }
        operation: dict[str, Any] = {
            "operationId": f"{op.function}_{op.method}" if op.function == "session" else op.function,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": _path_parameters(op.route) + _query_parameters(op.query),
            "responses": responses,
        }
        if op.public:
            operation["security"] = []
        if op.body:
            operation["requestBody"] = {"required": True, "content": json_content(op.body, "validation")}
        paths.setdefault(f"{ROUTE_PREFIX}/{op.route}", {})[op.method] = operation

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Serverless RAG chat backend",
            "version": "1.0.0",
            "description": "Chat completions over your documents, with sources. `security` lists what this "
            "deployment requires: a function key unless HTTP_AUTH_LEVEL=anonymous, and a bearer token when "
            "AUTH_TOKEN_VALIDATION is on.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
                "bearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        **_security(),
    }


def _security() -> dict[str, Any]:
    """What this deployment requires: a function key (unless anonymous), and a token when validated."""
    settings = get_settings()
    keys = [["functionKey"], ["functionKeyQuery"]] if settings.http.auth_level != "anonymous" else [[]]
    token = ["bearerToken"] if settings.auth.token_validation else []
    requirements = [{name: [] for name in [*key, *token]} for key in keys]
    return {"security": requirements} if requirements != [{}] else {}


_STATUS_TEXT = {
    400: "The request asks for something refused.",
    401: "Missing or invalid credentials (WWW-Authenticate says why).",
    403: "Valid credentials without the required role or scope; or no identity to list sessions for.",
    404: "No such agent, session, attachment or document.",
    413: "An inline image over the size limit.",
    422: "The request does not match its schema.",
    500: "An unexpected failure, or (multi-source chat) the model failed.",
    503: "A backend failed or is not configured.",
}


def _path_parameters(route: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", route)
    ]


def _query_parameters(model: type | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _without_null(field)}
        for name, field in schema["properties"].items()
    ]


def _without_null(field: dict[str, Any]) -> dict[str, Any]:
    """An optional query parameter's schema: absent means unset, so the null branch goes."""
    branches = [b for b in field.get("anyOf", ()) if b.get("type") != "null"]
    if len(branches) != 1:
        return field
    rest = {k: v for k, v in field.items() if k not in ("anyOf", "default")}
    return {**rest, **branches[0]}


@blueprint.route(route="openapi.json", methods=["GET"])
@endpoint
async def openapi(req: Request) -> JSONResponse:
    """The OpenAPI 3.1 document of every endpoint."""
    return JSONResponse(openapi_document())
