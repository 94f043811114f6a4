"""The OpenAPI 3.1 document, built from the operations' declarations (shared.http.endpoints)
and the same pydantic models the handlers validate with: an endpoint is in the document
because it is registered, with the models it is registered with.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.backends import DEFAULT_ALIAS
from shared.config import get_settings
from shared.http.endpoints import Operation, wire_model
from shared.wire.common import DEPLOYMENT_VALUES
from shared.wire.errors import ErrorBody, ValidationErrorBody
from shared.wire.examples import EXAMPLES

ROUTE_PREFIX = "/api"


def openapi_document(operations: list[Operation]) -> dict[str, Any]:
    models: set[tuple[type[BaseModel], JsonSchemaMode]]
    models = {(op.model(part), "validation") for op in operations for part in ("body", "form") if getattr(op, part)}
    models |= {(op.model("response"), "serialization") for op in operations if op.response}
    models |= {(wire_model(ref), "serialization") for op in operations for _, ref in op.error_bodies}
    models |= {(ErrorBody, "serialization"), (ValidationErrorBody, "serialization")}
    refs, schemas = models_json_schema(
        sorted(models, key=lambda m: m[0].__name__), ref_template="#/components/schemas/{model}"
    )
    _state_deployment_values(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(f"{ROUTE_PREFIX}/{op.route}", {})[op.method] = _operation(op, refs)
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


def _state_deployment_values(node: Any) -> None:
    """Each string marked as taking the deployment's values (shared.wire.common.MODEL_ALIASES) gets
    them as its enum, so that a client and a fuzzer see what this deployment takes."""
    if isinstance(node, list):
        for item in node:
            _state_deployment_values(item)
    if not isinstance(node, dict):
        return
    kind = node.pop(DEPLOYMENT_VALUES, None)
    if kind is not None:
        values = {"model-aliases": [DEFAULT_ALIAS, *get_settings().model.aliases()]}[kind]
        strings = [b for b in node.get("anyOf", ()) if b.get("type") == "string"] or [node]
        for branch in strings:
            branch["enum"] = values
    for value in node.values():
        _state_deployment_values(value)


def _security() -> dict[str, Any]:
    """What this deployment requires: a function key (unless anonymous), and a token when validated."""
    settings = get_settings()
    keys = [["functionKey"], ["functionKeyQuery"]] if settings.http.auth_level != "anonymous" else [[]]
    token = ["bearerToken"] if settings.auth.token_validation else []
    requirements: list[dict[str, list[str]]] = [{name: [] for name in [*key, *token]} for key in keys]
    return {"security": requirements} if requirements != [{}] else {}


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    def json_content(model: type, mode: str) -> dict[str, Any]:
        return {"application/json": {"schema": refs[(model, mode)]}}

    responses: dict[str, Any] = {str(status): {"description": _STATUS_TEXT[status]} for status in op.empty}
    if op.status == 204:
        responses["204"] = {"description": "Done."}
    elif op.status not in op.empty:
        response = op.model("response")
        content: dict[str, Any] = (
            json_content(response, "serialization")
            if response
            else {"application/json": {"schema": {"type": "object"}}}
        )
        if op.media_types:
            content = {media_type: {"schema": {"type": "string"}} for media_type in op.media_types}
        if op.streams:
            # Each event's data: a JSON object, or OpenAI's closing [DONE].
            content["text/event-stream"] = {"schema": {"type": ["object", "string"]}}
        responses[str(op.status)] = {"description": "OK", "content": content}
    shapes = {status: wire_model(ref) for status, ref in op.error_bodies}
    # Every operation may be refused for credentials, and its path answers another method 405; a
    # body is refused over its size limit (413) and in another content type (415) before it is read.
    errors = {*op.errors, 401, 403, 405} | ({413, 415} if op.body or op.form or op.reads_body else set())
    for status in sorted(errors - set(op.empty)):
        body = shapes.get(status, ValidationErrorBody if status == 422 else ErrorBody)
        responses[str(status)] = {"description": _STATUS_TEXT[status], "content": json_content(body, "serialization")}
    responses["405"]["headers"] = {
        "Allow": {"description": "The methods this path takes.", "schema": {"type": "string"}}
    }
    operation: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _path_parameters(op) + _query_parameters(op.model("query")),
        "responses": responses,
    }
    if op.public:
        operation["security"] = []
    if op.body:
        content = json_content(op.model("body"), "validation")
        example = EXAMPLES.get(op.model("body").__name__)
        if example is not None:  # what try-it-out sends: without it, Swagger UI fills every field with a placeholder
            content["application/json"]["example"] = example
        operation["requestBody"] = {"required": True, "content": content}
    if op.form:
        form = {"multipart/form-data": {"schema": refs[(op.model("form"), "validation")]}}
        operation["requestBody"] = {"required": True, "content": form}
    return operation


_STATUS_TEXT = {
    202: "Accepted: a notification or a response, which has no answer.",
    400: "The request asks for something refused.",
    401: "Missing or invalid credentials (WWW-Authenticate says why).",
    403: "Valid credentials without the required role or scope; or no identity to list sessions for.",
    404: "No such agent, session, attachment or document.",
    405: "Not this method (Allow names the ones there are).",
    406: "The Accept header takes none of the answer's content types.",
    413: "A body, an inline image or a document over its size limit.",
    415: "A body or file of a type this endpoint does not take.",
    422: "The request does not match its schema.",
    500: "An unexpected failure, or (multi-source chat) the model failed.",
    503: "A backend failed or is not configured.",
}


def _path_parameters(op: Operation) -> list[dict[str, Any]]:
    """Each {name} of the route: its schema from the path model, if one is declared, else a string."""
    model = op.model("path")
    fields = model.model_json_schema(mode="validation")["properties"] if model else {}
    return [
        {"name": name, "in": "path", "required": True, "schema": fields.get(name, {"type": "string"})}
        for name in re.findall(r"{(\w+)}", op.route)
    ]


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
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
