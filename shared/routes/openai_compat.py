"""The OpenAI-compatible chat completions: bound to a configured agent, the plain base-URL
form (`model` names an agent or a model alias), the Azure OpenAI route shape (the
deployment names an agent or a model alias), and the model list. Official OpenAI SDKs,
AzureOpenAI, LangChain, LlamaIndex, litellm and the Vercel AI SDK work against them unmodified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.http import turns
from shared.http.endpoints import Answer, ApiFamily, Call, api

if TYPE_CHECKING:
    from shared.wire.openai_compat import AzureApiVersion, ChatCompletionsRequest

FAMILY = ApiFamily.OPENAI
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
async def agent_chat_completions(call: Call[ChatCompletionsRequest]) -> Answer:
    """One agent answers: its prompt, retrieval and model."""
    from shared.families.openai_chat import ChatCompletionTurn

    return await turns.answer(ChatCompletionTurn.of_agent(call, call.request.path_params["agent_id"]))


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
async def chat_completions(call: Call[ChatCompletionsRequest]) -> Answer:
    """For clients configured with a base URL and a model name: `model` is an agent id (that
    agent answers) or a model alias (the default prompt and retrieval)."""
    from shared.families.openai_chat import ChatCompletionTurn

    return await turns.answer(ChatCompletionTurn.of_name(call, call.body.model, "model"))


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
async def azure_chat_completions(call: Call[ChatCompletionsRequest, AzureApiVersion]) -> Answer:
    """AzureOpenAI and AzureChatOpenAI: `api-version` is accepted and not used (the wire shape is the same)."""
    from shared.families.openai_chat import ChatCompletionTurn

    return await turns.answer(ChatCompletionTurn.of_name(call, call.request.path_params["deployment"], "deployment"))


@api.operation(
    "GET", "v1/models", "Agents and model aliases", FAMILY, response="openai_compat.ModelList", errors=(500,)
)
async def list_models(call: Call) -> Answer:
    """The agents (by id) and the model aliases a client may name as `model`."""
    from shared import agents
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
    from shared import agents
    from shared.wire import openai_compat as wire

    model = agents.served_model(call.request.path_params["model_id"], field="model_id")
    return wire.ModelCard(id=model.id, created=0, owned_by=model.owned_by, name=model.name)
