"""Every setting the code reads is documented in docs/settings.md and listed in local.settings.sample.json;
the values function_app declares its functions with at import are the settings' own."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shared.config import PROJECT_ROOT, declared_auth_level, declared_documents_container
from shared.settings import SETTINGS_CLASSES, DocumentSettings, HttpSettings, ModelSettings

SETTING_NAMES = sorted(
    f"{cls.model_config['env_prefix']}{name}".upper() for cls in SETTINGS_CLASSES for name in cls.model_fields
)


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_setting_is_documented(name):
    sample = json.loads((PROJECT_ROOT / "local.settings.sample.json").read_text())["Values"]
    page = (PROJECT_ROOT / "docs" / "settings.md").read_text()

    assert name in sample, f"{name} is missing from local.settings.sample.json"
    assert f"`{name}`" in page, f"{name} is missing from the settings table in docs/settings.md"


def test_sample_lists_no_setting_the_code_does_not_read():
    sample = json.loads((PROJECT_ROOT / "local.settings.sample.json").read_text())["Values"]
    host_settings = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "PYTHON_ENABLE_INIT_INDEXING"}

    assert set(sample) - host_settings == set(SETTING_NAMES)


def test_blank_values_fall_back_to_defaults(monkeypatch):
    monkeypatch.setenv("LLM_MODEL_PATH", "")
    monkeypatch.setenv("LLM_THREADS", "")

    settings = ModelSettings()

    assert settings.model_path is None and settings.threads is None


@pytest.mark.parametrize("value", [None, "", "anonymous", "function", "admin"])
def test_auth_level_declared_at_import_is_the_settings_one(monkeypatch, value):
    monkeypatch.delenv("HTTP_AUTH_LEVEL", raising=False)
    if value is not None:
        monkeypatch.setenv("http_auth_level", value)

    assert declared_auth_level() == HttpSettings().auth_level


def test_an_auth_level_the_settings_refuse_stops_the_import(monkeypatch):
    monkeypatch.setenv("HTTP_AUTH_LEVEL", "Anonymous")

    with pytest.raises(ValidationError):
        HttpSettings()
    with pytest.raises(ValueError, match="HTTP_AUTH_LEVEL"):
        declared_auth_level()


@pytest.mark.parametrize("value", [None, "", "docs-2026"])
def test_documents_container_declared_at_import_is_the_settings_one(monkeypatch, value):
    monkeypatch.delenv("DOCUMENTS_CONTAINER", raising=False)
    if value is not None:
        monkeypatch.setenv("Documents_Container", value)

    assert declared_documents_container() == DocumentSettings().container
