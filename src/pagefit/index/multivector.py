"""Multi-vector search: a fast first stage over one small vector per page, exact MaxSim on its candidates.

Exhaustive MaxSim touches every stored vector of every page for every query; on 100k pages that is
seconds per query on a CPU. `MultiVectorIndex` keeps, beside the pages' token vectors
(`MultiVectorPages`, float16 on disk, memory-mapped), one first-stage vector per page:

* ``mean``: the normalised mean of the page's vectors, scored against the sum of the query's vectors
  (``sum_i <q_i, mean(p)>``, a lower bound of MaxSim up to scale);
* ``muvera``: a MUVERA fixed-dimensional encoding (Dhulipala et al., 2024): SimHash buckets of the
  (projected) vectors, per-bucket sums for queries and per-bucket means for pages, so that one dot
  product approximates MaxSim.

A search scores all first-stage vectors with one matrix product, takes the best ``candidates``
pages, and ranks those by exact MaxSim (`pagefit.evaluation.maxsim`); ``search_exhaustive`` is the
reference. ``benchmarks/multivector.py`` measures recall@10 against it and the speed-up.

Layout of a saved index (``save``/``load``): ``pages.vectors.npy`` and ``pages.offsets.npy`` (the token
vectors), ``first_stage.npy`` (float32, one row per page) and ``multivector_index.json`` (settings,
counts, vectors and bytes per page, and the MUVERA seed from which its random projections are rebuilt).
`MultiVectorSearcher` is what `pagefit index`/`search` keep in ``INDEX/multivector/``: those files plus
``page_ids.json``, searched through the same interface as the single-vector `VectorSearcher`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pagefit._io import atomic_write_bytes, atomic_write_json
from pagefit.errors import PagefitError
from pagefit.evaluation.maxsim import maxsim_scores
from pagefit.multivector_embeddings import MultiVectorPages

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.modules import BaseTokenPooling

__all__ = ["MULTIVECTOR_DIR", "FirstStage", "MultiVectorIndex", "MultiVectorSearcher", "Muvera", "SearchHits"]

FirstStage = Literal["mean", "muvera"]
_META = "multivector_index.json"
_FORMAT = "pagefit-multivector-index-1"
MULTIVECTOR_DIR = "multivector"
"""The `MultiVectorIndex` of a `pagefit index` folder built with a multi-vector model."""
_PAGE_IDS = "page_ids.json"


@dataclass(frozen=True)
class Muvera:
    """MUVERA fixed-dimensional encoding: ``repetitions`` x 2**``bits`` buckets x ``projection`` dims."""

    repetitions: int = 8
    bits: int = 3
    projection: int = 32
    seed: int = 0

    @property
    def dim(self) -> int:
        return self.repetitions * (2**self.bits) * self.projection

    def _randoms(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        planes = rng.standard_normal((self.repetitions, dim, self.bits)).astype(np.float32)
        signs = rng.choice([-1.0, 1.0], size=(self.repetitions, dim, self.projection)).astype(np.float32)
        return planes, (signs / np.sqrt(self.projection)).astype(np.float32)

    def _buckets(self, vectors: np.ndarray, planes: np.ndarray) -> np.ndarray:
        bits = (vectors @ planes) > 0  # (n, bits)
        return (bits * (1 << np.arange(self.bits))).sum(axis=1)

    def encode_queries(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        """One FDE per query: per repetition and bucket, the sum of its projected vectors."""
        dim = queries[0].shape[1]
        planes, signs = self._randoms(dim)
        out = np.zeros((len(queries), self.dim), dtype=np.float32)
        width = (2**self.bits) * self.projection
        for i, q in enumerate(queries):
            q = np.asarray(q, dtype=np.float32)
            for r in range(self.repetitions):
                block = np.zeros((2**self.bits, self.projection), dtype=np.float32)
                np.add.at(block, self._buckets(q, planes[r]), q @ signs[r])
                out[i, r * width : (r + 1) * width] = block.ravel()
        return out

    def encode_pages(self, pages: MultiVectorPages, *, chunk: int = 4096) -> np.ndarray:
        """One FDE per page: per bucket the mean of its projected vectors; an empty bucket takes the
        mean of the page's vectors nearest to it in Hamming distance (MUVERA's empty-bucket filling)."""
        planes, signs = self._randoms(pages.dim)
        n_buckets = 2**self.bits
        codes = np.arange(n_buckets)
        hamming = np.array([[bin(a ^ b).count("1") for b in codes] for a in codes])  # (buckets, buckets)
        out = np.zeros((len(pages), self.dim), dtype=np.float32)
        for start in range(0, len(pages), chunk):
            stop = min(start + chunk, len(pages))
            lo, hi = pages.offsets[start], pages.offsets[stop]
            vectors = np.asarray(pages.vectors[lo:hi], dtype=np.float32)
            owner = np.repeat(np.arange(stop - start), np.diff(pages.offsets[start : stop + 1]))
            for r in range(self.repetitions):
                out[start:stop, r * n_buckets * self.projection : (r + 1) * n_buckets * self.projection] = (
                    self._page_block(vectors, owner, stop - start, planes[r], signs[r], hamming)
                )
        return out

    def _page_block(
        self,
        vectors: np.ndarray,
        owner: np.ndarray,
        n_pages: int,
        planes: np.ndarray,
        signs: np.ndarray,
        hamming: np.ndarray,
    ) -> np.ndarray:
        import torch

        n_buckets = 2**self.bits
        bucket = self._buckets(vectors, planes)
        projected = torch.from_numpy(np.ascontiguousarray(vectors @ signs))
        # distance of every vector to every bucket; per (page, bucket) keep the nearest vectors
        distance = torch.from_numpy(hamming[bucket]).long()  # (n, buckets)
        cell = torch.from_numpy(owner).long()[:, None] * n_buckets + torch.arange(n_buckets)  # (n, buckets)
        nearest = torch.full((n_pages * n_buckets,), 1 << 30, dtype=torch.long)
        nearest.scatter_reduce_(0, cell.ravel(), distance.ravel(), reduce="amin")
        rows, cols = torch.nonzero(distance == nearest[cell], as_tuple=True)  # 0: in the bucket, else fill
        target = cell[rows, cols]
        sums = torch.zeros(n_pages * n_buckets, self.projection).index_add_(0, target, projected[rows])
        counts = torch.zeros(n_pages * n_buckets).index_add_(0, target, torch.ones(len(target)))
        return (sums / counts.clamp(min=1)[:, None]).reshape(n_pages, -1).numpy()


@dataclass
class SearchHits:
    """Page indices (best first) and their exact MaxSim scores, one row per query."""

    indices: np.ndarray
    scores: np.ndarray


class MultiVectorIndex:
    """Token vectors of a page set, a first-stage vector per page, and two-stage MaxSim search.

    Build it with `MultiVectorIndex.build` from `MultiVectorPages` (e.g. the output of
    `pagefit.multivector_embeddings.encode_multivector_pages`), search with token vectors of queries
    (`encode_multivector_queries`). Page numbers are positions in the page set: the caller keeps the
    page ids.
    """

    def __init__(
        self,
        pages: MultiVectorPages,
        first_stage_vectors: np.ndarray,
        *,
        first_stage: FirstStage = "mean",
        muvera: Muvera | None = None,
        pooling: dict[str, Any] | None = None,
    ) -> None:
        if len(first_stage_vectors) != len(pages):
            raise ValueError(f"{len(first_stage_vectors)} first-stage vectors for {len(pages)} pages")
        self.pages = pages
        self.first_stage_vectors = np.ascontiguousarray(first_stage_vectors, dtype=np.float32)
        self.first_stage = first_stage
        self.muvera = muvera if first_stage == "muvera" else None
        self.pooling = pooling or {}

    @classmethod
    def build(
        cls,
        pages: MultiVectorPages | Sequence[np.ndarray],
        *,
        first_stage: FirstStage = "mean",
        muvera: Muvera | None = None,
        token_pooling: BaseTokenPooling | None = None,
        dtype: Any = np.float16,
    ) -> MultiVectorIndex:
        """Index a page set.

        Args:
            pages: the pages' token vectors.
            first_stage: ``mean`` or ``muvera`` (see the module docs).
            muvera: MUVERA settings (default `Muvera()`).
            token_pooling: a Sentence Transformers token pooling (e.g. ``HierarchicalTokenPooling(2)``,
                or a ``LambdaTokenPooling``) applied to the page vectors before they are stored.
            dtype: stored dtype of the token vectors (float16 halves storage; scoring is float32).
        """
        if not isinstance(pages, MultiVectorPages):
            pages = MultiVectorPages.from_list(list(pages))
        pooling: dict[str, Any] = {}
        if token_pooling is not None:
            before = pages.vectors_per_page()
            pages = _pool(pages, token_pooling)
            pooling = {"class": type(token_pooling).__name__, "vectors_per_page_before": round(before, 2),
                       "vectors_per_page_after": round(pages.vectors_per_page(), 2)}  # fmt: skip
        stored = MultiVectorPages(np.ascontiguousarray(pages.vectors, dtype=dtype), pages.offsets)
        if first_stage == "mean":
            vectors = _page_means(stored)
        elif first_stage == "muvera":
            muvera = muvera or Muvera()
            vectors = muvera.encode_pages(stored)
        else:
            raise PagefitError(f"unknown first stage {first_stage!r}: choose mean or muvera")
        return cls(stored, vectors, first_stage=first_stage, muvera=muvera, pooling=pooling)

    def __len__(self) -> int:
        return len(self.pages)

    @property
    def vectors_per_page(self) -> float:
        return self.pages.vectors_per_page()

    @property
    def bytes_per_page(self) -> float:
        """Token vectors plus the first-stage vector, per page."""
        first = self.first_stage_vectors.shape[1] * self.first_stage_vectors.dtype.itemsize
        return self.pages.bytes_per_page() + first

    def first_stage_scores(self, queries: Sequence[np.ndarray]) -> np.ndarray:
        """(queries, pages) first-stage scores."""
        if self.first_stage == "muvera":
            encoded = self.muvera.encode_queries(queries)
        else:
            encoded = np.stack([np.asarray(q, dtype=np.float32).sum(axis=0) for q in queries])
        return encoded @ self.first_stage_vectors.T

    def search(self, queries: Sequence[np.ndarray], *, k: int = 10, candidates: int = 200) -> SearchHits:
        """Top ``k`` pages per query: the first stage's best ``candidates``, reranked by exact MaxSim."""
        candidates = max(min(candidates, len(self)), min(k, len(self)))
        first = self.first_stage_scores(queries)
        top = np.argpartition(-first, candidates - 1, axis=1)[:, :candidates]
        indices, scores = [], []
        for query, pool in zip(queries, top, strict=True):
            exact = maxsim_scores([query], self.pages, indices=pool)[0]
            best = np.lexsort((pool, -exact))[:k]  # score desc, then page ascending
            indices.append(pool[best])
            scores.append(exact[best])
        return SearchHits(np.asarray(indices), np.asarray(scores, dtype=np.float32))

    def search_exhaustive(self, queries: Sequence[np.ndarray], *, k: int = 10) -> SearchHits:
        """Top ``k`` pages per query by exact MaxSim over every page (the reference)."""
        exact = maxsim_scores(list(queries), self.pages)
        best = np.argsort(-exact, axis=1, kind="stable")[:, :k]  # ties: page ascending
        return SearchHits(best, np.take_along_axis(exact, best, axis=1))

    def save(self, folder: str | os.PathLike[str]) -> Path:
        folder = Path(folder)
        self.pages.save(folder, "pages")
        buffer = io.BytesIO()
        np.save(buffer, self.first_stage_vectors)
        atomic_write_bytes(folder / "first_stage.npy", buffer.getvalue())
        meta = {
            "format": _FORMAT,
            "first_stage": self.first_stage,
            "muvera": asdict(self.muvera) if self.muvera else None,
            "pages": len(self),
            "dim": self.pages.dim,
            "dtype": str(self.pages.vectors.dtype),
            "vectors_per_page": round(self.vectors_per_page, 2),
            "bytes_per_page": round(self.bytes_per_page, 1),
            "token_pooling": self.pooling or None,
        }
        atomic_write_json(folder / _META, meta)  # last: a folder with it is complete
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, mmap: bool = True) -> MultiVectorIndex:
        folder = Path(folder)
        try:
            meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PagefitError(f"{folder} is not a multi-vector index (no readable {_META})") from e
        if meta.get("format") != _FORMAT:
            raise PagefitError(f"{folder}: unknown multi-vector index format {meta.get('format')!r}")
        pages = MultiVectorPages.load(folder, "pages", mmap=mmap)
        muvera = Muvera(**meta["muvera"]) if meta.get("muvera") else None
        return cls(pages, np.load(folder / "first_stage.npy"), first_stage=meta["first_stage"], muvera=muvera,
                   pooling=meta.get("token_pooling"))  # fmt: skip


