"""Index function_app.py with the Python worker's own indexing code, as the Functions host does.

Run with Python 3.13 and azure-functions-runtime installed (see the Makefile's
`hostload` target). Exits non-zero, with the worker's error, if the host would refuse
to load any function. The worker's protobuf messages come from the host over gRPC and
are not shipped in the package: they are compiled from the protocol's definitions, as the
test host does (tests/functions_host).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests" / "functions_host"))
    from azure_functions_runtime.bindings.meta import load_binding_registry
    from azure_functions_runtime.functions import Registry
    from azure_functions_runtime.loader import index_function_app, process_indexed_function
    from worker import compile_protocol

    load_binding_registry()
    indexed = index_function_app(str(ROOT / "function_app.py"))
    registry = Registry()
    metadata, _ = process_indexed_function(compile_protocol(), registry, indexed, str(ROOT))

    from azurefunctions.extensions.base import HttpV2FeatureChecker

    report = {
        "http_v2_enabled": HttpV2FeatureChecker.http_v2_enabled(),
        "functions": [{"name": m.name, "bindings": [json.loads(raw) for raw in m.raw_bindings]} for m in metadata],
    }
    print(json.dumps(report, indent=2))
    if not report["http_v2_enabled"]:
        print("HTTP streaming (the FastAPI extension) is not enabled", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
