"""The OpenAI-compatible chat completions: bound to a configured agent, the plain base-URL
form (`model` names an agent or a model alias), the Azure OpenAI route shape (the
deployment names an agent or a model alias), and the model list. Official OpenAI SDKs,
AzureOpenAI, LangChain, LlamaIndex, litellm and the Vercel AI SDK work against them unmodified.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from shared import agents
from shared.core.errors import RequestError
from shared.http.endpoints import Answer, Call, EventStream, Reply, api
from shared.text import quoted

if TYPE_CHECKING:
    from shared.wire.openai_compat import CompletionCall

FAMILY = "OpenAI-compatible"
CHAT_ERRORS = (400, 404, 422, 500, 503)


@api.operation(
    "POST",
    "v1/compatibility/openai/v1/assistants/{agent_id}/chat/completions",
    "Chat completions answered by an agent",
    FAMILY,
    body="openai_compat.ChatCompletionsRequest",
    response="openai_compat.ChatCompletion",
    streams=True,
    errors=CHAT_ERRORS,
)
async def agent_chat_completions(call: Call) -> Answer:
    """One agent answers: its prompt, retrieval and model."""
    from shared.wire import openai_compat as wire

    agent_id, body = call.request.path_params["agent_id"], call.body
    agent = agents.by_id(agent_id, field="agent_id")
    alias = agents.model_alias(agent)
    if body.model not in (None, "", alias):
        problem = f"model {quoted(body.model)} is not this agent's model ({alias!r}); leave model unset to use it"
        raise RequestError(problem, field="model")
    searcher = call.principal(body.user).search_principal
    return await _complete(call, wire.CompletionCall.start(agent, alias, body, searcher, takes_instructions=False))


@api.operation(
    "POST",
    "v1/chat/completions",
    "Chat completions by agent id or model alias",
    FAMILY,
    body="openai_compat.ChatCompletionsRequest",
    response="openai_compat.ChatCompletion",
    streams=True,
    errors=CHAT_ERRORS,
)
async def chat_completions(call: Call) -> Answer:
    """For clients configured with a base URL and a model name: `model` is an agent id (that
    agent answers) or a model alias (the default prompt and retrieval)."""
    return await _by_name(call, call.body.model, "model")


@api.operation(
    "POST",
    "openai/deployments/{deployment}/chat/completions",
    "Chat completions in the Azure OpenAI route shape (deployment: agent id or model alias)",
    FAMILY,
    query="openai_compat.AzureApiVersion",
    body="openai_compat.ChatCompletionsRequest",
    response="openai_compat.ChatCompletion",
    streams=True,
    errors=CHAT_ERRORS,
)
async def azure_chat_completions(call: Call) -> Answer:
    """AzureOpenAI and AzureChatOpenAI: `api-version` is accepted and not used (the wire shape is the same)."""
    return await _by_name(call, call.request.path_params["deployment"], "deployment")


async def _by_name(call: Call, name: str | None, field: str) -> Answer:
    from shared.wire import openai_compat as wire

    agent = agents.resolve(name, field=field)
    alias = agents.model_alias(agent)
    searcher = call.principal(call.body.user).search_principal
    return await _complete(call, wire.CompletionCall.start(agent, alias, call.body, searcher, takes_instructions=True))


async def _complete(call: Call, completion: CompletionCall) -> Answer:
    from shared.backends import orchestrator
    from shared.wire import openai_compat as wire

    if completion.session_id:
        owner = call.principal(completion.body.user).session_owner("openai-compatible", completion.session_id)
        completion = replace(completion, session_owner=owner)
    headers = {wire.SESSION_HEADER: completion.session_id} if completion.body.create_session else {}
    turn = completion.turn_request()
    if completion.body.stream:
        events = orchestrator().run(turn, stream=True)
        return EventStream(completion.chunks(events), wire.stream_error, headers)
    return Reply(completion.completion(await orchestrator().answer(turn)), headers)


@api.operation(
    "GET", "v1/models", "Agents and model aliases", FAMILY, response="openai_compat.ModelList", errors=(500,)
)
async def list_models(call: Call) -> Answer:
    """The agents (by id) and the model aliases a client may name as `model`."""
    from shared.wire import openai_compat as wire

    cards = [wire.ModelCard(id=m.id, created=0, owned_by=m.owned_by, name=m.name) for m in agents.served_models()]
    return wire.ModelList(data=cards)


@api.operation(
    "GET",
    "v1/models/{model_id}",
    "One agent or model alias",
    FAMILY,
    response="openai_compat.ModelCard",
    errors=(404, 500),
)
async def retrieve_model(call: Call) -> Answer:
    """One agent or model alias, as models.retrieve reads it; 404 for neither."""
    from shared.wire import openai_compat as wire

    name = call.request.path_params["model_id"]
    agent = agents.resolve(name, field="model_id")
    owner = "agent" if agents.find(name) else "model"
    return wire.ModelCard(id=name, created=0, owned_by=owner, name=agent.name)
