"""Upload a prompts folder to the configured Blob Storage container, sending only what changed.

    python -m shared.templates.upload [FOLDER]

For deployment pipelines. Uses the PROMPTS_BLOB_* settings (connection string, account
key, or Entra ID). Each blob records the SHA-256 of its content in its metadata, so an
unchanged file is not sent again. Blobs without a local file are left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.templates.blob import blob_prefix

if TYPE_CHECKING:
    from azure.storage.blob.aio import ContainerClient

log = logging.getLogger("upload")


@dataclass
class UploadSummary:
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


async def upload(container: ContainerClient, folder: Path, prefix: str = "") -> UploadSummary:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import ContentSettings

    prefix = blob_prefix(prefix)
    with contextlib.suppress(ResourceExistsError):
        await container.create_container()
    stored = {
        blob.name: (blob.metadata or {}).get("sha256")
        async for blob in container.list_blobs(name_starts_with=prefix or None, include=["metadata"])
    }
    summary = UploadSummary()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        name = prefix + path.relative_to(folder).as_posix()
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if stored.get(name) == digest:
            summary.unchanged.append(name)
            continue
        await container.upload_blob(
            name,
            content,
            overwrite=True,
            metadata={"sha256": digest},
            content_settings=ContentSettings(content_type="text/plain; charset=utf-8"),
        )
        summary.uploaded.append(name)
        log.info("uploaded %s", name)
    return summary


def main() -> None:
    from shared import backends
    from shared.config import get_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=get_settings().prompts.dir)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings().prompts
    if not (settings.blob_connection_string or settings.blob_account_url):
        parser.error("set PROMPTS_BLOB_CONNECTION_STRING or PROMPTS_BLOB_ACCOUNT_URL")

    async def run() -> UploadSummary:
        async with backends.prompts_container() as container:
            return await upload(container, args.folder, settings.blob_prefix)

    summary = asyncio.run(run())
    log.info(
        "%d template(s) uploaded, %d unchanged, to container %r",
        len(summary.uploaded),
        len(summary.unchanged),
        settings.blob_container,
    )


if __name__ == "__main__":
    main()
