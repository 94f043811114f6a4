"""The index follows the documents container (Azurite, a real Blob Storage) and a folder: a
document uploaded is indexed, replaced is re-indexed, deleted is removed, through the handler
the blob trigger and the BlobDeleted trigger call (Azurite emits no Event Grid events, so the
tests call the trigger functions with what the host would pass, or let the watcher poll)."""

from __future__ import annotations

import asyncio
import json

import azure.functions as func
import pytest

from shared import backends
from shared.ingest import triggers
from shared.ingest.chunking import Chunker
from shared.ingest.documents import DocumentIndexer, DocumentLimits
from shared.ingest.pipeline import indexed_hash
from shared.ingest.stores import BlobStore, FolderStore
from shared.ingest.sync import DocumentSync
from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter

CONTAINER = "documents"
GUIDE_V1 = b"# Tyre guide\n\nInflate the Brightwheel tyres to 3.5 bar before every ride.\n"
GUIDE_V2 = b"# Tyre guide\n\nInflate the Brightwheel tyres to 4.2 bar; tubeless tyres take 2.8 bar.\n"
BROKEN_PDF = b"%PDF-1.7\n1 0 obj <<\nnot a pdf at all"
LIMITS = DocumentLimits(max_bytes=1_000_000, max_pages=50, max_chunks=100)


@pytest.fixture
async def container(azurite):
    from azure.storage.blob.aio import BlobServiceClient

    async with BlobServiceClient.from_connection_string(azurite) as service:
        client = service.get_container_client(CONTAINER)
        await client.create_container()
        try:
            yield client
        finally:
            await client.delete_container()


@pytest.fixture
def index(tmp_path):
    return EmbeddedIndex(tmp_path / "index.sqlite", "docs")


def blob_sync(container, index: EmbeddedIndex) -> DocumentSync:
    return DocumentSync(
        BlobStore(container), DocumentIndexer(EmbeddedIndexWriter(index), backends.embeddings(), LIMITS)
    )


def texts(index: EmbeddedIndex, name: str) -> list[str]:
    rows = index._db.execute("SELECT text FROM chunks WHERE filename = ? ORDER BY chunk_index", (name,))
    return [text for (text,) in rows]


async def test_the_index_follows_a_blob_uploaded_replaced_and_deleted(container, index):
    sync = blob_sync(container, index)
    blob = container.get_blob_client("manuals/tyres.md")

    await blob.upload_blob(GUIDE_V1, metadata={"allowed_principals": '["team-a"]', "category": "manual"})
    first = await sync.sync("manuals/tyres.md")
    await blob.upload_blob(GUIDE_V2, overwrite=True, metadata={"allowed_principals": '["team-a"]'})
    second = await sync.sync("manuals/tyres.md")
    hash_after_replace = index.document_hashes()["manuals/tyres.md"]
    again = await sync.sync("manuals/tyres.md")
    status = (await blob.get_blob_properties()).metadata
    await blob.delete_blob()
    removed = await sync.sync("manuals/tyres.md")

    assert (first.result, second.result, again.result, removed.result) == ("indexed", "indexed", "unchanged", "removed")
    assert status["index_state"] == "indexed" and status["index_chunks"] == "1"
    # The status names the stored content; the index records it with how it was cut into chunks.
    assert hash_after_replace == indexed_hash(status["index_hash"], Chunker())
    assert "manuals/tyres.md" not in index.document_hashes()


async def test_principals_and_category_come_from_the_metadata_or_a_meta_json_beside_it(container, index):
    sync = blob_sync(container, index)
    await container.upload_blob("a.md", GUIDE_V1, metadata={"allowed_principals": '["team-a", "team-b"]'})
    await container.upload_blob("b.md", GUIDE_V1)
    sidecar = {"category": "manual", "tags": ["tyres"], "allowed_principals": ["team-c"]}
    await container.upload_blob("b.md.meta.json", json.dumps(sidecar).encode())

    await sync.sync("a.md")
    await sync.sync("b.md.meta.json")  # a change to the metadata file re-indexes its document

    rows = index._db.execute("SELECT filename, category FROM chunks ORDER BY filename").fetchall()
    principals = index._db.execute(
        "SELECT c.filename, v.value FROM chunk_values v JOIN chunks c ON c.rowid = v.chunk "
        "WHERE v.field = 'allowed_principals' ORDER BY c.filename, v.value"
    ).fetchall()
    assert rows == [("a.md", None), ("b.md", "manual")]
    assert principals == [("a.md", "team-a"), ("a.md", "team-b"), ("b.md", "team-c")]


