"""Real PDFs read as a reader sees them, on pages of the PDF corpus (samples/pdfs): headings
become sections, running headers, footers and page numbers go, table rows keep their column
labels, words hyphenated at line ends are whole again, and sources and citations name the
page and section of the passage they quote."""

from __future__ import annotations

import re
import shutil

import pytest

from shared import backends
from shared.config import PROJECT_ROOT
from shared.ingest.extract import Page, extract

CORPUS = PROJECT_ROOT / "samples" / "pdfs" / "corpus"


@pytest.fixture(scope="module")
def r_intro() -> list[Page]:
    return extract(CORPUS / "r-introduction.pdf").pages


@pytest.fixture(scope="module")
def maintainers() -> list[Page]:
    return extract(CORPUS / "gnu-maintainers.pdf").pages


def on_page(pages: list[Page], number: int) -> list[Page]:
    return [p for p in pages if p.number == number]


def test_a_heading_is_the_section_of_the_text_under_it_and_no_part_of_it(r_intro):
    sections = [p.section for p in on_page(r_intro, 42)]
    table_page = on_page(r_intro, 42)[0]

    # After its parent heading, which places it and names its topic.
    assert sections == ["8 Probability distributions › 8.1 R as a set of statistical tables"]
    assert table_page.text.startswith("One convenient use of R is to provide")
    # An unnumbered heading is placed under its parent; one that ends with a period is still a heading.
    assert "11.6.2 The glm() function › The gaussian family" in {p.section for p in on_page(r_intro, 68)}
    assert "11.6 Generalized linear models › 11.6.1 Families" in {p.section for p in on_page(r_intro, 68)}
    assert "1 Introduction and preliminaries › 1.8 R commands, case sensitivity, etc." in {
        p.section for p in on_page(r_intro, 11)
    }
    # A page that starts mid-section carries the section on.
    assert (
        on_page(r_intro, 44)[0].section
        == "8 Probability distributions › 8.2 Examining the distribution of a set of data"
    )


def test_running_headers_footers_and_page_numbers_are_dropped(r_intro, maintainers):
    # Page 42 is printed as page 36; page 12 has the running header "Chapter 1: Introduction and preliminaries 6".
    text_42 = "\n".join(p.text for p in on_page(r_intro, 42))
    text_12 = "\n".join(p.text for p in on_page(r_intro, 12))

    assert "36" not in text_42.split() and "Chapter 8" not in text_42
    assert "Chapter 1: Introduction and preliminaries" not in text_12
    assert not any(p.text.startswith("Chapter ") for p in r_intro + maintainers)
    assert not any(line.strip().isdigit() for p in maintainers for line in p.text.splitlines())


def test_a_table_row_keeps_its_column_labels_even_on_the_next_page(r_intro):
    text_42 = "\n".join(p.text for p in on_page(r_intro, 42))
    text_68 = "\n".join(p.text for p in on_page(r_intro, 68))

    assert "- Distribution: hypergeometric; R name: hyper; additional arguments: m, n, k." in text_42.splitlines()
    assert "Distribution R name" not in text_42  # the header is in every row, not a line of its own
    # The families table starts on page 67 and goes on on page 68: its header comes along.
    assert "- Family name: poisson; Link functions: identity, log, sqrt." in text_68.splitlines()
    # A table without a header row: each row one line, its first cell as its label.
    standards = extract(CORPUS / "gnu-coding-standards.pdf").pages
    assert "- ‘classify’: ‘-F’ in ls." in "\n".join(p.text for p in on_page(standards, 21)).splitlines()


def test_a_word_hyphenated_at_a_line_end_is_joined_and_a_compound_keeps_its_hyphen(r_intro, maintainers):
    text_11 = " ".join(p.text for p in on_page(maintainers, 11))
    text_67 = " ".join(p.text for p in on_page(r_intro, 67))

    assert "legally significant for copyright" in text_11 and "signif-" not in text_11
    assert "both non-normal response distributions" in text_67  # "non-" ends the line; "non-free" elsewhere
    assert "quasi-likelihood models" in text_67


async def test_sources_and_citations_name_the_page_and_section_they_quote(client, configure, tmp_path):
    from shared.ingest.chunking import Chunker
    from shared.ingest.pipeline import ingest

    folder = tmp_path / "documents"
    folder.mkdir()
    shutil.copy(CORPUS / "gnu-maintainers.pdf", folder)
    configure(LLM_ANSWER_STRATEGY="extractive", SEARCH_INDEX_PATH=str(tmp_path / "index.sqlite"))
    await ingest(folder, backends.index_writer(), backends.embeddings(), prune=False, chunker=Chunker())
    question = "Which server is used for pretests and prerelease versions?"

    rag = (await client.post("/api/v2/flexible-rag", json={"question": question})).json()
    body = {"model": "smollm2", "messages": [{"role": "user", "content": question}]}
    completion = (await client.post("/api/v1/chat/completions", json=body)).json()

    assert "alpha.gnu.org" in rag["answer"]
    cited = rag["metadata"][cited_number(rag["answer"]) - 1]
    assert (cited["filename"], cited["page"], cited["section"]) == (
        "gnu-maintainers.pdf",
        28,
        "12 Distributions › 12.5 Test Releases",
    )
    assert "12 Distributions › 12.5 Test Releases" not in cited["text"]
    citation = completion["citations"][cited_number(completion["choices"][0]["message"]["content"]) - 1]
    assert (citation["page"], citation["section"]) == (28, "12 Distributions › 12.5 Test Releases")
    opened = (await client.get(citation["url"])).json()
    assert (opened["page"], opened["section"]) == (28, "12 Distributions › 12.5 Test Releases")


def cited_number(answer: str) -> int:
    return int(re.findall(r"\[(\d+)\]", answer)[-1])


def test_tables_of_contents_and_indexes_are_dropped_and_a_sentence_around_an_expression_stays_one(r_intro):
    # Their lines ("var . . . . 9, 18") point to answers and hold none; they took sources' places.
    assert not any(re.search(r"(?:\. ){4}", p.text) for p in r_intro)
    text_15 = "\n".join(p.text for p in on_page(r_intro, 15))
    # "Thus / sqrt(-17) / will give NaN and a warning, but / sqrt(-17+0i)": short lines, but no list.
    assert "Thus\nsqrt(-17)\nwill give NaN and a warning, but\nsqrt(-17+0i)" in text_15
