"""The Bicep and azd wiring of the documents container (docs/documents.md): the container, the
Event Grid system topic and its two subscriptions, the roles, and the postdeploy hook, checked
against the functions function_app registers. (test_infra.py parses and lints every file.)"""

from __future__ import annotations

import json
import os
import re

import yaml

from shared.config import PROJECT_ROOT
from shared.settings import DocumentSettings
from tests.bicep_text import without_comments

INFRA = PROJECT_ROOT / "infra"
EVENTS = without_comments((INFRA / "documents_events.bicep").read_text())
MAIN = without_comments((INFRA / "main.bicep").read_text())


def registered() -> dict[str, dict]:
    from devtools.local_server import app_functions

    return {f.get_function_name(): json.loads(f.get_raw_bindings()[0]) for f in app_functions()}


def subscription(name: str) -> str:
    found = re.search(rf"name: '{name}'(.*?)\n}}", EVENTS, re.S)
    assert found, name
    return found.group(1)


def test_each_event_reaches_the_function_that_handles_it():
    functions = registered()
    changed, deleted = subscription("documents-changed"), subscription("documents-deleted")

    assert functions["document_changed"]["type"] == "blobTrigger"
    assert functions["document_changed"]["source"] == "EventGrid"
    assert "/blobs?functionName=Host.Functions.document_changed&code=" in changed
    assert "systemKeys.blobs_extension" in changed and "'Microsoft.Storage.BlobCreated'" in changed
    assert functions["document_deleted"]["type"] == "eventGridTrigger"
    assert "/eventgrid?functionName=document_deleted&code=" in deleted
    assert "systemKeys.eventgrid_extension" in deleted and "'Microsoft.Storage.BlobDeleted'" in deleted
    for body in (changed, deleted):
        assert "subjectBeginsWith: subject" in body
        assert "retryPolicy: retryPolicy" in body and "deadLetterWithResourceIdentity: deadLetter" in body


def test_the_container_is_the_one_the_app_and_the_trigger_use():
    default = DocumentSettings.model_fields["container"].default
    storage = without_comments((INFRA / "modules" / "storage.bicep").read_text())
    app = without_comments((INFRA / "modules" / "functionapp.bicep").read_text())

    assert f"param documentsContainerName string = '{default}'" in storage
    assert f"param documentsContainerName string = '{default}'" in EVENTS
    assert registered()["document_changed"]["path"] == f"{default}/{{name}}"
    assert "DOCUMENTS_STORE: 'blob'" in app and "DOCUMENTS_CONTAINER: documentsContainerName" in app
    # The trigger's connection is the host storage's, signed in with the app's identity: no key.
    assert registered()["document_changed"]["connection"] == "AzureWebJobsStorage"
    assert "AzureWebJobsStorage__credential: 'managedidentity'" in app


def test_the_roles_are_what_the_triggers_and_uploads_need():
    topic = without_comments((INFRA / "modules" / "documents-events.bicep").read_text())

    # The blob trigger's queues (and its poison queue); writing uploads and container documents.
    assert re.search(r"union\(app, \{\s*roleDefinitionId: roles.storageQueueDataContributor", MAIN)
    assert re.search(r"union\(app, \{\s*roleDefinitionId: roles.searchIndexDataContributor", MAIN)
    # The topic dead-letters with its own identity, on the dead-letter container only.
    assert "type: 'SystemAssigned'" in topic and "scope: deadLetterContainer" in topic
    assert "type: 'SystemAssigned'" in EVENTS


def test_azd_subscribes_the_triggers_after_the_code_is_deployed():
    config = yaml.safe_load((PROJECT_ROOT / "azure.yaml").read_text())
    hook = config["hooks"]["postdeploy"]
    posix = PROJECT_ROOT / hook["posix"]["run"]
    windows = PROJECT_ROOT / hook["windows"]["run"]
    outputs = set(re.findall(r"^output (\w+) ", MAIN, re.M))

    assert os.access(posix, os.X_OK) and windows.is_file()
    for script, pattern in ((posix, r"\$\{?(AZURE_[A-Z_]+)"), (windows, r"\$env:(AZURE_[A-Z_]+)")):
        text = script.read_text()
        assert "--template-file infra/documents_events.bicep" in text
        used = set(re.findall(pattern, text))
        assert used and used <= outputs, used - outputs
