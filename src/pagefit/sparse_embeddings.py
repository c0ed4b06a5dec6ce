"""Learned-sparse (SPLADE-style) embeddings of pages and queries: a `SparseEncoder` on the text route.

A Sentence Transformers `SparseEncoder` (SPLADE, MLM head + `SpladePooling`) reads text only; pagefit gives
it pages through the text route (`pagefit.models.page_text`), exactly as a dense text model: each page is
the corpus ``text`` of its image, with the model's document prompt; queries go through
``encode_query``. Its vectors live in vocabulary space (30k dimensions, a few hundred non-zero), so they are
kept as `scipy.sparse.csr_matrix` rows (float32), never densified per page, and scored with the model's own
similarity (dot product for SPLADE).

Like BM25, a sparse model scores only pages sharing an (expanded) term with the query: a page with score
0 was not retrieved (`pagefit.evaluation.fusion.sparse_as_retrieved`), which is why it can stand where
BM25 stands in a hybrid (`eval --hybrid`: ``hybrid(SPARSE+DENSE)`` entries).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse
    from sentence_transformers import SparseEncoder

__all__ = [
    "encode_sparse_pages",
    "encode_sparse_queries",
    "is_sparse",
    "sparse_bytes_per_page",
    "sparse_scores",
    "to_csr",
]

_CHUNK = 256  # pages per encode call: the torch sparse batch is converted before the next one


def is_sparse(model: Any) -> bool:
    """Whether `model` is a Sentence Transformers `SparseEncoder` (never imports it for other models)."""
    import sys

    module = sys.modules.get("sentence_transformers.sparse_encoder.model")
    return module is not None and isinstance(model, module.SparseEncoder)


def to_csr(embeddings: Any, dim: int | None = None) -> sparse.csr_matrix:
    """A (rows, vocabulary) float32 CSR matrix from a torch sparse COO tensor (or a dense array)."""
    from scipy import sparse

    if hasattr(embeddings, "is_sparse") and embeddings.is_sparse:
        coo = embeddings.detach().coalesce().cpu()
        rows, cols = coo.indices().numpy()
        values = coo.values().float().numpy()
        return sparse.csr_matrix((values, (rows, cols)), shape=tuple(coo.shape), dtype=np.float32)
    dense = embeddings.detach().cpu().numpy() if hasattr(embeddings, "detach") else np.asarray(embeddings)
    return sparse.csr_matrix(np.asarray(dense, dtype=np.float32).reshape(len(dense), dim or -1))


def encode_sparse_pages(
    model: SparseEncoder,
    images: Sequence[Any],
    *,
    batch_size: int = 8,
    show_progress: bool = True,
) -> sparse.csr_matrix:
    """(pages, vocabulary) sparse page vectors, in input order (``encode_document`` through the text route).

    Args:
        model: a SparseEncoder that reads pages through their text (`require_modality(model, "image")`).
        images: page image file paths (or PIL images).
        batch_size: pages per forward pass.
        show_progress: a progress bar over the chunks.
    """
    from scipy import sparse
    from tqdm.auto import tqdm

    images = [os.fspath(i) if isinstance(i, os.PathLike) else i for i in images]
    parts = []
    with tqdm(
        total=len(images), desc="Encoding pages (sparse)", unit="page", disable=not show_progress
    ) as bar:
        for start in range(0, len(images), _CHUNK):
            chunk = images[start : start + _CHUNK]
            parts.append(
                to_csr(model.encode_document(chunk, batch_size=batch_size, convert_to_sparse_tensor=True))
            )
            bar.update(len(chunk))
    if not parts:
        return sparse.csr_matrix((0, _vocabulary(model)), dtype=np.float32)
    return sparse.vstack(parts, format="csr", dtype=np.float32)


def encode_sparse_queries(
    model: SparseEncoder, texts: Sequence[str], *, batch_size: int = 32
) -> sparse.csr_matrix:
    """(queries, vocabulary) sparse query vectors (``encode_query``: the model's query prompt)."""
    from scipy import sparse

    if not texts:
        return sparse.csr_matrix((0, _vocabulary(model)), dtype=np.float32)
    return to_csr(model.encode_query(list(texts), batch_size=batch_size, convert_to_sparse_tensor=True))


def sparse_scores(model: Any, queries: sparse.csr_matrix, pages: sparse.csr_matrix) -> np.ndarray:
    """(queries, pages) float32 scores with the model's similarity: dot product (SPLADE), or cosine."""
    similarity = getattr(model, "similarity_fn_name", None) or "dot"
    if similarity == "cosine":
        queries, pages = _unit_rows(queries), _unit_rows(pages)
    elif similarity != "dot":
        from pagefit.errors import PagefitError

        raise PagefitError(f"sparse models are scored by dot product or cosine, not {similarity!r}")
    return np.asarray((queries @ pages.T).toarray(), dtype=np.float32)


def sparse_bytes_per_page(pages: sparse.csr_matrix) -> float:
    """Stored bytes per page: each non-zero is a float32 value and an int32 vocabulary index."""
    return float(pages.nnz * (4 + 4) / max(1, pages.shape[0]))


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    from scipy import sparse

    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ matrix


def _vocabulary(model: Any) -> int:
    """The model's output size (its vocabulary for SPLADE)."""
    dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else None
    return int(dim or 0)