class MultiVectorSearcher:
    """`pagefit search`'s view of a multi-vector index: `VectorSearcher.search`'s interface (rows and
    scores, best first) over a `MultiVectorIndex` whose page ``i`` is ``page_ids[i]``.

    Saved in ``INDEX/multivector/``: the `MultiVectorIndex` files plus ``page_ids.json``.
    """

    def __init__(self, index: MultiVectorIndex, page_ids: Sequence[str], *, candidates: int = 300) -> None:
        if len(page_ids) != len(index):
            raise ValueError(f"{len(page_ids)} page ids for {len(index)} pages")
        self.index = index
        self.page_ids = list(page_ids)
        self.candidates = candidates

    def search(self, queries: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), each (queries, <= k), best first; scores are exact MaxSim."""
        if not len(self.index):
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        hits = self.index.search(queries, k=k, candidates=max(self.candidates, k))
        return hits.indices.astype(np.int64), hits.scores.astype(np.float32)

    def save(self, folder: str | os.PathLike[str]) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / _META).unlink(missing_ok=True)  # incomplete until the index's own metadata is written
        atomic_write_json(folder / _PAGE_IDS, self.page_ids)
        self.index.save(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, candidates: int = 300) -> MultiVectorSearcher | None:
        """The searcher saved in ``folder`` (memory-mapped), or None when it is missing or unreadable."""
        folder = Path(folder)
        try:
            page_ids = json.loads((folder / _PAGE_IDS).read_text(encoding="utf-8"))
            return cls(MultiVectorIndex.load(folder), page_ids, candidates=candidates)
        except (OSError, ValueError, KeyError, PagefitError):
            return None


def _page_means(pages: MultiVectorPages, chunk: int = 65536) -> np.ndarray:
    """Normalised mean vector of every page (zero for a page without vectors)."""
    out = np.zeros((len(pages), pages.dim), dtype=np.float32)
    for start in range(0, len(pages), chunk):
        stop = min(start + chunk, len(pages))
        offsets = pages.offsets[start : stop + 1]
        vectors = np.asarray(pages.vectors[offsets[0] : offsets[-1]], dtype=np.float32)
        filled = np.diff(offsets) > 0
        if vectors.size:
            sums = np.add.reduceat(vectors, (offsets[:-1] - offsets[0])[filled], axis=0)
            out[start:stop][filled] = sums
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)  # the mean's direction
    return out


def _pool(pages: MultiVectorPages, pooling: BaseTokenPooling) -> MultiVectorPages:
    import torch

    pooled = pooling.pool(
        [torch.from_numpy(np.array(p, dtype=np.float32)) for p in pages.pages(range(len(pages)))]
    )
    return MultiVectorPages.from_list([p.numpy() for p in pooled], dim=pages.dim)
