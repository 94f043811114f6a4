"""Azure AI Search semantics on the embedded index: filters, facets, highlights, count, select,
and the security filter, on the real ingested sample corpus."""

from __future__ import annotations

import re

import pytest

from shared import backends
from shared.core.errors import RequestError
from shared.core.types import RetrievalSpec
from shared.ingest.chunking import Chunker
from shared.ingest.pipeline import ingest
from shared.retrieval.embedded import EmbeddedIndex, EmbeddedIndexWriter, EmbeddedRetriever
from shared.retrieval.query import SearchOptions

# What samples/corpus/*.meta.json and the chunker give: chunks per category.
CATEGORY_CHUNKS = {"manual": 5, "policy": 4, "company": 2}


@pytest.fixture
def retriever(sample_index):
    return EmbeddedRetriever(sample_index, backends.embeddings(), SearchOptions(3, 50))


async def search(retriever, question="", **spec):
    return await retriever.search(question, RetrievalSpec(**spec))


def filenames(result):
    return {s.fields["filename"] for s in result.sources}


@pytest.mark.parametrize(
    ("odata_filter", "expected"),
    [
        ("category eq 'policy'", {"warranty-policy.md", "returns-and-shipping.md"}),
        ("tags/any(t: t eq 'battery')", {"zephyr-e-bike-manual.md"}),
        ("tags/any(t: search.in(t, 'faq|maintenance', '|'))", {"company-faq.html", "maintenance-guide.txt"}),
        (
            "search.in(filename, 'company-faq.html, maintenance-guide.txt')",
            {"company-faq.html", "maintenance-guide.txt"},
        ),
        ("category ne 'policy' and not (category eq 'manual')", {"company-faq.html"}),
        (
            "(category eq 'company' or filename eq 'warranty-policy.md') and chunk_index le 0",
            {"company-faq.html", "warranty-policy.md"},
        ),
        ("'manual' eq category and chunk_index ge 2", {"zephyr-e-bike-manual.md"}),
        ("tags/all(t: t ne 'legal') and category eq 'policy'", {"returns-and-shipping.md"}),
        ("page eq null and category eq 'company'", {"company-faq.html"}),
        ("page ne null", set()),
    ],
)
async def test_filters(retriever, odata_filter, expected):
    result = await search(retriever, "*", filter=odata_filter, top_k=50, vector_search=False)

    assert filenames(result) == expected


async def test_filters_apply_to_vector_and_hybrid_results_too(retriever):
    result = await search(retriever, "How long does charging take?", filter="category eq 'policy'", top_k=5)

    assert result.sources and filenames(result) <= {"warranty-policy.md", "returns-and-shipping.md"}


async def test_facets_and_count_cover_every_match_not_just_the_top_k(retriever):
    result = await search(
        retriever, "*", top_k=1, include_total_count=True, facets=("category", "tags,count:2"), vector_search=False
    )

    assert len(result.sources) == 1
    assert result.count == sum(CATEGORY_CHUNKS.values())
    assert result.facets["category"] == [
        {"value": "manual", "count": 5},
        {"value": "policy", "count": 4},
        {"value": "company", "count": 2},
    ]
    # Ties are broken by value, so the order is deterministic.
    assert result.facets["tags"] == [{"value": "battery", "count": 3}, {"value": "troubleshooting", "count": 3}]


async def test_count_and_facets_follow_the_query_terms_and_the_filter(sample_index, retriever):
    result = await search(
        retriever, "battery", include_total_count=True, facets=("filename",), filter="category eq 'manual'"
    )

    texts = sample_index._db.execute("SELECT text, title, category FROM chunks").fetchall()
    expected = sum(
        1
        for text, title, category in texts
        if category == "manual" and re.search(r"batter(y|ies)", f"{title} {text}", re.I)
    )
    assert result.count == expected
    assert sum(f["count"] for f in result.facets["filename"]) == expected


async def test_highlights_wrap_the_matched_terms(retriever):
    result = await search(retriever, "warranty frame", highlight_fields=("text",), top_k=2, vector_search=False)

    fragments = result.sources[0].highlights["text"]
    assert re.search(r"<em>(warranty|frame)</em>", fragments[0], re.I)
    assert "<em>" not in result.sources[0].text


