"""Templates from a local folder (prompts/ in embedded mode), confined to that folder."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath

from shared.core.errors import RequestError

MAX_NAME_CHARS = 255  # what file systems allow in one path component


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

    async def load(self, name: str) -> tuple[str, str]:
        relative = safe_relative_name(name)
        path = (self._root / relative).resolve()
        # A symlink inside the root could still point outside it.
        if not path.is_relative_to(self._root):
            raise RequestError(f"template name {name!r} leaves the template root")
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise RequestError(f"template {name!r} was not found") from None
        return text, f"file:{relative}"
