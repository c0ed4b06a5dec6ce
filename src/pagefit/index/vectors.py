"""Vector search over an index's page vectors: exact, or quantized (int8 / binary) with rescoring.

The full-precision vectors (unit length, at the index's dimension) are the truth. A quantized index
searches compact codes with usearch's SIMD kernels (int8 inner product, binary Hamming) for
``k * rescore_multiplier`` candidates, then rescores those candidates on the full-precision vectors,
so the scores returned are always exact cosine similarities. ``ann=True`` swaps the brute-force scan
for usearch's HNSW graph (for large indexes; exact scans stay exact).

Quantization itself is Sentence Transformers' `quantize_embeddings` (int8 with per-dimension ranges
calibrated on the corpus vectors; ``ubinary`` sign bits).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from pagefit._io import atomic_write_bytes

if TYPE_CHECKING:
    from usearch.index import Index

__all__ = ["DEFAULT_RESCORE", "Quantization", "VectorSearcher", "exact_search"]

logger = logging.getLogger(__name__)

Quantization = Literal["none", "int8", "binary"]

# Candidates per wanted result before rescoring: binary codes keep 1 bit of 32 and need more.
DEFAULT_RESCORE: dict[str, int] = {"none": 1, "int8": 4, "binary": 10}
# HNSW candidates explored per query (benchmarks/search.py, 100k vectors of low intrinsic dimension, int8
# codes rescored): usearch's default 64 gave recall@10 0.978-0.985 of exact; 128: 0.987-0.991; 160: 0.992 at
# 384-d (~12x faster than an exact scan) and 0.986 at 1024-d; 256: 0.995-0.997 at ~6-8x. Graph builds are
# multi-threaded, so recall moves by about +-0.004 from one build to the next.
DEFAULT_EXPANSION_SEARCH = 160
_INDEX_FILE = "vectors.usearch"
_RANGES_FILE = "int8_ranges.npy"


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force inner-product top k: (indices, scores), each (queries, min(k, N)), best first."""
    k = min(k, len(vectors))
    if k == 0:
        return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
    scores = queries @ vectors.T
    top = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < len(vectors)
        else np.tile(np.arange(len(vectors)), (len(queries), 1))
    )
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)  # score desc, then row ascending
    return np.take_along_axis(top, order, axis=1).astype(np.int64), np.take_along_axis(
        top_scores, order, axis=1
    )


def quantize(vectors: np.ndarray, quantization: Quantization, ranges: np.ndarray | None = None) -> np.ndarray:
    """Codes of ``vectors``: int8 (with ``ranges``, shape (2, dim)) or packed sign bits."""
    from sentence_transformers.util.quantization import quantize_embeddings

    if quantization == "int8":
        return quantize_embeddings(vectors, precision="int8", ranges=ranges)
    return quantize_embeddings(vectors, precision="ubinary")


