"""Where the code gets its settings: `get_settings()`, each subsystem's settings (shared/settings.py)
read from the environment on first use.

This module imports neither pydantic-settings nor the settings classes: `import function_app`
(the host's cold start) only declares the functions, and the two values it declares them with
are read here without them, as the classes read them (a unit test holds the two readings equal).
"""

from __future__ import annotations

import functools
import importlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar, get_args

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    from shared import settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / ".data"

AuthLevel = Literal["anonymous", "function", "admin"]
DEFAULT_AUTH_LEVEL: AuthLevel = "function"
DEFAULT_DOCUMENTS_CONTAINER = "documents"

S = TypeVar("S", bound="BaseSettings")


def _environment(name: str) -> str | None:
    # As the settings classes read it: the name in any case, an empty value as unset.
    wanted = name.lower()
    return next((value for key, value in os.environ.items() if key.lower() == wanted and value), None)


def declared_auth_level() -> AuthLevel:
    """HTTP_AUTH_LEVEL (HttpSettings.auth_level), which function_app declares the HTTP functions with."""
    value = _environment("HTTP_AUTH_LEVEL") or DEFAULT_AUTH_LEVEL
    levels: tuple[AuthLevel, ...] = get_args(AuthLevel)
    for level in levels:
        if value == level:
            return level
    raise ValueError(f"HTTP_AUTH_LEVEL must be one of {', '.join(levels)}, not {value!r}")


def declared_documents_container() -> str:
    """DOCUMENTS_CONTAINER (DocumentSettings.container), the container the blob trigger is declared on."""
    return _environment("DOCUMENTS_CONTAINER") or DEFAULT_DOCUMENTS_CONTAINER


class _Subsystem(Generic[S]):
    """One subsystem's settings on Settings, read from the environment on first use, once: the
    warm-up thread (shared/warmup.py) and a request may ask for it at the same moment."""

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, settings: Settings, owner: type | None = None) -> S:
        # Once read, the instance's attribute hides this descriptor: later reads do not come here.
        with _reading:
            if self.name not in settings.__dict__:
                cls = getattr(importlib.import_module("shared.settings"), self.class_name)
                settings.__dict__[self.name] = cls()
            return settings.__dict__[self.name]


_reading = threading.RLock()


class Settings:
    """All subsystem settings, each read from the environment on first use."""

    http: _Subsystem[settings.HttpSettings] = _Subsystem("HttpSettings")
    telemetry: _Subsystem[settings.TelemetrySettings] = _Subsystem("TelemetrySettings")
    auth: _Subsystem[settings.AuthSettings] = _Subsystem("AuthSettings")
    model: _Subsystem[settings.ModelSettings] = _Subsystem("ModelSettings")
    embeddings: _Subsystem[settings.EmbeddingSettings] = _Subsystem("EmbeddingSettings")
    search: _Subsystem[settings.SearchSettings] = _Subsystem("SearchSettings")
    history: _Subsystem[settings.HistorySettings] = _Subsystem("HistorySettings")
    sources: _Subsystem[settings.SourceSettings] = _Subsystem("SourceSettings")
    experiments: _Subsystem[settings.ExperimentSettings] = _Subsystem("ExperimentSettings")
    agents: _Subsystem[settings.AgentSettings] = _Subsystem("AgentSettings")
    prompts: _Subsystem[settings.PromptSettings] = _Subsystem("PromptSettings")
    documents: _Subsystem[settings.DocumentSettings] = _Subsystem("DocumentSettings")

    def read_all(self) -> None:
        """Read every subsystem now (the warm-up), so that no request pays for one."""
        for name, part in vars(Settings).items():
            if isinstance(part, _Subsystem):
                getattr(self, name)


@functools.cache
def get_settings() -> Settings:
    return Settings()
