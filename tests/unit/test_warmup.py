"""The first request after start with a remote default model (every Azure deployment) finds the
model's client and tokenizer built: `import function_app` starts a thread that builds them,
as the Functions host offers no startup hook."""

from __future__ import annotations

import json
import threading

import function_app
from shared import backends
from shared.llm import tokens
from tests.recording_server import RecordingServer
from tests.support import completion


async def test_the_first_request_to_a_remote_model_builds_neither_client_nor_tokenizer(client, configure, caplog):
    assert function_app.warm_up.name == "warm-up"  # started by the import the host does
    with RecordingServer(lambda request: (200, completion())) as server:
        models = [{"alias": "remote", "provider": "openai", "model": "m", "endpoint": f"{server.url}/v1"}]
        configure(LLM_MODELS=json.dumps(models), LLM_DEFAULT_ALIAS="remote", LLM_ANSWER_STRATEGY="generative")
        tokens.encoding.cache_clear()  # as in a fresh process
        warm_up = threading.Thread(target=function_app._warm_up)
        with caplog.at_level("INFO", logger="warmup"):
            warm_up.start()
            warm_up.join()
        built = (backends._chat_model.cache_info().misses, tokens.encoding.cache_info().misses)

        response = await client.post("/api/v2/flexible-rag", json={"question": "How long is the warranty?"})

    assert response.status_code == 200, response.text
    assert built == (1, 1)
    # The whole warm-up ran: every module of the first answer's path was found, the templates parsed.
    assert [r.levelname for r in caplog.records if r.name == "warmup"] == ["INFO"], caplog.text
    # The request reused both: nothing was built or loaded on its path.
    assert (backends._chat_model.cache_info().misses, tokens.encoding.cache_info().misses) == built
    assert len(server.requests) == 1 and server.requests[0].path == "/v1/chat/completions"
