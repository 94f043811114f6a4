"""The edge is typed through its annotations: each handler's `Call[Body, Query, Path]` names the
very models its declaration validates, so that a type checker (mypy, in make check) and
go-to-definition follow a request into its handler."""

from __future__ import annotations

import typing

import pytest

from shared.http.endpoints import Operation
from shared.routes import api

PARTS = ("body", "query", "path")


def _validated(op: Operation) -> tuple[type | None, ...]:
    """The models the declaration validates into the Call (a body the handler reads itself is not)."""
    return tuple(None if part == "body" and op.reads_body else op.model(part) for part in PARTS)


def _annotated(op: Operation) -> tuple[type | None, ...]:
    # The models are imported for type checking only (cold start): resolve their names here.
    models = {model.__name__: model for model in (op.model(part) for part in PARTS) if model}
    call = typing.get_type_hints(op.handler, globalns={**op.handler.__globals__, **models})["call"]
    args = typing.get_args(call) or (None,) * len(PARTS)
    return tuple(None if arg in (None, type(None)) else arg for arg in args)


@pytest.mark.parametrize("op", api.operations, ids=lambda op: op.name)
def test_the_handler_annotation_names_the_declared_models(op):
    assert _annotated(op) == _validated(op)
