"""Keeping the index in step with a document store, one document at a time.

`DocumentSync.sync(name)` makes the index match the store's current state of one document:
indexed (or left alone when its content hash is already there), replaced when it changed,
removed when it is gone. It is what the blob trigger (a blob created or replaced), the Event
Grid trigger (a blob deleted) and the local watcher call, so that events arriving late, twice
or out of order all end in the same state. A change to `<name>.meta.json` syncs `<name>`.

A document that cannot be read gets a failed status with the reason (its poison record) and
is not tried again until it changes; a transient failure is tried again (RETRY_DELAYS_SECONDS),
then raised, so that the trigger's own retries take over.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from shared.ingest.documents import DocumentIndexer, DocumentRejected, Outcome, supported, with_retries
from shared.ingest.stores import DocumentStore, State, Status, StoredDocument, metadata_owner

log = logging.getLogger("ingest.documents")


class DocumentSync:
    def __init__(self, store: DocumentStore, indexer: DocumentIndexer) -> None:
        self.store = store
        self.indexer = indexer

    async def sync(self, name: str) -> Outcome | None:
        """Bring the index in step with the store for the document `name` names; None when the name
        is not a document's (an unsupported type)."""
        name = metadata_owner(name)
        if not supported(name):
            return None
        stored = await with_retries(lambda: self.store.read(name), f"reading {name}")
        if stored is None:
            return await with_retries(lambda: self.indexer.remove(name), f"removing {name}")
        recorded = stored.status
        if recorded is not None and recorded.state == "failed" and recorded.content_hash == stored.content_hash:
            return Outcome("failed", reason=recorded.reason)  # its poison record stands until it changes
        try:
            outcome = await with_retries(lambda: self._index(stored), f"indexing {name}")
        except DocumentRejected as exc:
            outcome = Outcome("failed", reason=exc.reason)
        status = _status(stored, outcome)
        if status is not None:
            await with_retries(lambda: self.store.set_status(name, status), f"recording the status of {name}")
        return outcome

    async def _index(self, stored: StoredDocument) -> Outcome:
        return await self.indexer.index(stored.name, stored.data, stored.metadata, stored.content_hash)

    async def watch(self, interval: float) -> None:
        """Sync every document now, then each one that changes, appears or disappears, looking every
        `interval` seconds, until cancelled (the local server's DOCUMENTS_WATCH)."""
        seen: dict[str, str] = {}
        while True:
            try:
                current = await self.store.versions()
                changed = {n for n in current.keys() | seen.keys() if current.get(n) != seen.get(n)}
                for name in sorted({metadata_owner(n) for n in changed}):
                    await self.sync(name)
                if changed:
                    await self.indexer.settled()  # each document's own completion first: nothing embedded twice
                    await self.indexer.complete()
                seen = current
            except Exception:  # noqa: BLE001 - the next look tries again; the server keeps serving
                log.exception("watching the documents failed")
            await asyncio.sleep(interval)


def _status(stored: StoredDocument, outcome: Outcome) -> Status | None:
    """The status to record, or None when the recorded one still holds."""
    if outcome.result == "unchanged":
        recorded = stored.status
        if recorded is not None and recorded.state == "indexed" and recorded.content_hash == stored.content_hash:
            return None
        # Indexed by another path (the CLI, or an upload's own request): the chunks are in the index.
        return Status("indexed", stored.content_hash, recorded.chunks if recorded else None, None, datetime.now(UTC))
    state: State = "failed" if outcome.result == "failed" else "indexed"
    return Status(state, stored.content_hash, outcome.chunks, outcome.reason, datetime.now(UTC))
