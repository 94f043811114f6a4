"""Text extraction from the file types the ingestion and attachments accept: .md, .txt, .html, .pdf."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf"})


@dataclass(frozen=True)
class Page:
    """A page's text, or for PDFs a run of it under one heading (a page may hold several)."""

    number: int | None  # 1-based for PDFs, None for flowing text
    text: str
    section: str | None = None  # the heading the text sits under (PDFs); not part of `text`


@dataclass(frozen=True)
class ExtractedDocument:
    title: str
    pages: list[Page]


def extract(path: Path) -> ExtractedDocument:
    return extract_bytes(path.read_bytes(), path.name)


def extract_bytes(data: bytes, name: str) -> ExtractedDocument:
    """The text of a file's contents; its type comes from the suffix of `name`."""
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(f"{name}: unsupported file type; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    if suffix == ".pdf":
        return _pdf(data, path)
    text = data.decode("utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        return _html(text, path)
    return ExtractedDocument(title=_first_heading(text) or path.stem, pages=[Page(None, text)])


def _first_heading(text: str) -> str | None:
    for line in text.splitlines():
        line = line.strip()
        if line:
            heading = line.lstrip("#").strip()
            return heading if len(heading) <= 120 else None
    return None


def _html(markup: str, path: Path) -> ExtractedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else None
    if soup.title:
        soup.title.decompose()
    # Block elements end with a newline so that paragraphs stay apart.
    text = soup.get_text("\n")
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return ExtractedDocument(title=title or _first_heading(text) or path.stem, pages=[Page(None, text)])


def _pdf(data: bytes, path: Path) -> ExtractedDocument:
    from pypdf import PdfReader

    from shared.ingest import pdf

    reader = PdfReader(io.BytesIO(data))  # the document's title
    title = (reader.metadata.title if reader.metadata else None) or path.stem
    runs = pdf.blocks(pdf.drop_furniture(pdf.read_rows(data)))
    pages = [Page(run.page, "\n".join(run.lines), run.section) for run in runs]
    return ExtractedDocument(title=title, pages=[p for p in pages if p.text.strip()])
