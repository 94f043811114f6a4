"""Model discovery for GET /api/v2/models: the configured aliases and, on request, their health.

`validate` checks each alias's configuration without network calls; `deep` also builds
its client and makes one cheap authenticated call under a short timeout. Nothing here
reports keys or endpoints.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from urllib.parse import urlparse

from shared.core.types import ModelInfo
from shared.llm import embedded, openai_chat
from shared.remote_models import RemoteModel
from shared.settings import ModelSettings

log = logging.getLogger(__name__)

DEEP_CHECK_SECONDS = 10


@dataclass
class ModelStatus:
    info: ModelInfo
    default: bool
    checks: list[str] = field(default_factory=list)  # what passed
    problems: list[str] = field(default_factory=list)  # what failed

    @property
    def healthy(self) -> bool:
        return not self.problems


def catalog(settings: ModelSettings) -> list[ModelStatus]:
    statuses = []
    if settings.provider == "embedded":
        statuses.append(ModelStatus(embedded.model_info(settings), settings.default_alias == settings.alias))
    for remote in settings.models:
        statuses.append(ModelStatus(openai_chat.model_info(remote), settings.default_alias == remote.alias))
    return statuses


async def checked(settings: ModelSettings, *, validate: bool, deep: bool, healthy_only: bool) -> list[ModelStatus]:
    """Every model, checked as asked: `deep` and `healthy_only` take effect with `validate` alone."""
    statuses = catalog(settings)
    if not validate:
        return statuses
    for status in statuses:
        _validate(status, settings)
    if deep:
        await asyncio.gather(*(deep_check(s) for s in statuses if s.healthy))
    return [s for s in statuses if s.healthy] if healthy_only else statuses


def _validate(status: ModelStatus, settings: ModelSettings) -> None:
    remote = settings.remote(status.info.alias)
    if remote is None:
        _embedded_checks(status, settings)
    else:
        _remote_checks(status, remote)


def _embedded_checks(status: ModelStatus, settings: ModelSettings) -> None:
    if not embedded.runtime_installed():
        status.problems.append("llama.cpp is not installed yet (make llama; make run builds it in the background)")
    else:
        status.checks.append("llama.cpp available")
    try:
        path = settings.model_path or embedded.default_model_path()
    except RuntimeError as exc:
        status.problems.append(str(exc))
        return
    (status.checks if path.is_file() else status.problems).append(
        "model file present" if path.is_file() else "model file missing"
    )


def _remote_checks(status: ModelStatus, remote: RemoteModel) -> None:
    url = urlparse(remote.endpoint)
    local = url.hostname in ("127.0.0.1", "localhost", "::1")
    if url.scheme not in ("http", "https") or not url.hostname:
        status.problems.append("endpoint is not an http(s) URL")
    elif url.scheme == "http" and not local:
        status.problems.append("endpoint must use https (plain http only on this machine)")
    else:
        status.checks.append("endpoint is a valid URL")
    if remote.provider == "azure_openai":
        status.checks.append("authenticates with an API key" if remote.api_key else "authenticates with Entra ID")


async def deep_check(status: ModelStatus) -> None:
    """Build the client and make one cheap authenticated call; record what failed, never why in detail."""
    from shared import backends
    from shared.llm.openai_http import ModelCallFailed

    try:
        model = backends.chat_model(status.info.alias)
        await asyncio.wait_for(model.check(), DEEP_CHECK_SECONDS)
    except TimeoutError:
        status.problems.append(f"no answer within {DEEP_CHECK_SECONDS} s")
    except Exception as exc:  # noqa: BLE001 - any failure makes the model unhealthy
        reason = exc.what if isinstance(exc, ModelCallFailed) else type(exc).__name__  # a status, not a body
        log.warning("deep check of model %s failed: %s", status.info.alias, reason)
        status.problems.append(f"client check failed ({reason})")
    else:
        status.checks.append("client answered")
