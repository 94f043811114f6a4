"""Templates from an Azure Blob Storage container.

Each template is downloaded once per process and revalidated on every use with a
conditional GET (If-None-Match on its ETag): an unchanged template costs a 304 and no
body, and a template changed in the container is picked up by the next request.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)

from shared.core.errors import RequestError, UpstreamError
from shared.templates.files import safe_relative_name

if TYPE_CHECKING:
    from azure.storage.blob.aio import ContainerClient

log = logging.getLogger(__name__)


def blob_prefix(prefix: str) -> str:
    """A container folder as blob names start with it: "" or "folder/"."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


class BlobTemplateSource:
    def __init__(self, container: ContainerClient, prefix: str = "") -> None:
        self._container = container
        self._prefix = blob_prefix(prefix)
        self._cache: dict[str, tuple[str, str]] = {}  # blob name -> (etag, text)

    async def load(self, name: str) -> tuple[str, str]:
        relative = str(safe_relative_name(name))
        blob_name = self._prefix + relative
        cached = self._cache.get(blob_name)
        try:
            if cached:
                stream = await self._container.download_blob(
                    blob_name, etag=cached[0], match_condition=MatchConditions.IfModified
                )
            else:
                stream = await self._container.download_blob(blob_name)
            text = (await stream.readall()).decode("utf-8")
        except (ResourceNotModifiedError, ResourceModifiedError) as exc:
            # A 304 arrives with error code ConditionNotMet, which the SDK may map to either type.
            if cached and exc.status_code == 304:
                return cached[1], f"blob:{relative}"
            raise UpstreamError("template_store_failed", "The prompt template store could not be read.") from exc
        except ResourceNotFoundError:
            raise RequestError(f"template {name!r} was not found") from None
        except UnicodeDecodeError:
            raise RequestError(f"template {name!r} is not UTF-8 text") from None
        except AzureError as exc:
            raise UpstreamError("template_store_failed", "The prompt template store could not be read.") from exc
        self._cache[blob_name] = (stream.properties.etag, text)
        return text, f"blob:{relative}"
