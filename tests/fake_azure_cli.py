"""A stand-in for the Azure CLI (`az`) and azd, for the app registration hook's tests.

There is no local Microsoft Graph to run the real CLI against. This answers the commands the
hook uses from a JSON state file (FAKE_AZ_STATE: the tenant's applications and service
principals) and appends every call's arguments to FAKE_AZ_LOG, so a test checks exactly what
was asked. Any other command fails, so a new call in the hook has to be taught here.

    python fake_azure_cli.py az|azd ARGS...
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

GRAPH = "https://graph.microsoft.com/"


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def app_by_client_id(state: dict, client_id: str) -> dict:
    for app in state["apps"]:
        if app["appId"] == client_id:
            return app
    sys.exit(f"ERROR: Resource '{client_id}' does not exist")


def answer_az(state: dict, args: list[str]) -> object:
    command = args[:3]
    if command == ["ad", "app", "list"]:
        return [a["appId"] for a in state["apps"] if a["displayName"] == option(args, "--display-name")]
    if command == ["ad", "app", "create"]:
        app = {"appId": str(uuid.uuid4()), "id": str(uuid.uuid4()), "displayName": option(args, "--display-name")}
        app |= {"identifierUris": [], "api": {}, "signInAudience": option(args, "--sign-in-audience")}
        state["apps"].append(app)
        return app
    if command == ["ad", "app", "show"]:
        return app_by_client_id(state, option(args, "--id"))
    if command == ["ad", "app", "update"]:
        start = args.index("--identifier-uris") + 1
        app_by_client_id(state, option(args, "--id"))["identifierUris"] = args[start:]
        return None
    if args[:2] == ["cloud", "show"]:
        return GRAPH
    if args[:1] == ["rest"]:
        object_id = option(args, "--url").removeprefix(f"{GRAPH}v1.0/applications/")
        app = next(a for a in state["apps"] if a["id"] == object_id)
        app["api"] = {**app["api"], **json.loads(option(args, "--body"))["api"]}
        return None
    if command == ["ad", "sp", "list"]:
        client_id = option(args, "--filter").split("'")[1]
        return [sp["id"] for sp in state["sps"] if sp["appId"] == client_id]
    if command == ["ad", "sp", "create"]:
        state["sps"].append({"appId": option(args, "--id"), "id": str(uuid.uuid4())})
        return None
    sys.exit(f"fake az: unknown command {args}")


def main() -> None:
    program, args = sys.argv[1], sys.argv[2:]
    with open(os.environ["FAKE_AZ_LOG"], "a") as log:
        log.write(json.dumps([program, *args]) + "\n")
    if program == "azd":
        return
    state_file = Path(os.environ["FAKE_AZ_STATE"])
    state = json.loads(state_file.read_text())
    result = answer_az(state, args)
    state_file.write_text(json.dumps(state))
    if result is not None:
        output = option(args, "--output") if "--output" in args else "json"
        print(result if output == "tsv" else json.dumps(result))


if __name__ == "__main__":
    main()
