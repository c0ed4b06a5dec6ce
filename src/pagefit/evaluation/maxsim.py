"""Exact MaxSim scoring of every page for every query, batched over pages to bound memory.

MaxSim (ColBERT): ``score(q, p) = sum_i max_j <q_i, p_j>`` over the query's token vectors ``q_i``
and the page's vectors ``p_j``. The arithmetic is Sentence Transformers'
(`sentence_transformers.util.similarity.maxsim`, which also chunks its own intermediates); this
module feeds it a `MultiVectorPages` set a batch of pages at a time, so only one padded batch is in
memory (and the rest may stay memory-mapped on disk): 10k pages x 1k vectors x 128 dims in float32
(5 GB) score in batches of ~64 MB.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pagefit.multivector_embeddings import MultiVectorPages

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_BATCH_ELEMENTS",
    "MultiVectorScores",
    "maxsim_scores",
    "pad_vectors",
    "score_multivector_model",
]

logger = logging.getLogger(__name__)

DEFAULT_BATCH_ELEMENTS = 16_000_000
"""Page values (vectors x dim, padded) scored per batch: 64 MB in float32."""


def pad_vectors(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """A right-padded float32 ``(n, max_len, dim)`` tensor and its boolean ``(n, max_len)`` mask."""
    import torch

    tensors = [torch.from_numpy(np.array(a, dtype=np.float32)) for a in arrays]  # copies a memmap batch
    padded = torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)
    lengths = torch.as_tensor([len(t) for t in tensors])
    mask = torch.arange(padded.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    return padded, mask


def _padded_batch(pages: MultiVectorPages, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """`pad_vectors` of some pages of a set, gathered in one indexing step (no per-page copies)."""
    import torch

    lengths = pages.lengths[batch]
    width = max(int(lengths.max()), 1)
    mask = np.arange(width)[None, :] < lengths[:, None]
    rows = (pages.offsets[batch][:, None] + np.arange(width)[None, :])[mask]
    padded = np.zeros((len(batch), width, pages.dim), dtype=np.float32)
    padded[mask] = pages.vectors[rows]
    return torch.from_numpy(padded), torch.from_numpy(mask)


def _page_batches(
    lengths: np.ndarray, dim: int, page_batch: int | None, max_elements: int
) -> list[np.ndarray]:
    """Page index batches: pages sorted by length (little padding), each under the element budget."""
    order = np.argsort(lengths, kind="stable")
    if page_batch:
        return [order[i : i + page_batch] for i in range(0, len(order), page_batch)]
    batches: list[np.ndarray] = []
    current: list[int] = []
    for index in order:  # ascending lengths: the page added last is the widest of its batch
        width = max(int(lengths[index]), 1)
        if current and (len(current) + 1) * width * dim > max_elements:
            batches.append(np.asarray(current))
            current = []
        current.append(int(index))
    if current:
        batches.append(np.asarray(current))
    return batches


def maxsim_scores(
    queries: Sequence[np.ndarray],
    pages: MultiVectorPages | Sequence[np.ndarray],
    *,
    indices: Sequence[int] | np.ndarray | None = None,
    page_batch: int | None = None,
    max_elements: int = DEFAULT_BATCH_ELEMENTS,
    device: str | None = None,
) -> np.ndarray:
    """Exact MaxSim of every page for every query.

    Args:
        queries: each query's ``(n_tokens, dim)`` vectors.
        pages: a `MultiVectorPages` set (may be memory-mapped) or a list of ``(n_vectors, dim)`` arrays.
        indices: score only these pages (e.g. a first stage's candidates); columns follow their order.
        page_batch: pages per batch; default: as many as fit in ``max_elements`` padded values.
        max_elements: padded page values per batch (memory bound of the page side).
        device: torch device to score on (default CPU).

    Returns:
        float32 ``(queries, pages)`` (or ``(queries, indices)``) scores, equal to `colbert_scores` of
        the same vectors.
    """
    import torch
    from sentence_transformers.util.similarity import maxsim

    if not isinstance(pages, MultiVectorPages):
        pages = MultiVectorPages.from_list(list(pages), dim=queries[0].shape[1] if len(queries) else None)
    subset = np.arange(len(pages)) if indices is None else np.asarray(indices, dtype=np.int64)
    scores = np.zeros((len(queries), len(subset)), dtype=np.float32)
    if not len(queries) or not len(subset):
        return scores
    q, q_mask = pad_vectors(queries)
    if device is not None:
        q, q_mask = q.to(device), q_mask.to(device)
    for batch in _page_batches(pages.lengths[subset], pages.dim, page_batch, max_elements):
        p, p_mask = _padded_batch(pages, subset[batch])
        if device is not None:
            p, p_mask = p.to(device), p_mask.to(device)
        with torch.inference_mode():
            block = maxsim(q, p, a_mask=q_mask, b_mask=p_mask)
        scores[:, batch] = block.float().cpu().numpy()
    return scores


@dataclass
class MultiVectorScores:
    """What `pagefit eval` needs of a multi-vector model: scores, timings and storage."""

    scores: np.ndarray
    timing: dict[str, float]
    dim: int
    vectors_per_page: float
    bytes_per_page: float


def score_multivector_model(
    model: Any,
    image_paths: Sequence[str],
    keys: Sequence[str] | None,
    query_texts: Sequence[str],
    *,
    batch_size: int = 16,
    show_progress: bool = True,
    token_pooling: float | None = None,
) -> MultiVectorScores:
    """Encode pages (through the multi-vector cache) and queries, then score every page by MaxSim.

    ``token_pooling``: pool the page vectors by this hierarchical pooling factor first (as
    `pagefit index --token-pooling` stores them); refused for a model that already pools its pages.
    """
    from pagefit.errors import PagefitError
    from pagefit.multivector_embeddings import (
        encode_multivector_pages,
        encode_multivector_queries,
        model_pools_pages,
        pool_token_vectors,
    )

    timing: dict[str, float] = {}
    pool = token_pooling is not None and token_pooling > 1
    if pool and model_pools_pages(model):
        raise PagefitError(
            "a model that already pools its page vectors (baked in by train) takes no --token-pooling"
        )
    start = time.perf_counter()
    pages = encode_multivector_pages(
        model, image_paths, keys=keys, batch_size=batch_size, show_progress=show_progress
    )
    if pool:
        pages = pool_token_vectors(pages, token_pooling)
    timing["encode_pages"] = time.perf_counter() - start
    start = time.perf_counter()
    queries = encode_multivector_queries(model, query_texts)
    timing["encode_queries"] = time.perf_counter() - start
    start = time.perf_counter()
    scores = maxsim_scores(queries, pages)
    timing["search"] = time.perf_counter() - start
    return MultiVectorScores(
        scores=scores,
        timing=timing,
        dim=pages.dim,
        vectors_per_page=round(pages.vectors_per_page(), 2),
        # stored size as `pagefit index` keeps token vectors (float16), not the float32 scored here
        bytes_per_page=round(pages.bytes_per_page(np.dtype(np.float16).itemsize), 1),
    )
