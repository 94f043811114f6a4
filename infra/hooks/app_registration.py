"""Create or reuse the Entra ID app registration that the API's bearer tokens are issued for.

azd runs this before provisioning (azure.yaml, preprovision), signed in through the Azure CLI
(`az login`). It leaves the client id in the azd environment as AZURE_AUTH_CLIENT_ID, which
main.parameters.json hands to main.bicep: the Function App validates tokens for it.

The registration gets what a client needs to ask for a token: the application ID URI
api://<client id>, a delegated scope (user_impersonation), v2.0 access tokens (the issuer
the app expects), a service principal in the tenant, and the Azure CLI pre-authorized, so
`az account get-access-token --resource api://<client id>` works without a consent prompt.

Safe to re-run: it only writes what is missing, so a pipeline principal without Graph write
permission can run it against a registration an administrator finished (set
AZURE_AUTH_CLIENT_ID). Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

SCOPE = "user_impersonation"
# The Azure CLI's public client id, the same in every tenant.
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


class HookError(Exception):
    """A step that cannot go on, with what to do about it."""


def run(program: str, *args: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise HookError(
            f"{program} is not on PATH: install it (the Azure CLI is needed to create the app registration)"
        )
    result = subprocess.run([path, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HookError(f"{program} {' '.join(args[:3])} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout.strip()


def az_json(*args: str) -> object:
    return json.loads(run("az", *args, "--output", "json") or "null")


def find_or_create(name: str) -> str:
    """The client id of the registration: the configured one, the one named `name`, or a new one."""
    configured = os.environ.get("AZURE_AUTH_CLIENT_ID", "").strip()
    if configured:
        return configured
    matches = az_json("ad", "app", "list", "--display-name", name, "--query", "[].appId")
    if len(matches) > 1:
        raise HookError(f"{len(matches)} app registrations are named {name}: set AZURE_AUTH_CLIENT_ID to yours")
    if matches:
        return matches[0]
    created = az_json("ad", "app", "create", "--display-name", name, "--sign-in-audience", "AzureADMyOrg")
    print(f"app_registration: created {name} ({created['appId']})")
    return created["appId"]


def scope_changes(api: dict) -> tuple[dict, str]:
    """The `api` properties to write so the delegated scope exists and tokens are v2.0, and the scope's id."""
    scopes = api.get("oauth2PermissionScopes") or []
    scope = next((s for s in scopes if s.get("value") == SCOPE), None)
    changes: dict = {}
    if scope is None:
        scope = {
            "id": str(uuid.uuid4()),
            "value": SCOPE,
            "type": "User",
            "isEnabled": True,
            "adminConsentDisplayName": "Use the RAG chat API",
            "adminConsentDescription": "Ask the RAG chat API questions and keep conversations as the signed-in user.",
            "userConsentDisplayName": "Use the RAG chat API",
            "userConsentDescription": "Ask the RAG chat API questions and keep your conversations.",
        }
        changes["oauth2PermissionScopes"] = [*scopes, scope]
    if api.get("requestedAccessTokenVersion") != 2:
        changes["requestedAccessTokenVersion"] = 2
    return changes, scope["id"]


def pre_authorizations(api: dict, scope_id: str) -> list | None:
    """preAuthorizedApplications with the Azure CLI allowed the scope; None when it already is."""
    current = api.get("preAuthorizedApplications") or []
    cli = next((p for p in current if p.get("appId") == AZURE_CLI_APP_ID), None)
    granted = (cli or {}).get("delegatedPermissionIds") or []
    if scope_id in granted:
        return None
    others = [p for p in current if p.get("appId") != AZURE_CLI_APP_ID]
    return [*others, {"appId": AZURE_CLI_APP_ID, "delegatedPermissionIds": [*granted, scope_id]}]


def complete(client_id: str) -> None:
    """Add whatever the registration lacks; write nothing when it lacks nothing."""
    app = az_json("ad", "app", "show", "--id", client_id)
    uris = app.get("identifierUris") or []
    if f"api://{client_id}" not in uris:
        run("az", "ad", "app", "update", "--id", client_id, "--identifier-uris", *uris, f"api://{client_id}")
    graph = run("az", "cloud", "show", "--query", "endpoints.microsoftGraphResourceId", "--output", "tsv")
    url = f"{graph.rstrip('/')}/v1.0/applications/{app['id']}"
    api = app.get("api") or {}
    changes, scope_id = scope_changes(api)
    if changes:
        patch(url, {"api": changes})
    # A pre-authorization may only name a scope that already exists: a second write.
    allowed = pre_authorizations(api, scope_id)
    if allowed is not None:
        patch(url, {"api": {"preAuthorizedApplications": allowed}})
    if not az_json("ad", "sp", "list", "--filter", f"appId eq '{client_id}'", "--query", "[].id"):
        run("az", "ad", "sp", "create", "--id", client_id)


def patch(url: str, body: dict) -> None:
    run(
        "az",
        "rest",
        "--method",
        "PATCH",
        "--url",
        url,
        "--headers",
        "Content-Type=application/json",
        "--body",
        json.dumps(body),
    )


def main() -> int:
    if os.environ.get("AZURE_TRUST_CALLER_ASSERTED_USERS", "").strip().lower() == "true":
        print("app_registration: trustCallerAssertedUsers is on: no token validation, no app registration")
        return 0
    try:
        environment = os.environ.get("AZURE_ENV_NAME", "").strip()
        if not environment:
            raise HookError("AZURE_ENV_NAME is not set: run this through azd (azd provision or azd up)")
        client_id = find_or_create(f"rag-chat-api-{environment}")
        complete(client_id)
        if os.environ.get("AZURE_AUTH_CLIENT_ID") != client_id:
            run("azd", "env", "set", "AZURE_AUTH_CLIENT_ID", client_id)
    except HookError as exc:
        print(f"app_registration: {exc}", file=sys.stderr)
        return 1
    print(f"app_registration: tokens for api://{client_id} (scope {SCOPE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
