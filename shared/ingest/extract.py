"""Text extraction from the file types the ingestion and attachments accept: .md, .txt, .html, .pdf."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf"})
# A plain-text heading: opens with a capital, no sentence punctuation, no list or table mark.
_PLAIN_HEADING = re.compile(r"[A-Z][^.,;:!?|]*[^.,;:!?|\s]$")
_HEADING_WORDS = 8


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
    if suffix == ".txt":
        text = _marked_headings(text)
    return ExtractedDocument(title=_first_heading(text) or path.stem, pages=[Page(None, text)])


def _marked_headings(text: str) -> str:
    """Plain text with its headings marked as Markdown's: a short line after a blank one (or opening the
    text), with no sentence punctuation, above more text ("Quiet hours", "POWER"). Unmarked, the chunker
    would run it on into the paragraph under it, as it joins the lines a paragraph wraps over."""
    lines = text.splitlines()
    last_text = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines[:last_text]):  # a heading has text below it
        words = line.split()
        after_blank = i == 0 or not lines[i - 1].strip()
        if after_blank and 0 < len(words) <= _HEADING_WORDS and _PLAIN_HEADING.match(line.strip()):
            lines[i] = f"# {line.strip()}"
    return "\n".join(lines)


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
    text = _html_text(soup)
    return ExtractedDocument(title=title or _first_heading(text) or path.stem, pages=[Page(None, text)])


_HTML_BLOCKS_TEXT = """address article aside blockquote dd div dl dt fieldset figcaption figure footer form header
    main nav ol p pre section table ul"""
_HTML_BLOCKS = _HTML_BLOCKS_TEXT.split()


def _html_text(soup: Any) -> str:
    """The page's text as markdown-like blocks, so that chunks and answers read HTML as they read
    Markdown: headings marked with "#", list items with "- ", table rows as "| a | b |", a blank line
    between blocks; inline elements (<strong>, <a>) stay inside their sentence."""
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {' '.join(heading.get_text(' ').split())}\n\n")
    for row in soup.find_all("tr"):
        cells = [" ".join(cell.get_text(" ").split()) for cell in row.find_all(["th", "td"])]
        row.replace_with(f"| {' | '.join(cells)} |\n")
    for item in soup.find_all("li"):
        item.insert_before("\n- ")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_HTML_BLOCKS):
        block.insert_before("\n\n")
        block.insert_after("\n\n")
    lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _pdf(data: bytes, path: Path) -> ExtractedDocument:
    from pypdf import PdfReader

    from shared.ingest import pdf

    reader = PdfReader(io.BytesIO(data))  # the document's title
    title = (reader.metadata.title if reader.metadata else None) or path.stem
    runs = pdf.blocks(pdf.drop_furniture(pdf.read_rows(data)))
    pages = [Page(run.page, "\n".join(run.lines), run.section) for run in runs]
    return ExtractedDocument(title=title, pages=[p for p in pages if p.text.strip()])
