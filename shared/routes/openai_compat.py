"""The OpenAI-compatible API family (seeds 002 and 003): chat completions bound to a
configured agent, the plain base-URL form (`model` names an agent or a model alias), and
the model list. Official OpenAI SDKs and the Vercel AI SDK work against them unmodified.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

from shared.config import Agent, get_settings
from shared.core.errors import RequestError
from shared.routes.common import caller_id, endpoint, parse, refusal, stream_events

if TYPE_CHECKING:
    from shared.wire.openai_compat import CompletionCall

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())


@blueprint.route(route="v1/compatibility/openai/v1/assistants/{agent_id}/chat/completions", methods=["POST"])
@endpoint
async def agent_chat_completions(req: Request) -> Response:
    """Chat completions answered by one agent: its prompt, retrieval and model."""
    from shared.wire import openai_compat as wire

    body = await parse(req, wire.ChatCompletionsRequest)
    if isinstance(body, JSONResponse):
        return body
    agent_id = req.path_params["agent_id"]
    agent = get_settings().agents.find(agent_id)
    if agent is None:
        return refusal(req, RequestError(f"no agent {agent_id!r}", field="agent_id", status=404))
    alias = agent.model or get_settings().model.default_alias
    if body.model not in (None, "", alias):
        problem = f"model {body.model!r} is not this agent's model ({alias!r}); leave model unset to use it"
        return refusal(req, RequestError(problem, field="model"))
    return await _complete(req, wire.CompletionCall.start(agent, alias, body, caller_id(req, body.user)))


@blueprint.route(route="v1/chat/completions", methods=["POST"])
@endpoint
async def chat_completions(req: Request) -> Response:
    """Chat completions for clients configured with a base URL and a model name: `model` is
    an agent id (that agent answers) or a model alias (the default prompt and retrieval)."""
    from shared.wire import openai_compat as wire

    body = await parse(req, wire.ChatCompletionsRequest)
    if isinstance(body, JSONResponse):
        return body
    settings = get_settings()
    agent = settings.agents.find(body.model) if body.model else None
    if agent is None and body.model in settings.model.aliases():
        agent = Agent(id=uuid.uuid5(uuid.NAMESPACE_URL, f"model:{body.model}"), name=body.model, model=body.model)
    if agent is None:
        known = [str(a.id) for a in settings.agents.definitions] + settings.model.aliases()
        problem = f"no agent or model {body.model!r}; GET /api/v1/models lists them: {', '.join(known)}"
        return refusal(req, RequestError(problem, field="model", status=404))
    alias = agent.model or settings.model.default_alias
    return await _complete(req, wire.CompletionCall.start(agent, alias, body, caller_id(req, body.user)))


async def _complete(req: Request, call: CompletionCall) -> Response:
    from shared.backends import orchestrator
    from shared.wire import openai_compat as wire

    headers = {wire.SESSION_HEADER: call.session_id} if call.body.create_session else {}
    try:
        turn = call.turn_request()
        if call.body.stream:
            events = orchestrator().run(turn, stream=True)
            return await stream_events(req, call.chunks(events), wire.STREAM_FAILURE, headers=headers)
        completion = call.completion(await orchestrator().answer(turn))
    except Exception as exc:  # noqa: BLE001 - every failure gets a safe answer
        return refusal(req, exc)
    return JSONResponse(completion.model_dump(mode="json"), headers=headers)


@blueprint.route(route="v1/models", methods=["GET"])
@endpoint
async def list_models(req: Request) -> JSONResponse:
    """The agents (by id) and the model aliases a client may name as `model`."""
    from shared.wire import openai_compat as wire

    settings = get_settings()
    cards = [
        wire.ModelCard(id=str(a.id), created=0, owned_by="agent", name=a.name) for a in settings.agents.definitions
    ]
    cards += [wire.ModelCard(id=alias, created=0, owned_by="model", name=alias) for alias in settings.model.aliases()]
    return JSONResponse(wire.ModelList(data=cards).model_dump(mode="json"))
