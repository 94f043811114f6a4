"""What `azd up` deploys when nobody changes anything, and what changes it.

- Identity by default: the Function App validates Entra ID bearer tokens and trims search
  results to the caller, and `trustCallerAssertedUsers` is the one parameter that turns
  token validation off (security trimming stays on, with the asserted user id).
- Defaults a pipeline can use: the deploying principal's type comes from the azd
  environment, the tunables are azd variables with the Bicep defaults, `.azure/` is neither
  committed nor deployed, and the Python on Azure is the one the host-load check runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from shared.config import PROJECT_ROOT
from shared.retrieval.schema import BY_NAME
from shared.settings import AuthSettings, SearchSettings
from tests.bicep_text import declaration, evaluate, object_entries, parameters, without_comments
from tests.integration.test_infra import FUNCTION_APP, INFRA, MAIN, deployed_settings

TRUST = "trustCallerAssertedUsers"
ISSUER = "https://login.microsoftonline.com/tenant-id/v2.0"  # tenant().tenantId stands in as tenant-id


def _variables() -> dict[str, str]:
    """main.parameters.json: each parameter's azd variable expression, e.g. ${AZURE_SEARCH_SKU=basic}."""
    entries = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    return {name: entry["value"] for name, entry in entries.items()}


def _identity_settings(env: dict[str, str]) -> tuple[AuthSettings, SearchSettings]:
    return AuthSettings(), SearchSettings(**({"endpoint": "https://s"} if "SEARCH_ENDPOINT" not in env else {}))


def test_a_default_deployment_validates_tokens_and_trims_search_results(monkeypatch):
    env = deployed_settings(monkeypatch, {"authClientId": "client-id"})
    auth, search = _identity_settings(env)

    assert auth.token_validation is True and auth.trust_asserted_users is False
    assert auth.issuer == ISSUER
    # v2.0 tokens carry the client id as aud; a token asked for by the URI may carry the URI.
    assert auth.audience == ["client-id", "api://client-id"]
    assert search.security_field == "allowed_principals"
    field = BY_NAME[search.security_field]
    assert field.is_collection and field.filterable and not field.retrievable
    # The module and main.bicep both default to validation, and so does the azd variable.
    assert evaluate(TRUST, FUNCTION_APP) is False and evaluate(TRUST, MAIN) is False
    assert _variables()[TRUST] == "${AZURE_TRUST_CALLER_ASSERTED_USERS=false}"


def test_trusting_asserted_users_turns_token_validation_off_and_keeps_trimming(monkeypatch):
    env = deployed_settings(monkeypatch, {TRUST: True})
    auth, search = _identity_settings(env)

    assert auth.token_validation is False and auth.trust_asserted_users is True
    assert "AUTH_ISSUER" not in env and "AUTH_AUDIENCE" not in env
    assert search.security_field == "allowed_principals"


def _variations(kind: str) -> list[object]:
    return {"bool": [True, False], "int": [1, 1000], "string": ["", "x"], "object": [{}], "array": [[]]}[kind]


def test_no_other_parameter_turns_token_validation_or_trimming_off():
    settings = declaration(FUNCTION_APP, "var", "appSettings")
    others = {name: kind for name, kind in parameters(FUNCTION_APP).items() if name != TRUST}
    assignments = [{name: value} for name, kind in others.items() for value in _variations(kind)]
    assignments += [{name: _variations(kind)[-1] for name, kind in others.items()}]  # all at once

    for values in assignments:
        env = evaluate(settings, FUNCTION_APP, values)
        identity = (env["AUTH_TOKEN_VALIDATION"], env["AUTH_TRUST_ASSERTED_USERS"], env["SEARCH_SECURITY_FIELD"])
        assert identity == ("true", "false", "allowed_principals"), values
        assert env["AUTH_ISSUER"] == ISSUER, values