async def test_select_returns_only_the_chosen_fields(retriever):
    result = await search(retriever, "warranty", select_fields=("id", "tags"), top_k=1)

    assert set(result.sources[0].fields) == {"id", "tags"}
    assert result.sources[0].fields["tags"] == ["warranty", "legal"]


async def test_allowed_principals_are_never_returned(retriever):
    result = await search(retriever, "warranty", top_k=1)

    assert "allowed_principals" not in result.sources[0].fields


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"filter": "category eq"}, "invalid filter"),
        ({"filter": "category eq 'a') or (category ne 'a'"}, "invalid filter"),
        ({"filter": "speaker eq 'david'"}, "unknown field 'speaker' in filter"),
        ({"filter": "text eq 'x'"}, "field 'text' is not filterable"),
        ({"filter": "page eq 'one'"}, "page is a number"),
        ({"filter": "category eq 3"}, "category is text"),
        ({"filter": "tags eq 'x'"}, "tags is a collection"),
        ({"filter": "category/any(c: c eq 'x')"}, "any/all apply to a collection field"),
        ({"facets": ("speaker,count:5",)}, "unknown field(s) in facets: speaker"),
        ({"facets": ("text",)}, "not facetable"),
        ({"facets": ("category,sort:value",)}, "unsupported facet parameter 'sort:value'"),
        ({"facets": ("category,count:0",)}, "facet count must be between 1 and 1000"),
        ({"highlight_fields": ("filename",)}, "not searchable"),
        ({"select_fields": ("allowed_principals",)}, "not retrievable"),
        ({"top_k": 51}, "top_k must be between 0 and 50"),
    ],
)
async def test_bad_search_arguments_are_refused_with_a_message_naming_the_problem(retriever, spec, message):
    with pytest.raises(RequestError) as refused:
        await search(retriever, "warranty", **spec)

    assert message in refused.value.message


# --- security filter ---


@pytest.fixture
async def shared_docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, principals in (("alice.md", ["alice", "team-a"]), ("team.md", ["team-a", "bob"]), ("open.md", [])):
        (folder / name).write_text(f"# {name}\n\nQuarterly plan notes for {name}.")
        (folder / f"{name}.meta.json").write_text(f'{{"allowed_principals": {principals!r}}}'.replace("'", '"'))
    index = EmbeddedIndex(tmp_path / "secure.sqlite", "secure")
    await ingest(folder, EmbeddedIndexWriter(index), backends.embeddings(), prune=False, chunker=Chunker())
    return EmbeddedRetriever(index, backends.embeddings(), SearchOptions(10, 50, security_field="allowed_principals"))


async def test_security_filter_limits_results_to_the_callers_documents(shared_docs):
    assert filenames(await shared_docs.search("quarterly plan", RetrievalSpec(), "alice")) == {"alice.md"}
    assert filenames(await shared_docs.search("quarterly plan", RetrievalSpec(), "bob")) == {"team.md"}
    assert filenames(await shared_docs.search("quarterly plan", RetrievalSpec(), "team-a")) == {"alice.md", "team.md"}


async def test_security_filter_cannot_be_widened_by_the_request_filter(shared_docs):
    widened = RetrievalSpec(
        filter="filename ne 'nothing' or filename eq 'open.md'", include_total_count=True, facets=("filename",)
    )

    result = await shared_docs.search("quarterly plan", widened, "bob")

    assert filenames(result) == {"team.md"}
    assert result.count == 1 and result.facets == {"filename": [{"value": "team.md", "count": 1}]}


@pytest.mark.parametrize("identity", [None, ""])
async def test_security_filter_fails_closed_without_an_identity(shared_docs, identity):
    result = await shared_docs.search("quarterly plan", RetrievalSpec(include_total_count=True), identity)

    assert result.sources == () and result.count == 0


async def test_identity_with_quotes_is_a_literal_not_filter_syntax(shared_docs):
    result = await shared_docs.search("quarterly plan", RetrievalSpec(), "x' or 'a' eq 'a")

    assert result.sources == ()
