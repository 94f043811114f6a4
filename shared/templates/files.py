"""Templates from a local folder (prompts/ in embedded mode), confined to that folder.

A template is read once and kept while its file is unchanged: each load costs one stat of
the file on the event loop, not a worker-thread hop and a read (an edit is seen at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict
from pathlib import Path, PurePosixPath

from shared.core.errors import RequestError

MAX_NAME_CHARS = 255  # what file systems allow in one path component
CACHED_TEMPLATES = 256  # names come from requests: the cache is bounded


def safe_relative_name(name: str) -> PurePosixPath:
    """Validate a template name from a request: relative, no `..`, no drive or backslash tricks."""
    if len(name) > MAX_NAME_CHARS:
        raise RequestError(f"template names are at most {MAX_NAME_CHARS} characters; this one has {len(name)}")
    if not name or "\\" in name or "\x00" in name:
        raise RequestError(f"template name {name!r} is not allowed")
    path = PurePosixPath(name)
    if not path.parts:  # "." and "./" name the root folder itself
        raise RequestError(f"template name {name!r} names no file")
    if any(len(part.encode()) > MAX_NAME_CHARS for part in path.parts):
        raise RequestError(f"each part of a template name is at most {MAX_NAME_CHARS} bytes")
    if path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
        raise RequestError(f"template name {name!r} must be a relative path inside the template root")
    return path


class FileTemplateSource:
    def __init__(self, root: Path) -> None:
        self._root = root.resolve()
        # name -> (path, origin, (mtime_ns, size) when read, text), least recently used first
        self._cache: OrderedDict[str, tuple[Path, str, tuple[int, int], str]] = OrderedDict()

    async def load(self, name: str) -> tuple[str, str]:
        cached = self._cache.get(name)
        if cached is not None:
            path, origin, version, text = cached
            with contextlib.suppress(OSError):  # gone (a symlink swapped away from it): resolve again
                if _version(path) == version:
                    self._cache.move_to_end(name)
                    return text, origin
        path, origin = self._path(name)
        try:
            version = _version(path)
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise RequestError(f"template {name!r} was not found") from None
        self._cache[name] = (path, origin, version, text)
        if len(self._cache) > CACHED_TEMPLATES:
            self._cache.popitem(last=False)
        return text, origin

    def _path(self, name: str) -> tuple[Path, str]:
        relative = safe_relative_name(name)
        path = (self._root / relative).resolve()
        # A symlink inside the root could still point outside it.
        if not path.is_relative_to(self._root):
            raise RequestError(f"template name {name!r} leaves the template root")
        return path, f"file:{relative}"


def _version(path: Path) -> tuple[int, int]:
    """What changes when the file does; FileNotFoundError once it is gone."""
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size
