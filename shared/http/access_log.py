"""uvicorn's access log without secrets: every request line it writes has its query string, and
the pages are opened with the function key in it (`?code=<key>`).

Both HTTP servers the app runs behind write one: the local server's, and on Azure the Functions
worker's own (the FastAPI extension serves the host's proxied requests with uvicorn, whose
access log goes to the worker's output, which the host collects). function_app installs the
filter when the worker imports it, before that server starts.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# Query parameters whose values are secrets: the function key (`code`), keys, tokens, SAS signatures.
_SECRET_PARAMETER = re.compile(r"(?i)(code|sig|signature|password|[\w.-]*(?:key|token|secret))")
_PARAMETER = re.compile(r"([^&=#]*)=([^&#]*)")


def redact_query(path: str) -> str:
    """`path` with the value of every secret query parameter replaced by `***`."""
    head, mark, query = path.partition("?")
    if not mark:
        return path

    def masked(parameter: re.Match[str]) -> str:
        return f"{parameter[1]}=***" if _SECRET_PARAMETER.fullmatch(unquote_plus(parameter[1])) else parameter[0]

    return head + mark + _PARAMETER.sub(masked, query)


class RedactedAccessLog(logging.Filter):
    """uvicorn's access log lines, `(client, method, path, HTTP version, status)`, with redact_query's path."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5 and isinstance(record.args[2], str):
            client, method, path, version, status = record.args
            record.args = (client, method, redact_query(str(path)), version, status)
        return True


def mask_access_log() -> None:
    """Every access line of this process's uvicorn servers, masked (once; logging config keeps it)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactedAccessLog) for f in access.filters):
        access.addFilter(RedactedAccessLog())