async def test_an_unreadable_blob_gets_a_poison_record_and_is_not_retried_until_it_changes(container, index):
    sync = blob_sync(container, index)
    await container.upload_blob("broken.pdf", BROKEN_PDF)

    failed = await sync.sync("broken.pdf")
    metadata = (await container.get_blob_client("broken.pdf").get_blob_properties()).metadata
    again = await sync.sync("broken.pdf")
    etag_after = (await container.get_blob_client("broken.pdf").get_blob_properties()).etag

    assert failed.result == "failed" and "could not be read" in failed.reason
    assert metadata["index_state"] == "failed" and "could not be read" in json.loads(metadata["index_reason"])
    assert again.result == "failed" and again.reason == failed.reason
    assert etag_after == (await container.get_blob_client("broken.pdf").get_blob_properties()).etag
    assert "broken.pdf" not in index.document_hashes()


async def test_the_trigger_functions_drive_the_same_handler(container, azurite, configure, tmp_path):
    configure(
        DOCUMENTS_STORE="blob",
        DOCUMENTS_CONNECTION_STRING=azurite,
        SEARCH_INDEX_PATH=str(tmp_path / "index.sqlite"),
    )
    await container.upload_blob("faq.md", GUIDE_V1, metadata={"allowed_principals": '["team-a"]'})

    # What the host passes: the blob as `<container>/<name>`, and the BlobDeleted event's subject.
    await triggers.document_changed(func.blob.InputStream(data=GUIDE_V1, name=f"{CONTAINER}/faq.md"))
    indexed = set(await backends.index_writer().document_hashes())
    await container.delete_blob("faq.md")
    await triggers.document_deleted(
        func.EventGridEvent(
            id="1",
            data={"api": "DeleteBlob"},
            topic="/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/a",
            subject=f"/blobServices/default/containers/{CONTAINER}/blobs/faq.md",
            event_type="Microsoft.Storage.BlobDeleted",
            event_time=None,
            data_version="",
        )
    )

    assert indexed == {"faq.md"}
    assert set(await backends.index_writer().document_hashes()) == set()


async def test_the_watcher_follows_the_container(container, index):
    sync = blob_sync(container, index)
    watcher = asyncio.create_task(sync.watch(0.05))
    try:
        await container.upload_blob("watched.md", GUIDE_V1)
        await until(lambda: "watched.md" in index.document_hashes())
        await container.upload_blob("watched.md", GUIDE_V2, overwrite=True)
        await until(lambda: any("4.2 bar" in t for t in texts(index, "watched.md")))
        await container.delete_blob("watched.md")
        await until(lambda: "watched.md" not in index.document_hashes())
    finally:
        watcher.cancel()


async def test_the_watcher_follows_a_folder_as_the_ingestion_command_would(tmp_path, index):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "guide.md").write_bytes(GUIDE_V1)
    indexer = DocumentIndexer(EmbeddedIndexWriter(index), backends.embeddings(), LIMITS)
    sync = DocumentSync(FolderStore(folder), indexer)
    watcher = asyncio.create_task(sync.watch(0.05))
    try:
        await until(lambda: "guide.md" in index.document_hashes())
        (folder / "guide.md.meta.json").write_text('{"category": "manual"}')
        await until(lambda: index._db.execute("SELECT category FROM chunks").fetchone() == ("manual",))
        (folder / "guide.md").unlink()
        await until(lambda: "guide.md" not in index.document_hashes())
    finally:
        watcher.cancel()


async def until(condition, looks: int = 400) -> None:
    """Wait for the watcher to make `condition` true, looking between its passes (bounded)."""
    for _ in range(looks):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the index did not follow the change")


async def test_the_watcher_agrees_with_the_ingestion_command_on_every_hash(tmp_path, index):
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "guide.md").write_bytes(GUIDE_V1)
    (folder / "guide.md.meta.json").write_text('{"allowed_principals": ["team-a"]}')
    writer = EmbeddedIndexWriter(index)
    await ingest(folder, writer, backends.embeddings(), prune=False, chunker=Chunker())

    outcome = await DocumentSync(FolderStore(folder), DocumentIndexer(writer, backends.embeddings(), LIMITS)).sync(
        "guide.md"
    )

    assert outcome.result == "unchanged"


async def test_make_run_with_documents_watch_keeps_the_index_in_step_with_the_folder(configure, tmp_path):
    from devtools.local_server import _watch_documents

    folder = tmp_path / "watched"
    configure(DOCUMENTS_WATCH="true", DOCUMENTS_DIR=str(folder), DOCUMENTS_WATCH_INTERVAL_SECONDS="0.05")
    folder.mkdir()
    watcher = _watch_documents()
    try:
        (folder / "new.md").write_bytes(GUIDE_V1)
        await until(lambda: "new.md" in backends.search_index().document_hashes())
        (folder / "new.md").unlink()
        await until(lambda: "new.md" not in backends.search_index().document_hashes())
    finally:
        watcher.cancel()
