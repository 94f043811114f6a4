"""Text extraction and chunking for each supported file type."""

from __future__ import annotations

from shared.core.passages import passages
from shared.ingest.chunking import Chunker
from shared.ingest.extract import extract


def minimal_pdf(pages: list[str], title: str) -> bytes:
    """A valid PDF with one line of Helvetica text per page, offsets computed exactly."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", None, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
            "/Resources << /Font << /F1 3 0 R >> >> >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    objects.append(f"<< /Title ({title}) >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    trailer = f"<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>"
    out += f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_pdf_pages_keep_their_numbers_and_title(tmp_path):
    path = tmp_path / "guide.pdf"
    path.write_bytes(minimal_pdf(["Page one talks about brakes.", "Page two talks about tyres."], "Service Guide"))

    document = extract(path)

    assert document.title == "Service Guide"
    assert [(p.number, p.text.strip()) for p in document.pages] == [
        (1, "Page one talks about brakes."),
        (2, "Page two talks about tyres."),
    ]


def test_html_drops_markup_scripts_and_uses_the_title(tmp_path):
    path = tmp_path / "faq.html"
    path.write_text(
        "<html><head><title>FAQ</title><style>p{}</style></head>"
        "<body><h1>Questions</h1><p>First answer.</p><script>alert(1)</script><p>Second answer.</p></body></html>"
    )

    document = extract(path)

    assert document.title == "FAQ"
    assert document.pages[0].text == "# Questions\n\nFirst answer.\n\nSecond answer."


def test_html_keeps_its_blocks_and_inline_text_inside_its_sentence(tmp_path):
    path = tmp_path / "models.html"
    path.write_text(
        "<html><body><h2>Which models?</h2>\n<p>The <strong>Zephyr</strong> commuter\ne-bike and the "
        "<a href='/atlas'>Atlas</a>.</p><ul><li>Light</li><li>Strong<br>and cheap</li></ul>"
        "<table><tr><th>Model</th><th>Weight</th></tr><tr><td>Zephyr</td><td>21.5 kg</td></tr></table></body></html>"
    )

    text = extract(path).pages[0].text

    assert text.startswith("## Which models?\n\nThe Zephyr commuter\ne-bike and the Atlas.\n\n")
    assert "- Light\n- Strong\nand cheap" in text
    assert "| Model | Weight |\n| Zephyr | 21.5 kg |" in text
    chunk = Chunker().split(text)[0]
    assert chunk.startswith("## Which models?\nThe Zephyr commuter e-bike and the Atlas.\n- Light")


def test_markdown_title_is_its_first_heading(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("\n# Release notes\n\nText.")

    assert extract(path).title == "Release notes"


def test_chunks_respect_the_token_budget_and_overlap():
    chunker = Chunker(max_tokens=40, overlap_tokens=12)
    sentences = [f"Sentence number {i} is about topic {i}." for i in range(30)]

    chunks = chunker.split(" ".join(sentences))

    assert len(chunks) > 3
    assert all(chunker.count(c) <= 40 for c in chunks)
    for previous, following in zip(chunks, chunks[1:], strict=False):
        assert previous.split(". ")[-1].rstrip(".") in following  # the last sentence is repeated
    assert all(s.rstrip(".") in " ".join(chunks) for s in sentences)


def test_a_sentence_longer_than_a_chunk_is_cut_by_tokens():
    chunker = Chunker(max_tokens=20, overlap_tokens=5)

    chunks = chunker.split("word " * 100)

    assert all(chunker.count(c) <= 20 for c in chunks)
    assert len(chunks) >= 5


def test_a_heading_never_ends_a_chunk_it_opens_the_next_one():
    chunker = Chunker(max_tokens=45, overlap_tokens=0)  # two sections (40 tokens) and the next heading fit
    sections = [f"## Part {i}\nPart {i} says fact number {i} in a sentence of some length." for i in range(8)]

    chunks = chunker.split("\n".join(sections))

    assert len(chunks) > 2
    assert all(not c.splitlines()[-1].startswith("#") for c in chunks), chunks
    assert all(f"## Part {i}\nPart {i} says" in "".join(chunks) for i in range(8))


def test_a_chunk_cut_inside_a_section_repeats_the_sections_heading():
    chunker = Chunker(max_tokens=40, overlap_tokens=12)
    section = "## Returns\n" + " ".join(f"Rule {i} of returns applies to item {i}." for i in range(8))

    chunks = chunker.split(f"{section}\n\n## Shipping\nParcels ship within two days.")

    assert len(chunks) > 2
    assert all(c.startswith("## Returns\n") for c in chunks[:-1]), chunks
    assert all(chunker.count(c) <= 40 for c in chunks)
    assert "## Shipping\nParcels ship within two days." in chunks[-1]


def test_a_chunk_cut_inside_a_table_repeats_its_header_row():
    chunker = Chunker(max_tokens=60, overlap_tokens=0)
    rows = "\n".join(f"| Item {i} | {i} weeks | {i} renewals |" for i in range(12))
    table = f"## Loans\n| Item | Loan period | Renewals |\n| --- | --- | --- |\n{rows}"

    chunks = chunker.split(table)

    assert len(chunks) > 2
    header = "## Loans\n| Item | Loan period | Renewals |\n| --- | --- | --- |\n| Item "
    assert all(c.startswith(header) for c in chunks), chunks
    assert all(chunker.count(c) <= 60 + 3 for c in chunks)  # units are counted alone: a line break may add one
    assert sum(c.count("| Item ") for c in chunks) == 12 + len(chunks)  # each row once, the header per chunk


def test_a_plain_text_heading_stays_apart_from_the_paragraph_under_it(tmp_path):
    """A short unpunctuated line after a blank one heads the text under it; the lines a paragraph wraps
    over still share a line."""
    path = tmp_path / "rules.txt"
    path.write_text(
        "Linden Court - House Rules\n\nQuiet hours\nQuiet hours are from 22:00 to 7:00 on weekdays and\n"
        "from 23:00 to 9:00 at weekends.\n\nPOWER\nThe unit runs on two AA batteries.\n"
    )

    chunk = Chunker().split(extract(path).pages[0].text)[0]

    assert chunk.splitlines() == [
        "# Linden Court - House Rules",
        "# Quiet hours",
        "Quiet hours are from 22:00 to 7:00 on weekdays and from 23:00 to 9:00 at weekends.",
        "# POWER",
        "The unit runs on two AA batteries.",
    ]


def test_a_title_or_an_abbreviation_ends_no_sentence():
    text = "The caretaker, Mr. Jansen, can be reached at 020 555 0192. Use a tool, e.g. Tidy. Call Dr. Smith."

    assert [p.text for p in passages(text, 1)] == [
        "The caretaker, Mr. Jansen, can be reached at 020 555 0192.",
        "Use a tool, e.g. Tidy.",
        "Call Dr. Smith.",
    ]
    assert Chunker(24, 0).split(text)[0] == "The caretaker, Mr. Jansen, can be reached at 020 555 0192."
