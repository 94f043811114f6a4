"""The embedded index and the ingestion command, on real files and the real embedding model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from shared.core.types import Chunk, RetrievalSpec
from shared.ingest.chunking import Chunker
from shared.ingest.pipeline import ingest
from shared.retrieval.embedded import (
    EmbeddedIndex,
    EmbeddedIndexWriter,
    EmbeddedRetriever,
    fts_query,
    reciprocal_rank_fusion,
)
from shared.retrieval.query import SearchOptions, SearchPlan
from shared.retrieval.schema import RETRIEVABLE


def test_rrf_rewards_documents_ranked_well_by_both_lists():
    fused = reciprocal_rank_fusion([1, 2, 3], [3, 1, 4])

    assert [key for key, _ in fused] == [1, 3, 2, 4]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


@pytest.mark.parametrize("text", ['"; DROP TABLE chunks; --', "NEAR(a b) AND title:x*", "^ ( ) :"])
def test_user_text_never_reaches_fts5_as_syntax(text, sample_index):
    assert all(part.startswith('"') for part in fts_query(text).split(" OR ") if part)
    sample_index.search(SearchPlan(text=text, top_k=3, select=RETRIEVABLE), None)  # FTS5 syntax would raise


@pytest.fixture
async def scratch(tmp_path):
    from shared import backends

    index = EmbeddedIndex(tmp_path / "scratch.sqlite", "scratch")
    folder = tmp_path / "docs"
    folder.mkdir()
    return index, folder, backends.embeddings()


async def run_ingest(index, folder, prune=False):
    from shared import backends

    chunker = Chunker(max_tokens=60, overlap_tokens=10)
    return await ingest(folder, EmbeddedIndexWriter(index), backends.embeddings(), prune=prune, chunker=chunker)


async def test_reingestion_skips_unchanged_replaces_changed_and_prunes_removed(scratch):
    index, folder, _ = scratch
    (folder / "a.md").write_text("# Alpha\n\nThe alpha reactor runs at 300 kelvin.")
    (folder / "b.txt").write_text("Beta notes.\n\n" + "The beta valve opens slowly. " * 40)

    first = await run_ingest(index, folder)
    count = index.chunk_count()
    again = await run_ingest(index, folder)

    assert (first.indexed, again.indexed, again.unchanged) == (2, 0, 2)
    assert index.chunk_count() == count > 2  # b.txt spans several chunks, none duplicated

    (folder / "b.txt").write_text("Beta notes, rewritten: the beta valve is gone.")
    changed = await run_ingest(index, folder)
    assert (changed.indexed, changed.unchanged) == (1, 1)
    assert index.chunk_count() == 2

    (folder / "a.md").unlink()
    kept = await run_ingest(index, folder)
    assert index.chunk_count() == 2 and kept.removed == 0
    pruned = await run_ingest(index, folder, prune=True)
    assert pruned.removed == 1 and index.chunk_count() == 1
    assert set(index.document_hashes()) == {"b.txt"}
    assert index.document_hash("b.txt") == index.document_hashes()["b.txt"] and index.document_hash("a.md") is None


async def test_vector_search_finds_a_paraphrase_that_full_text_misses(scratch):
    index, folder, embeddings = scratch
    (folder / "cat.md").write_text("Our cat sleeps on the sofa all afternoon.")
    (folder / "car.md").write_text("Change the engine oil of the car every year.")
    await run_ingest(index, folder)
    retriever = EmbeddedRetriever(index, embeddings, SearchOptions(1, 10))

    text_only = await retriever.search("feline dozing", RetrievalSpec(vector_search=False))
    hybrid = await retriever.search("feline dozing", RetrievalSpec(vector_search=True))

    assert text_only.sources == ()
    assert hybrid.sources[0].fields["filename"] == "cat.md"


async def test_new_chunks_are_searchable_without_a_restart(scratch):
    index, folder, embeddings = scratch
    retriever = EmbeddedRetriever(index, embeddings, SearchOptions(3, 10))
    (folder / "one.md").write_text("Penguins live in the southern hemisphere.")
    await run_ingest(index, folder)
    assert len((await retriever.search("penguins", RetrievalSpec())).sources) == 1

    shutil.copy(folder / "one.md", folder / "two.md")
    await run_ingest(index, folder)

    assert len((await retriever.search("penguins", RetrievalSpec())).sources) == 2


async def principals_search(index, folder, identity, default_principals=()):
    """Ingest `folder` with these default principals, then search it as `identity`, trimmed."""
    from shared import backends

    summary = await ingest(
        folder,
        EmbeddedIndexWriter(index),
        backends.embeddings(),
        prune=False,
        chunker=Chunker(),
        default_principals=default_principals,
    )
    options = SearchOptions(10, 50, security_field="allowed_principals")
    result = await EmbeddedRetriever(index, backends.embeddings(), options).search("lantern", RetrievalSpec(), identity)
    return summary, {source.fields["filename"] for source in result.sources}


async def test_a_file_without_principals_is_found_by_no_one_unless_defaults_are_named(scratch):
    index, folder, _ = scratch
    (folder / "plain.md").write_text("The lantern room is on the third floor.")
    (folder / "owned.md").write_text("The lantern key hangs in the office.")
    (folder / "owned.md.meta.json").write_text('{"allowed_principals": ["bob"]}')

    unshared, found_by_ana = await principals_search(index, folder, "ana")
    assert (unshared.indexed, unshared.unshared, found_by_ana) == (2, 1, set())

    shared, found_by_ana = await principals_search(index, folder, "ana", default_principals=("ana", "team"))
    # Only the file that took the defaults is re-indexed; its own principals win elsewhere.
    assert (shared.indexed, shared.unchanged, shared.unshared, found_by_ana) == (1, 1, 0, {"plain.md"})
    _, found_by_team = await principals_search(index, folder, "team", default_principals=("ana", "team"))
    _, found_by_bob = await principals_search(index, folder, "bob", default_principals=("ana", "team"))
    assert (found_by_team, found_by_bob) == ({"plain.md"}, {"owned.md"})

    again, found_by_ana = await principals_search(index, folder, "ana", default_principals=("team",))
    assert (again.indexed, found_by_ana) == (1, set())


def test_an_index_file_from_before_the_filter_indexes_keeps_its_chunks_and_gets_them(tmp_path):
    from shared.retrieval.embedded_tables import SAME_TABLES

    old = EmbeddedIndex(tmp_path / "index.sqlite", "old")
    chunks = [Chunk("a.md", "A", i, None, f"lantern {i}", "h", "c1", ("tag1",)) for i in range(3)]
    old.replace_document("a.md", "h", chunks, [np.eye(4, dtype=np.float32)[0]] * 3)
    with old.connection() as db:  # as the version before wrote it: no index on the values
        db.execute("DROP INDEX chunk_values_by_value")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (next(iter(SAME_TABLES)),))

    reopened = EmbeddedIndex(tmp_path / "index.sqlite", "old")
    plan = SearchOptions(5, 10).plan("lantern", RetrievalSpec(filter="tags/any(t: t eq 'tag1')"))

    assert reopened.chunk_count() == 3
    assert len(reopened.search(plan, None).rows) == 3
    with reopened.connection() as db:
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "chunk_values_by_value" in names


def test_an_index_file_of_another_schema_is_emptied_for_the_ingestion_to_fill(tmp_path):
    old = EmbeddedIndex(tmp_path / "index.sqlite", "old")
    chunk = Chunk("a.md", "A", 0, None, "lantern", "h")
    old.replace_document("a.md", "h", [chunk], [np.eye(4, dtype=np.float32)[0]])
    with old.connection() as db:
        db.execute("UPDATE meta SET value = 'unknown' WHERE key = 'schema'")

    assert EmbeddedIndex(tmp_path / "index.sqlite", "old").chunk_count() == 0
