"""Passage scoring for models that read pages as text: the page vector and its best passage, together.

A model such as `ocr-minilm` embeds the first 256 tokens of a page; a dense manual page holds several
times that, and one vector averages whatever it reads. Passage scoring adds what the best-matching part
of the page says: the page's text (the cleaned text the model itself reads) is cut into windows of
`words` words every `stride` words, each window is embedded as a document, and a page scores

    weight * sim(query, page vector) + (1 - weight) * max over windows sim(query, window)

the page-level first passage mixed with the best passage (FirstP and MaxP of passage-level document
ranking). Measured on `devset/` (220 real pages through OCR, 126 hand-written queries, NDCG@10,
`pagefit eval --passages`), the road's finetuned `ocr-minilm`: 0.826 -> 0.86; the untrained model
gains the same way. Window embeddings are cached like page embeddings, keyed by the model's
fingerprint and the window's text, so a changed page text never serves a stale window.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import SentenceTransformer

__all__ = [
    "PageWindows",
    "PassageConfig",
    "encode_windows",
    "page_windows",
    "passage_scores",
    "reads_text",
    "score_pages",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassageConfig:
    """How pages are cut into passages and how much the page vector counts against the best passage."""

    words: int = 100
    stride: int = 75
    weight: float = 0.5  # of the page vector; 1 - weight goes to the best window

    def __post_init__(self) -> None:
        if self.words < 1 or not 1 <= self.stride <= self.words:
            raise PagefitError(
                f"passages need words >= 1 and 1 <= stride <= words (got {self.words}, {self.stride})"
            )
        if not 0.0 <= self.weight <= 1.0:
            raise PagefitError(
                f"the page-vector weight of passage scoring must lie in [0, 1] (got {self.weight})"
            )

    def as_dict(self) -> dict[str, Any]:
        return {"words": self.words, "stride": self.stride, "weight": self.weight}


@dataclass
class PageWindows:
    """Window embeddings of a list of pages: row `i` belongs to page `owner[i]`."""

    embeddings: np.ndarray  # (windows, dim) float32
    owner: np.ndarray  # (windows,) int64 page positions


def page_windows(text: str, words: int = 100, stride: int = 75) -> list[str]:
    """The page's text as windows of `words` words every `stride` words (the last one reaches the end).

    A page shorter than one window is one window; an empty page has none.
    """
    tokens = text.split()
    if not tokens:
        return []
    if len(tokens) <= words:
        return [" ".join(tokens)]
    starts = list(range(0, len(tokens) - words + 1, stride))
    if starts[-1] + words < len(tokens):
        starts.append(len(tokens) - words)
    return [" ".join(tokens[s : s + words]) for s in starts]


def reads_text(model: SentenceTransformer) -> bool:
    """Whether the model reads page images as text (an `OcrText` route), so passages can be cut."""
    from pagefit.embeddings import _text_reader

    return _text_reader(model) is not None


def encode_windows(
    model: SentenceTransformer,
    images: Sequence[Any],
    config: PassageConfig,
    *,
    keys: Sequence[str] | None = None,
    batch_size: int = 32,
    cache: bool = True,
) -> PageWindows:
    """Full-dimension embeddings of the windows of every page longer than one window, in page order
    (cache misses encoded). A page that fits in one window gets none: its one window would be the text
    its page vector reads, so its best window score is its page score (see `passage_scores`).

    Args:
        keys: the pages' content hashes (the corpus `image_hash` column): their texts are then read from
            the text cache without decoding the images.
        cache: read and write the embedding cache (off for a model that will not be used again, such
            as an intermediate checkpoint: every window is encoded and nothing is stored or looked up).
    """
    import numpy as np

    from pagefit.embeddings import EmbeddingCache, _full_dim, cached_rows, full_dimension
    from pagefit.embeddings import _text_reader as text_reader
    from pagefit.models import model_fingerprint

    reader = text_reader(model)
    if reader is None:
        raise PagefitError(
            "passage scoring needs a model that reads pages as text (e.g. ocr-minilm); this one reads pixels"
        )
    windows: list[str] = []
    owner: list[int] = []
    for page, text in enumerate(reader.page_texts(list(images), keys)):
        cut = page_windows(text, config.words, config.stride)
        if len(cut) > 1:  # a page that fits in one window: its page vector already reads all of it
            windows += cut
            owner += [page] * len(cut)
    with full_dimension(model):
        dim = _full_dim(model, "dimension probe")
        if not windows:
            return PageWindows(np.zeros((0, dim), np.float32), np.zeros(0, np.int64))
        store = EmbeddingCache(model_fingerprint(model), dim) if cache else None

        def encode(miss_keys: list[str], texts: list[str]) -> np.ndarray:
            rows = model.encode_document(
                texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
            )
            rows = np.asarray(rows, dtype=np.float32).reshape(len(texts), dim)
            if store is not None:
                store.put(miss_keys, rows)
            return rows

        window_keys = ["window-" + hashlib.sha256(w.encode("utf-8")).hexdigest()[:40] for w in windows]
        embeddings = cached_rows(store, window_keys, windows, encode, what="page windows")
    return PageWindows(embeddings, np.asarray(owner, dtype=np.int64))


def passage_scores(
    page_scores: np.ndarray, window_scores: np.ndarray, owner: np.ndarray, weight: float
) -> np.ndarray:
    """Mix (queries, pages) page-vector scores with each page's best window score.

    Args:
        page_scores: (queries, pages) similarities of the page vectors.
        window_scores: (queries, windows) similarities of the window vectors.
        owner: (windows,) page position of each window.
        weight: share of the page vector; a page without windows keeps its page score.
    """
    import numpy as np

    best = page_scores.astype(np.float32, copy=True)  # no window: the page vector stands for the page
    if window_scores.shape[1]:
        per_page = np.full(page_scores.shape, -np.inf, dtype=np.float32)
        order = np.argsort(owner, kind="stable")
        sorted_owner = owner[order]
        starts = np.flatnonzero(np.r_[True, sorted_owner[1:] != sorted_owner[:-1]])
        maxima = np.maximum.reduceat(window_scores[:, order], starts, axis=1)
        per_page[:, sorted_owner[starts]] = maxima
        has = np.isfinite(per_page)
        best = np.where(has, per_page, best)
    return (weight * page_scores + (1.0 - weight) * best).astype(np.float32)


def score_pages(
    model: SentenceTransformer,
    queries: np.ndarray,
    pages: np.ndarray,
    windows: PageWindows | None,
    dim: int,
    weight: float,
) -> np.ndarray:
    """(queries, pages) scores at `dim` of full-dimension embeddings: the page vectors' similarity, mixed
    with each page's best window (`passage_scores`) when `windows` are given. `pagefit eval` and
    `pagefit train`'s held-out evaluation both score through this, so they rank alike."""
    from pagefit.embeddings import similarity_scores

    scores = similarity_scores(model, queries[:, :dim], pages[:, :dim])
    if windows is None:
        return scores
    window_scores = similarity_scores(model, queries[:, :dim], windows.embeddings[:, :dim])
    return passage_scores(scores, window_scores, windows.owner, weight)