def test_the_switch_reaches_the_app_only_from_its_azd_variable():
    module = dict(object_entries(declaration(MAIN, "module", "functionApp")))
    passed = dict(object_entries(module["params"]))
    assert passed[TRUST] == TRUST and passed["authClientId"] == "authClientId"
    assert _variables()["authClientId"] == "${AZURE_AUTH_CLIENT_ID}"
    # Nothing else deployed from infra/ sets these app settings, and no hook rewrites app settings.
    for path in INFRA.rglob("*"):
        if path.is_file() and path != FUNCTION_APP and path.suffix != ".md":
            text = without_comments(path.read_text()) if path.suffix == ".bicep" else path.read_text()
            assert not re.search(r"AUTH_TOKEN_VALIDATION|AUTH_TRUST_ASSERTED_USERS|appsettings", text, re.I), path
    assert len(re.findall(r"^\s*AUTH_TOKEN_VALIDATION:", without_comments(FUNCTION_APP.read_text()), re.M)) == 1


def test_the_preprovision_hook_registers_the_api_on_both_shells():
    hooks = yaml.safe_load((PROJECT_ROOT / "azure.yaml").read_text())["hooks"]["preprovision"]
    commands = {shell: hooks[shell]["run"].split() for shell in ("posix", "windows")}
    assert commands["posix"][1:] == commands["windows"][1:] == ["infra/hooks/app_registration.py"]
    assert (PROJECT_ROOT / commands["posix"][1]).is_file()
    assert all(hooks[shell]["continueOnError"] is False for shell in commands)


def test_the_deploying_principal_type_comes_from_the_azd_environment():
    assert _variables()["principalType"] == "${AZURE_PRINCIPAL_TYPE=User}"
    for kind in ("User", "ServicePrincipal"):
        assert evaluate(declaration(MAIN, "var", "deployer"), MAIN, {"principalType": kind})["principalType"] == kind
    # The app's own identity is a managed identity, a service principal; no principal is a User by fiat.
    assert dict(object_entries(declaration(MAIN, "var", "app")))["principalType"] == "'ServicePrincipal'"
    for path in INFRA.rglob("*.bicep"):
        assert not re.search(r"principalType:\s*'User'", without_comments(path.read_text())), path


_TUNABLES = {
    "chatModelName",
    "chatModelVersion",
    "chatDeploymentSku",
    "chatDeploymentCapacity",
    "embeddingModelName",
    "embeddingModelVersion",
    "embeddingDeploymentSku",
    "embeddingDeploymentCapacity",
    "embeddingDimensions",
    "searchSku",
    "searchSemanticRanker",
    "cosmosCapacityMode",
    "instanceMemoryMB",
    TRUST,
}


def test_the_tunables_are_azd_variables_defaulting_to_the_bicep_defaults():
    declared = parameters(MAIN)
    readme = (INFRA / "README.md").read_text()
    with_defaults = {}
    for name, expression in _variables().items():
        match = re.fullmatch(r"\$\{([A-Z][A-Z0-9_]*)(?:=([^}]*))?\}", expression)
        assert match, f"{name}: {expression!r} is not one azd variable"
        assert f"`{match.group(1)}`" in readme, f"{match.group(1)} is not documented in infra/README.md"
        if match.group(2) is not None:
            with_defaults[name] = match.group(2)
    assert set(with_defaults) >= _TUNABLES
    for name, default in with_defaults.items():
        # azd passes text; ARM reads it as the parameter's type.
        typed = {"int": int, "bool": lambda v: {"true": True, "false": False}[v]}.get(declared[name], str)(default)
        assert typed == evaluate(name, MAIN), f"{name}: the azd default {default!r} is not the Bicep default"


def test_azd_environment_files_are_neither_committed_nor_deployed():
    for ignore in (".gitignore", ".funcignore"):
        assert ".azure/" in (PROJECT_ROOT / ignore).read_text().splitlines(), ignore


def _deployed_python() -> str:
    runtime = re.search(r"runtime:\s*\{\s*name: 'python'\s+version: '([\d.]+)'", FUNCTION_APP.read_text())
    assert runtime, "no Python runtime in functionapp.bicep"
    return runtime.group(1)


def test_azure_runs_the_python_the_host_load_check_runs():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    hostload = re.search(r"^PYTHON313 \?=.*command -v python(\d+\.\d+)\)", makefile, re.MULTILINE)
    assert hostload, "the Makefile no longer says which Python the host-load check runs"
    assert hostload.group(1) == _deployed_python()


def test_the_host_load_python_is_the_deployed_version():
    python = os.environ.get("HOSTLOAD_PYTHON")
    if not python:
        pytest.skip("HOSTLOAD_PYTHON (the host-load check's Python) is not set; `make test` sets it")
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip() == _deployed_python()