class VectorSearcher:
    """Top-k search over unit vectors (rows of ``vectors``), quantized or not, exact or HNSW."""

    def __init__(
        self,
        vectors: np.ndarray,
        quantization: Quantization = "none",
        *,
        ann: bool = False,
        rescore_multiplier: int | None = None,
        ranges: np.ndarray | None = None,
        index: Index | None = None,
        expansion_search: int = DEFAULT_EXPANSION_SEARCH,
    ) -> None:
        self.expansion_search = expansion_search
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.quantization: Quantization = quantization
        self.ann = ann
        self.rescore_multiplier = rescore_multiplier or DEFAULT_RESCORE[quantization]
        self.ranges = ranges
        if quantization == "int8" and ranges is None and len(self.vectors):
            self.ranges = np.vstack([self.vectors.min(axis=0), self.vectors.max(axis=0)])
        self.codes = None
        if quantization != "none" and len(self.vectors):
            self.codes = quantize(self.vectors, quantization, self.ranges)
        self.index = index
        if index is None and ann and len(self.vectors):
            self.index = self._build_index()
        if self.index is not None:
            self.index.expansion_search = expansion_search  # not saved with the graph: set on every load

    @property
    def _metric(self) -> str:
        return "hamming" if self.quantization == "binary" else "ip"

    def _build_index(self) -> Index:
        """The HNSW graph (``ann``): minutes for 10^5..10^6 vectors, so it is saved with the index."""
        from usearch.index import Index

        dtype = {"none": "f32", "int8": "i8", "binary": "b1"}[self.quantization]
        index = Index(ndim=self.vectors.shape[1], metric=self._metric, dtype=dtype,
                      expansion_search=self.expansion_search)  # fmt: skip
        codes = self.vectors if self.codes is None else self.codes
        index.add(np.arange(len(codes), dtype=np.uint64), codes, log=False)
        return index

    # ------------------------------------------------------------------------------------------ search

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), each (queries, <= k), best first; scores are full-precision inner products."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if self.index is None and self.codes is None:
            return exact_search(self.vectors, queries, k)
        keys, counts = self.candidates(queries, k * self.rescore_multiplier)
        return self._rescore(queries, keys, counts, k)

    def candidates(self, queries: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, found): up to `count` nearest rows per query by the codes / graph, not rescored; row q
        holds `found[q]` valid keys. Quantized or ANN searchers only."""
        from usearch.index import search as brute_force

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        want = min(len(self.vectors), count)
        codes = queries if self.quantization == "none" else quantize(queries, self.quantization, self.ranges)
        if self.index is not None:
            matches = self.index.search(codes, count=want)
        else:
            matches = brute_force(self.codes, codes, want, self._metric, exact=True)
        keys = np.atleast_2d(np.asarray(matches.keys)).astype(np.int64)
        return keys, np.reshape(getattr(matches, "counts", keys.shape[1]), -1)

    def _rescore(
        self, queries: np.ndarray, keys: np.ndarray, counts: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        width = min(k, keys.shape[1])
        rows = np.full((len(queries), width), -1, dtype=np.int64)
        scores = np.full((len(queries), width), -np.inf, dtype=np.float32)
        for q, (query, count) in enumerate(zip(queries, counts, strict=True)):
            candidates = keys[q, : int(count)]
            if not len(candidates):
                continue
            exact = self.vectors[candidates] @ query
            order = np.lexsort((candidates, -exact))[:width]
            rows[q, : len(order)] = candidates[order]
            scores[q, : len(order)] = exact[order]
        return rows, scores

    # -------------------------------------------------------------------------------------- persistence

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write the search index (and int8 ranges) atomically into ``folder``."""
        folder = Path(folder)
        for name in (_INDEX_FILE, _RANGES_FILE):
            (folder / name).unlink(missing_ok=True)
        if self.index is not None:
            atomic_write_bytes(folder / _INDEX_FILE, bytes(self.index.save()))
        if self.ranges is not None:
            import io

            buffer = io.BytesIO()
            np.save(buffer, self.ranges)
            atomic_write_bytes(folder / _RANGES_FILE, buffer.getvalue())

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike[str],
        vectors: np.ndarray,
        quantization: Quantization,
        *,
        ann: bool,
        rescore_multiplier: int | None = None,
    ) -> VectorSearcher:
        """The searcher saved in ``folder`` over ``vectors``; rebuilt when its files are missing or stale."""
        from usearch.index import Index

        folder = Path(folder)
        ranges = np.load(folder / _RANGES_FILE) if (folder / _RANGES_FILE).exists() else None
        index = None
        if (folder / _INDEX_FILE).exists():
            index = Index.restore(str(folder / _INDEX_FILE))
            if index is None or len(index) != len(vectors):
                logger.warning("search index in %s is stale; rebuilding it", folder)
                index = None
        return cls(
            vectors, quantization, ann=ann, rescore_multiplier=rescore_multiplier, ranges=ranges, index=index
        )
