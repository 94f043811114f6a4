"""The Python worker as the Functions host drives it: azure-functions-runtime's event handlers,
called with the host's protocol messages, on the worker's event loop.

On Azure the worker process (azure-functions-python-worker's proxy worker) reads the host's
gRPC stream on a thread of its own and runs each message's handler as a task on its event
loop, passing the protocol's message classes along with the init request. This module does
the same without the gRPC channel: the messages are built from the protocol's own definitions
(function_rpc.proto, compiled here with grpcio-tools) and handed to the same handlers.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass
class WorkerRequest:
    """What the proxy worker hands the library for each host message."""

    name: str
    request: Any  # a StreamingMessage
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggeredFunction:
    """A loaded function of another trigger (blob, Event Grid, ...), which the host runs by name."""

    name: str
    function_id: str
    trigger: dict[str, Any]  # its trigger binding, as function.json states it


@dataclass(frozen=True)
class HttpFunction:
    """A loaded HTTP-triggered function, as the host routes to it."""

    name: str
    function_id: str
    route: str  # a route template under the host's prefix, e.g. "v2/sessions/{session_id}"
    methods: tuple[str, ...]
    auth_level: str  # anonymous | function | admin
    trigger_parameter: str  # the handler's parameter that the trigger binds


def compile_protocol() -> ModuleType:
    """The protocol's message classes, compiled from function_rpc.proto into a temporary folder."""
    import grpc_tools
    from grpc_tools import protoc

    out = Path(tempfile.mkdtemp(prefix="function-rpc-"))
    includes = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
    status = protoc.main(
        ["protoc", f"-I{HERE}", f"-I{includes}", f"--python_out={out}", str(HERE / "function_rpc.proto")]
    )
    if status != 0:
        raise RuntimeError(f"protoc could not compile function_rpc.proto (exit {status})")
    sys.path.insert(0, str(out))
    return importlib.import_module("function_rpc_pb2")


class Worker:
    """azure-functions-runtime on this process's event loop, initialized and loaded as the host does."""

    def __init__(self, protos: ModuleType, app_dir: Path, host_address: str = "127.0.0.1") -> None:
        import azure_functions_runtime

        self.protos = protos
        self.runtime = azure_functions_runtime
        self.app_dir = app_dir
        self.host_address = host_address
        self.capabilities: dict[str, str] = {}
        self.functions: list[HttpFunction] = []
        self.triggered: dict[str, TriggeredFunction] = {}  # functions of other triggers: run by name
        self.loop: asyncio.AbstractEventLoop | None = None

    def _message(self, **content: Any) -> WorkerRequest:
        message = self.protos.StreamingMessage(request_id=uuid.uuid4().hex, **content)
        return WorkerRequest(next(iter(content)), message)

    async def start(self) -> None:
        """WorkerInitRequest (indexing, and the HTTP server for streaming), FunctionsMetadataRequest,
        then a FunctionLoadRequest for each function; RuntimeError on any failure the host would log."""
        self.loop = asyncio.get_running_loop()
        self.runtime.start_threadpool_executor()
        protos = self.protos
        init = self._message(
            worker_init_request=protos.WorkerInitRequest(
                host_version="4.1000.0",
                capabilities={},
                worker_directory=str(self.app_dir),
                function_app_directory=str(self.app_dir),
            )
        )
        init.properties = {"protos": protos, "host": self.host_address}
        response = await self.runtime.worker_init_request(init)
        _check(response.result, "WorkerInitRequest")
        self.capabilities = dict(response.capabilities)

        metadata = await self.runtime.functions_metadata_request(
            self._message(
                functions_metadata_request=protos.FunctionsMetadataRequest(function_app_directory=str(self.app_dir))
            )
        )
        _check(metadata.result, "FunctionsMetadataRequest")
        for function in metadata.function_metadata_results:
            load = protos.FunctionLoadRequest(function_id=function.function_id, metadata=function)
            loaded = await self.runtime.function_load_request(self._message(function_load_request=load))
            _check(loaded.result, f"FunctionLoadRequest for {function.name}")
            self._register(function)

    def _register(self, function: Any) -> None:
        bindings = [json.loads(raw) for raw in function.raw_bindings]
        trigger = next((b for b in bindings if b["type"].endswith("Trigger")), None)
        if trigger is None or trigger["type"] != "httpTrigger":
            self.triggered[function.name] = TriggeredFunction(function.name, function.function_id, trigger or {})
            return
        self.functions.append(
            HttpFunction(
                name=function.name,
                function_id=function.function_id,
                route=trigger.get("route") or function.name,
                methods=tuple(m.upper() for m in trigger.get("methods") or ()),
                auth_level=str(trigger.get("authLevel", "function")).lower(),
                trigger_parameter=trigger["name"],
            )
        )

    def invocation(self, function: HttpFunction, invocation_id: str, route_params: dict[str, str], trace: str) -> Any:
        """The InvocationRequest the host sends a streaming (HTTP proxy) worker for an HTTP call:
        the route parameters, not the request, which goes to the worker's own HTTP server."""
        protos = self.protos
        http = protos.TypedData(http=protos.RpcHttp(params=route_params))
        return self._message(
            invocation_request=protos.InvocationRequest(
                invocation_id=invocation_id,
                function_id=function.function_id,
                input_data=[protos.ParameterBinding(name=function.trigger_parameter, data=http)],
                trigger_metadata={name: protos.TypedData(string=value) for name, value in route_params.items()},
                trace_context=protos.RpcTraceContext(trace_parent=trace),
                retry_context=protos.RetryContext(),
            )
        )

    def trigger_invocation(self, function: TriggeredFunction, data: Any, metadata: dict[str, Any]) -> WorkerRequest:
        """The InvocationRequest for a trigger's event: `data` (bytes, or a dict sent as JSON) for the
        trigger's parameter, and the trigger metadata the host adds (strings, or dicts sent as JSON)."""
        protos = self.protos

        def typed(value: Any) -> Any:
            if isinstance(value, bytes):
                return protos.TypedData(bytes=value)
            if isinstance(value, dict | list):
                return protos.TypedData(json=json.dumps(value))
            return protos.TypedData(string=str(value))

        binding = protos.ParameterBinding(name=function.trigger["name"], data=typed(data))
        return self._message(
            invocation_request=protos.InvocationRequest(
                invocation_id=str(uuid.uuid4()),
                function_id=function.function_id,
                input_data=[binding],
                trigger_metadata={name: typed(value) for name, value in metadata.items()},
                trace_context=protos.RpcTraceContext(),
                retry_context=protos.RetryContext(),
            )
        )

    def invoke(self, request: WorkerRequest) -> asyncio.Future:
        """Runs invocation_request on the worker's loop, from any thread (as the gRPC thread does)."""
        assert self.loop is not None, "the worker has not started"
        return asyncio.run_coroutine_threadsafe(self.runtime.invocation_request(request), self.loop)


def _check(result: Any, what: str) -> None:
    if result.status != result.Success:
        raise RuntimeError(f"{what} failed: {result.exception.message}\n{result.exception.stack_trace}")
