"""Traces and logs through OpenTelemetry, exported to Application Insights when
APPLICATIONINSIGHTS_CONNECTION_STRING is set; without it, no span is even created and
nothing leaves the process.

Each request gets a correlation id (the caller's `x-correlation-id`, or a new one): it is
returned in that header, stamped on every log line of the request, and set on the turn's
span. A turn is one span with a child span per stage (retrieval, generation, history...).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import threading
import uuid
from typing import Any

from opentelemetry import trace

log = logging.getLogger(__name__)

CORRELATION_HEADER = "x-correlation-id"
_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def new_correlation_id(offered: str | None) -> str:
    """The caller's id when it is a plain token (it goes into logs and headers), else a new one."""
    return offered if offered and _ACCEPTED_ID.match(offered) else uuid.uuid4().hex


def _stamp_correlation_id() -> None:
    """Every log record carries the request's correlation id (`%(correlation_id)s`; a custom
    dimension in Application Insights), whichever handler ends up writing it."""
    make_record = logging.getLogRecordFactory()

    def stamped(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.correlation_id = correlation_id.get() or "-"
        return record

    logging.setLogRecordFactory(stamped)


_configuring = threading.Lock()


def configure() -> bool:
    """Start exporting to Application Insights, once per process, if it is configured: the warm-up
    thread (shared/warmup.py) and a request may both ask."""
    with _configuring:
        return _configure()


@functools.cache
def _configure() -> bool:
    from shared.config import get_settings

    connection = get_settings().telemetry.applicationinsights_connection_string
    _stamp_correlation_id()
    if connection is None:
        return False
    from azure.identity import DefaultAzureCredential
    from azure.monitor.opentelemetry import configure_azure_monitor

    # Entra ID as well as the key in the connection string: the resource may refuse local auth.
    configure_azure_monitor(connection_string=connection.get_secret_value(), credential=DefaultAzureCredential())
    log.info("exporting telemetry to Application Insights")
    return True


def start_span(name: str, *, context: Any = None, attributes: dict[str, Any] | None = None) -> trace.Span:
    """A span when something collects them (Application Insights' provider, or a test's);
    otherwise OpenTelemetry's invalid span, a shared no-op: creating no-op spans through the
    proxy tracer cost 9 % of the event loop's time under load with telemetry off."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return trace.INVALID_SPAN
    return provider.get_tracer("rag-chat").start_span(name, context=context, attributes=attributes)
