"""The OpenAI-compatible chat completions: bound to a configured agent, the plain base-URL
form (`model` names an agent or a model alias), the Azure OpenAI route shape (the
deployment names an agent or a model alias), and the model list. Official OpenAI SDKs,
AzureOpenAI, LangChain, LlamaIndex, litellm and the Vercel AI SDK work against them unmodified.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request, Response

from shared.config import Agent, get_settings
from shared.core.errors import RequestError
from shared.routes.common import RequestModel, caller_id, endpoint, parse, refusal, stream_events

if TYPE_CHECKING:
    from shared.wire.openai_compat import ChatCompletionsRequest, CompletionCall

blueprint = func.Blueprint(http_auth_level=get_settings().http.auth_level.upper())


@blueprint.route(route="v1/compatibility/openai/v1/assistants/{agent_id}/chat/completions", methods=["POST"])
@endpoint
async def agent_chat_completions(req: Request) -> Response:
    """Chat completions answered by one agent: its prompt, retrieval and model."""
    from shared.wire import openai_compat as wire

    body = await parse_refusing(req, wire.ChatCompletionsRequest)
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
    call = wire.CompletionCall.start(agent, alias, body, caller_id(req, body.user), takes_instructions=False)
    return await _complete(req, call)


@blueprint.route(route="v1/chat/completions", methods=["POST"])
@endpoint
async def chat_completions(req: Request) -> Response:
    """Chat completions for clients configured with a base URL and a model name: `model` is
    an agent id (that agent answers) or a model alias (the default prompt and retrieval)."""
    from shared.wire import openai_compat as wire

    body = await parse_refusing(req, wire.ChatCompletionsRequest)
    if isinstance(body, JSONResponse):
        return body
    return await _by_name(req, body, body.model, "model")


@blueprint.route(route="openai/deployments/{deployment}/chat/completions", methods=["POST"])
@endpoint
async def azure_chat_completions(req: Request) -> Response:
    """The Azure OpenAI route shape (AzureOpenAI, AzureChatOpenAI): the deployment is an agent
    id or a model alias; `api-version` is accepted and not used (the wire shape is the same)."""
    from shared.wire import openai_compat as wire

    body = await parse_refusing(req, wire.ChatCompletionsRequest)
    if isinstance(body, JSONResponse):
        return body
    return await _by_name(req, body, req.path_params["deployment"], "deployment")


def served_by(name: str | None) -> Agent | None:
    """The agent a client names as its model: an agent id, or a model alias answered with the
    default prompt and retrieval; None when it is neither."""
    settings = get_settings()
    agent = settings.agents.find(name) if name else None
    if agent is None and name in settings.model.aliases():
        agent = Agent(id=uuid.uuid5(uuid.NAMESPACE_URL, f"model:{name}"), name=name, model=name)
    return agent


def unknown_model(name: str | None, field: str) -> RequestError:
    settings = get_settings()
    known = [str(a.id) for a in settings.agents.definitions] + settings.model.aliases()
    problem = f"no agent or model {name!r}; GET /api/v1/models lists them: {', '.join(known)}"
    return RequestError(problem, field=field, status=404)


async def _by_name(req: Request, body: ChatCompletionsRequest, name: str | None, field: str) -> Response:
    from shared.wire import openai_compat as wire

    agent = served_by(name)
    if agent is None:
        return refusal(req, unknown_model(name, field))
    alias = agent.model or get_settings().model.default_alias
    call = wire.CompletionCall.start(agent, alias, body, caller_id(req, body.user), takes_instructions=True)
    return await _complete(req, call)


async def parse_refusing(req: Request, model: type[RequestModel]) -> RequestModel | JSONResponse:
    """The body as `model`, or the answer: 400 for an OpenAI parameter this service refuses
    (RefusedParameters says why), else what `parse` answers."""
    try:
        return await parse(req, model)
    except RequestError as exc:
        return refusal(req, exc)


async def _complete(req: Request, call: CompletionCall) -> Response:
    from dataclasses import replace

    from shared.backends import orchestrator
    from shared.routes.common import principal
    from shared.wire import openai_compat as wire

    if call.session_id:
        owner = principal(req, call.body.user).session_owner("openai-compatible", call.session_id)
        call = replace(call, session_owner=owner)
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


@blueprint.route(route="v1/models/{model_id}", methods=["GET"])
@endpoint
async def retrieve_model(req: Request) -> JSONResponse:
    """One agent or model alias, as models.retrieve reads it; 404 for neither."""
    from shared.wire import openai_compat as wire

    name = req.path_params["model_id"]
    agent = served_by(name)
    if agent is None:
        return refusal(req, unknown_model(name, "model_id"))
    owner = "agent" if get_settings().agents.find(name) else "model"
    card = wire.ModelCard(id=name, created=0, owned_by=owner, name=agent.name)
    return JSONResponse(card.model_dump(mode="json"))
