"""The Bicep in infra/ and the azd files around it.

- Every .bicep file parses with pycep (the parser inside checkov), and checkov finds nothing
  beyond the documented CHECKOV_ACCEPTED list. Both run in their own venv (IAC_PYTHON,
  .venv-iac): checkov pins many packages exactly. No Bicep compiler runs offline.
- The app settings the Function App gets are exactly settings something reads: the app
  (shared/settings.py) or the Functions host / Azure SDK (HOST_SETTINGS). These checks read
  the Bicep text in the main venv; with IAC_PYTHON they are also compared to pycep's tree.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from shared.config import PROJECT_ROOT
from shared.remote_models import RemoteModel
from shared.settings import SETTINGS_CLASSES, HistorySettings
from tests.bicep_text import declaration, evaluate, object_keys, without_comments
from tests.support import configured_python

INFRA = PROJECT_ROOT / "infra"
MAIN = INFRA / "main.bicep"
FUNCTION_APP = INFRA / "modules" / "functionapp.bicep"
COSMOS = INFRA / "modules" / "cosmos.bicep"
HOOK = INFRA / "hooks" / "postprovision.sh"

# Read by the Functions host or the Azure SDK, never by our code.
HOST_SETTINGS = frozenset(
    {
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "AZURE_CLIENT_ID",  # DefaultAzureCredential: which user-assigned identity
        "PYTHON_ENABLE_INIT_INDEXING",  # the HTTP streaming extension
    }
)

# Azure mode cannot work without these.
REQUIRED_SETTINGS = frozenset(
    {
        "SEARCH_BACKEND",
        "SEARCH_ENDPOINT",
        "HISTORY_BACKEND",
        "HISTORY_COSMOS_ENDPOINT",
        "PROMPTS_BACKEND",
        "PROMPTS_BLOB_ACCOUNT_URL",
        "EMBEDDINGS_PROVIDER",
        "EMBEDDINGS_ENDPOINT",
        "EMBEDDINGS_DEPLOYMENT",
        "EMBEDDINGS_DIMENSIONS",
        "LLM_PROVIDER",
        "LLM_MODELS",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "AzureWebJobsStorage__accountName",
    }
)

# Checkov findings accepted on purpose, each with its reason. Keep it short: fix the Bicep
# first. The test also fails when an entry no longer fails, so the list cannot go stale.
_NO_VNET = (
    "no virtual network in this template: the Flex Consumption app reaches its backends over "
    "their public endpoints, Entra ID only (keys and local auth disabled everywhere)"
)
CHECKOV_ACCEPTED = {
    "CKV_AZURE_35": f"storage default network rule Allow: {_NO_VNET}",
    "CKV_AZURE_59": f"storage public network access: {_NO_VNET}",
    "CKV_AZURE_99": f"Cosmos DB IP/VNet filter: {_NO_VNET}; Flex Consumption has no fixed outbound IPs",
    "CKV_AZURE_101": f"Cosmos DB public network access: {_NO_VNET}",
    "CKV_AZURE_134": f"Azure OpenAI public network access: {_NO_VNET}",
    "CKV_AZURE_222": "the Function App is a public API (function keys, optional bearer tokens)",
    "CKV_AZURE_17": "client certificates would lock out every API client; callers use keys or tokens",
    "CKV_AZURE_206": "geo-replication: the account holds re-creatable data (package, host state, "
    "templates from the repo); skuName takes Standard_ZRS",
    "CKV_AZURE_208": "3 search replicas (write SLA) triple the cost; the replicaCount parameter raises it",
    "CKV_AZURE_209": "2 search replicas (read SLA) double the cost; the replicaCount parameter raises it",
    "CKV_AZURE_212": "numberOfWorkers is a dedicated-plan setting: Flex Consumption scales per request",
    "CKV_AZURE_213": "App Service health check is a dedicated-plan feature, not Flex Consumption's",
    "CKV_AZURE_225": "a zone-redundant Flex Consumption plan needs a zone region and ZRS storage: not the default",
}

# Run by IAC_PYTHON: parses every .bicep file and reads the app settings from pycep's tree.
PYCEP_SCRIPT = r"""
import json, sys
from pathlib import Path
from pycep import BicepParser

