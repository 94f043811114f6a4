"""The pre-provision hook that registers the API in Entra ID (infra/hooks/app_registration.py).

It runs as azd runs it, a separate process, against tests/fake_azure_cli.py standing in for
`az` and `azd` (no local Microsoft Graph exists): the tests check the exact commands and
Graph writes it makes, and that a finished registration gets none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import PROJECT_ROOT

HOOK = PROJECT_ROOT / "infra" / "hooks" / "app_registration.py"
FAKE = Path(__file__).parents[1] / "fake_azure_cli.py"
AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
READS = {("az", "ad", "app", "list"), ("az", "ad", "app", "show"), ("az", "cloud", "show"), ("az", "ad", "sp", "list")}


class Tenant:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        for program in ("az", "azd"):
            wrapper = self.bin / program
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" {program} "$@"\n')
            wrapper.chmod(0o755)
        self.state = root / "state.json"
        self.log = root / "calls.jsonl"
        self.save({"apps": [], "sps": []})

    def save(self, state: dict) -> None:
        self.state.write_text(json.dumps(state))

    def apps(self) -> list[dict]:
        return json.loads(self.state.read_text())["apps"]

    def run_hook(self, **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
        self.log.write_text("")
        environment = {"PATH": f"{self.bin}{os.pathsep}/usr/bin:/bin", "FAKE_AZ_STATE": str(self.state)}
        environment |= {"FAKE_AZ_LOG": str(self.log), "AZURE_ENV_NAME": "dev", **env}
        result = subprocess.run([sys.executable, HOOK], env=environment, capture_output=True, text=True, timeout=60)
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        return result, calls


def writes(calls: list[list[str]]) -> list[list[str]]:
    return [call for call in calls if tuple(call[:4]) not in READS and tuple(call[:3]) not in READS]


@pytest.fixture
def tenant(tmp_path) -> Tenant:
    return Tenant(tmp_path)


def test_a_new_environment_gets_a_complete_registration_and_its_client_id_kept(tenant):
    result, calls = tenant.run_hook()
    assert result.returncode == 0, result.stderr

    (app,) = tenant.apps()
    client_id = app["appId"]
    assert app["displayName"] == "rag-chat-api-dev" and app["signInAudience"] == "AzureADMyOrg"
    assert app["identifierUris"] == [f"api://{client_id}"]
    (scope,) = app["api"]["oauth2PermissionScopes"]
    assert (scope["value"], scope["type"], scope["isEnabled"]) == ("user_impersonation", "User", True)
    assert app["api"]["requestedAccessTokenVersion"] == 2
    assert app["api"]["preAuthorizedApplications"] == [{"appId": AZURE_CLI, "delegatedPermissionIds": [scope["id"]]}]
    assert json.loads(tenant.state.read_text())["sps"][0]["appId"] == client_id

    made = writes(calls)
    assert [call[:4] for call in made] == [
        ["az", "ad", "app", "create"],
        ["az", "ad", "app", "update"],
        ["az", "rest", "--method", "PATCH"],  # the scope and v2.0 tokens first,
        ["az", "rest", "--method", "PATCH"],  # then the pre-authorization that names the scope
        ["az", "ad", "sp", "create"],
        ["azd", "env", "set", "AZURE_AUTH_CLIENT_ID"],
    ]
    assert made[-1] == ["azd", "env", "set", "AZURE_AUTH_CLIENT_ID", client_id]
    first_patch = json.loads(made[2][made[2].index("--body") + 1])
    assert set(first_patch["api"]) == {"oauth2PermissionScopes", "requestedAccessTokenVersion"}
    assert f"/v1.0/applications/{app['id']}" in made[2][made[2].index("--url") + 1]


def test_a_finished_registration_is_only_read(tenant):
    tenant.run_hook()
    client_id = tenant.apps()[0]["appId"]
    before = tenant.state.read_text()

    result, calls = tenant.run_hook(AZURE_AUTH_CLIENT_ID=client_id)

    assert result.returncode == 0, result.stderr
    assert writes(calls) == [] and tenant.state.read_text() == before
    assert f"api://{client_id}" in result.stdout


def test_a_lost_environment_finds_its_registration_by_name(tenant):
    tenant.run_hook()
    client_id = tenant.apps()[0]["appId"]

    result, calls = tenant.run_hook()  # AZURE_AUTH_CLIENT_ID unset again, e.g. a fresh checkout

    assert result.returncode == 0 and len(tenant.apps()) == 1
    assert writes(calls) == [["azd", "env", "set", "AZURE_AUTH_CLIENT_ID", client_id]]


def test_an_existing_registration_keeps_its_own_scopes_uris_and_clients(tenant):
    other_scope = {"id": "s-1", "value": "admin", "type": "Admin", "isEnabled": True}
    other_client = {"appId": "c-1", "delegatedPermissionIds": ["s-1"]}
    api = {"oauth2PermissionScopes": [other_scope], "preAuthorizedApplications": [other_client]}
    app = {"appId": "a-1", "id": "o-1", "displayName": "mine", "identifierUris": ["https://x"], "api": api}
    tenant.save({"apps": [app], "sps": []})

    result, _ = tenant.run_hook(AZURE_AUTH_CLIENT_ID="a-1")

    assert result.returncode == 0, result.stderr
    (app,) = tenant.apps()
    assert app["identifierUris"] == ["https://x", "api://a-1"]
    assert [s["value"] for s in app["api"]["oauth2PermissionScopes"]] == ["admin", "user_impersonation"]
    new_scope = app["api"]["oauth2PermissionScopes"][1]["id"]
    assert app["api"]["preAuthorizedApplications"] == [
        other_client,
        {"appId": AZURE_CLI, "delegatedPermissionIds": [new_scope]},
    ]


def test_two_registrations_with_the_name_stop_the_deployment(tenant):
    twins = [{"appId": f"a-{n}", "id": f"o-{n}", "displayName": "rag-chat-api-dev"} for n in (1, 2)]
    tenant.save({"apps": twins, "sps": []})

    result, calls = tenant.run_hook()

    assert result.returncode == 1
    assert "2 app registrations are named rag-chat-api-dev: set AZURE_AUTH_CLIENT_ID" in result.stderr
    assert writes(calls) == []


def test_a_trusted_backend_deployment_registers_nothing(tenant):
    result, calls = tenant.run_hook(AZURE_TRUST_CALLER_ASSERTED_USERS="True")

    assert result.returncode == 0 and calls == [] and tenant.apps() == []
