"""The functions that keep the index in step with the documents container on Azure.

- `document_changed`: the blob trigger, Event Grid–based (`source=EventGrid`, the one Flex
  Consumption runs): a blob created or replaced in the container.
- `document_deleted`: an Event Grid trigger for BlobDeleted events, which the blob trigger
  never receives.

Both call the same handler, DocumentSync.sync(name), which reads the blob as it is now: a
late or repeated event, or one overtaken by a later change, ends in the same state. A
transient failure is retried in the handler, then raised: the blob trigger's host tries
again (5 times, then a message on the `webjobs-blobtrigger-poison` queue), and Event Grid
redelivers (its retry policy, then the dead-letter container). A document that cannot be
read is not retried: its blob gets a failed status with the reason (its poison record).
The Event Grid subscriptions are in infra/documents_events.bicep.
"""

from __future__ import annotations

import azure.functions as func

from shared.config import declared_documents_container

CONNECTION = "AzureWebJobsStorage"  # the documents container is in the host's storage account
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"

blueprint = func.Blueprint()
_container = declared_documents_container()


async def document_changed(blob: func.InputStream) -> None:
    from shared.backends import document_sync

    # The handler reads the blob itself: its metadata and a .meta.json beside it count too.
    await document_sync().sync(blob_name(blob.name or "", _container))


async def document_deleted(event: func.EventGridEvent) -> None:
    from shared.backends import document_sync

    name = deleted_blob(event.event_type, event.subject, _container)
    if name is not None:
        await document_sync().sync(name)


blueprint.function_name("document_changed")(
    blueprint.blob_trigger(
        arg_name="blob", path=f"{_container}/{{name}}", connection=CONNECTION, source=func.BlobSource.EVENT_GRID
    )(document_changed)
)
blueprint.function_name("document_deleted")(blueprint.event_grid_trigger(arg_name="event")(document_deleted))


def blob_name(path: str, container: str) -> str:
    """The blob's name in the container, from the trigger's `<container>/<name>`."""
    return path.removeprefix(f"{container}/")


def deleted_blob(event_type: str, subject: str, container: str) -> str | None:
    """The deleted blob's name, from a BlobDeleted event of the container; None for any other event."""
    prefix = f"/blobServices/default/containers/{container}/blobs/"
    if event_type != BLOB_DELETED or not subject.startswith(prefix):
        return None
    return subject.removeprefix(prefix)