root = Path(sys.argv[1])
parser = BicepParser()
report = {"files": {}, "app_settings": None}


def object_keys(node):
    # union(...) arguments and both branches of a conditional are objects of settings.
    if isinstance(node, dict) and node.get("function", {}).get("type") == "union":
        for argument in node["function"]["parameters"].values():
            yield from object_keys(argument)
    elif isinstance(node, dict) and node.get("operator", {}).get("type") == "conditional":
        yield from object_keys(node["operator"]["operands"]["true_value"])
        yield from object_keys(node["operator"]["operands"]["false_value"])
    elif isinstance(node, dict):
        yield from node


for path in sorted(root.rglob("*.bicep")):
    name = path.relative_to(root).as_posix()
    try:
        tree = parser.parse(file_path=path)
    except Exception as exc:
        report["files"][name] = f"{type(exc).__name__}: {exc}"[:2000]
        continue
    report["files"][name] = None
    settings = (tree.get("variables") or {}).get("appSettings")
    if settings is not None:
        report["app_settings"] = sorted(object_keys(settings["value"]))
print(json.dumps(report))
"""


def _app_settings() -> list[str]:
    return object_keys(declaration(FUNCTION_APP, "var", "appSettings"))


def _app_setting_names() -> set[str]:
    return {f"{c.model_config['env_prefix']}{n}".upper() for c in SETTINGS_CLASSES for n in c.model_fields}


# --- IAC_PYTHON: pycep and checkov ------------------------------------------------------


@pytest.fixture(scope="module")
def iac_python() -> str:
    return configured_python("IAC_PYTHON", "the Bicep lint (checkov and pycep)")


@pytest.fixture(scope="module")
def pycep_report(iac_python) -> dict:
    result = subprocess.run(
        [iac_python, "-c", PYCEP_SCRIPT, str(INFRA)], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_bicep_file_parses(pycep_report):
    files = pycep_report["files"]
    assert {"main.bicep", "modules/functionapp.bicep", "modules/cosmos.bicep"} <= files.keys()
    assert files.keys() == {p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep")}
    assert {name: error for name, error in files.items() if error} == {}


def test_app_settings_read_from_text_match_the_parsed_tree(pycep_report):
    assert pycep_report["app_settings"] == sorted(_app_settings())


def test_checkov_finds_nothing_beyond_the_accepted_list(iac_python):
    checkov = Path(iac_python).parent / "checkov"
    command = [checkov, "--framework", "bicep", "--directory", "infra", "--skip-download", "--compact", "--quiet"]
    started = time.monotonic()
    result = subprocess.run(
        [*map(str, command), "--output", "json"], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT
    )
    elapsed = time.monotonic() - started
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert isinstance(report, dict) and report.get("check_type") == "bicep", result.stdout[:2000]
    summary = report["summary"]
    # checkov exits 0 on a file it cannot parse: count them (pycep above names them).
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 20
    failed = {}
    for check in report["results"].get("failed_checks", []):
        failed.setdefault(check["check_id"], []).append(f"{check['file_path']}: {check['resource']}")
    unexpected = {check_id: where for check_id, where in failed.items() if check_id not in CHECKOV_ACCEPTED}
    assert unexpected == {}, "fix the Bicep, or accept the finding in CHECKOV_ACCEPTED with its reason"
    assert set(CHECKOV_ACCEPTED) - set(failed) == set(), "these pass now: remove them from CHECKOV_ACCEPTED"
    assert elapsed < 120


# --- the settings cross-check (main venv) -------------------------------------------------


def test_every_app_setting_is_read_by_the_app_or_the_host():
    settings = _app_settings()
    read_by_app = _app_setting_names()

    assert len(settings) == len({s.upper() for s in settings}), "a setting is set twice"
    unread = [s for s in settings if s.upper() not in read_by_app and s not in HOST_SETTINGS]
    assert unread == []
    # Flex Consumption takes the runtime from functionAppConfig and refuses these.
    assert {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"}.isdisjoint(settings)


def test_azure_mode_settings_are_all_set():
    assert REQUIRED_SETTINGS - set(_app_settings()) == set()
    assert HOST_SETTINGS - set(_app_settings()) == set()


def test_the_settings_are_the_ones_applied_to_the_function_app():
    text = without_comments(FUNCTION_APP.read_text())
    loop = r"appSettings:\s*\[for (\w+) in items\(appSettings\):\s*\{\s*name: \1\.key\s+value: \1\.value\s*\}\]"
    assert re.search(loop, text)


def test_the_settings_loop_uses_only_values_known_at_deployment_start():
    """A for-expression needs a value known when the deployment starts (Bicep error BCP178):
    no property of a resource of this file may reach appSettings. No compiler runs offline."""
    text = without_comments(FUNCTION_APP.read_text())
    resources = set(re.findall(r"^resource (\w+) ", text, re.MULTILINE))
    for name in ("appSettings", "llmModels"):
        words = set(re.findall(r"\b[A-Za-z_]\w*\b", declaration(FUNCTION_APP, "var", name)))
        assert resources and words.isdisjoint(resources), name


def deployed_settings(monkeypatch, values: dict[str, object] | None = None) -> dict[str, str]:
    """The Function App's settings for these parameter values (stand-ins for the rest), as the
    only app settings in the environment."""
    for name in _app_setting_names():
        monkeypatch.delenv(name, raising=False)
    env = evaluate(declaration(FUNCTION_APP, "var", "appSettings"), FUNCTION_APP, values)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_the_app_reads_the_settings_as_azure_mode(monkeypatch):
    """The settings, with stand-ins for the deployment's values, pass the app's own validation
    and select every Azure backend, signed in with Entra ID."""
    from shared import settings as s

    env = deployed_settings(monkeypatch, {"authClientId": "client-id"})
    settings = {cls: cls() for cls in SETTINGS_CLASSES}

    model = settings[s.ModelSettings]
    assert model.provider == "none" and model.aliases() == [model.default_alias]
    remote = model.remote(model.default_alias)
    assert remote.provider == "azure_openai" and remote.api_key is None
    embeddings = settings[s.EmbeddingSettings]
    assert embeddings.provider == "azure_openai" and embeddings.api_key is None and embeddings.dimensions
    assert embeddings.endpoint == remote.endpoint
    search = settings[s.SearchSettings]
    assert search.backend == "azure" and search.api_key is None
    history = settings[s.HistorySettings]
    assert history.backend == "cosmos" and history.cosmos_key is None and history.ttl_seconds
    prompts = settings[s.PromptSettings]
    assert prompts.backend == "blob" and prompts.blob_account_url and not prompts.blob_connection_string
    assert settings[s.SourceSettings].attachments_configured()
    assert settings[s.HttpSettings].auth_level == "function"
    assert settings[s.TelemetrySettings].applicationinsights_connection_string
    assert env["AzureWebJobsStorage__credential"] == "managedidentity"
    assert env["PYTHON_ENABLE_INIT_INDEXING"] == "1"
    assert env["AZURE_CLIENT_ID"] == env["AzureWebJobsStorage__clientId"]


def test_llm_models_entries_are_remote_models_signed_in_with_entra_id():
    models = declaration(FUNCTION_APP, "var", "llmModels").strip()
    assert models.startswith("[") and models.endswith("]")
    keys = object_keys(models[1:-1])
    assert {"alias", "provider", "model", "endpoint"} <= set(keys)
    assert set(keys) <= set(RemoteModel.model_fields) - {"api_key"}
    assert re.search(r"provider: 'azure_openai'", models)


def test_the_cosmos_container_is_what_the_history_store_expects():
    container = declaration(COSMOS, "resource", "container")
    assert re.search(r"partitionKey:\s*\{\s*paths:\s*\[\s*'/userId'\s*\]", container)
    # TTL on (-1: no default expiry): per-item ttl (HISTORY_TTL_SECONDS) only works with it.
    assert re.search(r"^\s*defaultTtl: -1\s*$", container, re.MULTILINE)
    text = without_comments(COSMOS.read_text())
    defaults = HistorySettings.model_fields
    assert f"param databaseName string = '{defaults['cosmos_database'].default}'" in text
    assert f"param containerName string = '{defaults['cosmos_container'].default}'" in text
    assert "disableLocalAuth: true" in text


def test_the_function_app_is_flex_consumption_and_locked_down():
    text = without_comments(FUNCTION_APP.read_text())
    assert re.search(r"sku:\s*\{\s*tier: 'FlexConsumption'\s+name: 'FC1'", text)
    assert "kind: 'functionapp,linux'" in text
    assert re.search(r"runtime:\s*\{\s*name: 'python'\s+version: '3\.\d+'", text)
    assert re.search(r"type: 'UserAssignedIdentity'", text)
    for line in ("httpsOnly: true", "minTlsVersion: '1.2'", "ftpsState: 'Disabled'", "'azd-service-name': 'api'"):
        assert line in text, line


def test_no_service_accepts_keys():
    for module, line in {
        "storage.bicep": "allowSharedKeyAccess: false",
        "cosmos.bicep": "disableLocalAuth: true",
        "search.bicep": "disableLocalAuth: true",
        "openai.bicep": "disableLocalAuth: true",
    }.items():
        assert line in without_comments((INFRA / "modules" / module).read_text()), module
    assert "authOptions" not in without_comments((INFRA / "modules" / "search.bicep").read_text())


# --- azd: parameters, outputs and the post-provision hook ---------------------------------


def _outputs() -> set[str]:
    return set(re.findall(r"^output (\w+) ", MAIN.read_text(), re.MULTILINE))


def test_parameters_come_from_the_azd_environment():
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert parameters["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    declared = set(re.findall(r"^param (\w+) ", MAIN.read_text(), re.MULTILINE))
    assert set(parameters) <= declared


def test_no_secret_is_an_output():
    text = MAIN.read_text()
    assert not re.search(r"^output \w*(CONNECTION_STRING|KEY|SECRET|PASSWORD)\w* ", text, re.MULTILINE | re.I)
    assert "ConnectionString" not in "".join(re.findall(r"^output .*$", text, re.MULTILINE))


def test_the_hook_maps_provision_outputs_to_our_settings():
    hook = HOOK.read_text()
    used = set(re.findall(r"\$\{?(AZURE_[A-Z_]+)", hook))
    assert used and used <= _outputs(), used - _outputs()
    exported = dict(re.findall(r"^export (\w+)=(.*)$", hook, re.MULTILINE))
    assert set(exported) <= _app_setting_names()
    assert {
        "SEARCH_BACKEND",
        "SEARCH_ENDPOINT",
        "EMBEDDINGS_PROVIDER",
        "EMBEDDINGS_ENDPOINT",
        "EMBEDDINGS_DEPLOYMENT",
        "EMBEDDINGS_DIMENSIONS",
        "PROMPTS_BLOB_ACCOUNT_URL",
    } <= set(exported)
    assert "-m devtools.ingest samples/corpus" in hook
    assert "-m shared.templates.upload prompts" in hook
    twin = (INFRA / "hooks" / "postprovision.ps1").read_text()
    assert set(re.findall(r"\$env:([A-Z_]+)\s*=", twin)) == set(exported)


def test_azure_yaml_deploys_the_api_and_runs_the_hook():
    config = yaml.safe_load((PROJECT_ROOT / "azure.yaml").read_text())
    assert config["services"] == {"api": {"project": ".", "language": "python", "host": "function"}}
    hook = config["hooks"]["postprovision"]
    assert (PROJECT_ROOT / hook["posix"]["run"]).is_file()
    assert (PROJECT_ROOT / hook["windows"]["run"]).is_file()
    assert os.access(HOOK, os.X_OK)
