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

__all__ = ["PageWindows", "PassageConfig", "encode_windows", "page_windows", "passage_scores", "reads_text"]

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
    n_pages: int


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
    batch_size: int = 32,
    cache: bool = True,
) -> PageWindows:
    """Full-dimension embeddings of the windows of every page longer than one window, in page order
    (cache misses encoded). A page that fits in one window gets none: its one window would be the text
    its page vector reads, so its best window score is its page score (see `passage_scores`)."""
    import numpy as np

    from pagefit.embeddings import EmbeddingCache, _full_dim, full_dimension
    from pagefit.embeddings import _text_reader as text_reader
    from pagefit.models import model_fingerprint

    reader = text_reader(model)
    if reader is None:
        raise PagefitError(
            "passage scoring needs a model that reads pages as text (e.g. ocr-minilm); this one reads pixels"
        )
    texts = reader.page_texts(list(images))
    windows: list[str] = []
    owner: list[int] = []
    for page, text in enumerate(texts):
        cut = page_windows(text, config.words, config.stride)
        if len(cut) < 2:  # the page fits in one window: its page vector already reads all of it
            continue
        for window in cut:
            windows.append(window)
            owner.append(page)
    with full_dimension(model):
        dim = _full_dim(model, "dimension probe")
        if not windows:
            return PageWindows(np.zeros((0, dim), np.float32), np.zeros(0, np.int64), len(texts))
        keys = ["window-" + hashlib.sha256(w.encode("utf-8")).hexdigest()[:40] for w in windows]
        unique = list(dict.fromkeys(keys))
        store = EmbeddingCache(model_fingerprint(model), dim) if cache else None
        if store is not None:
            rows, found = store.get(unique)
        else:
            rows, found = np.zeros((len(unique), dim), np.float32), np.zeros(len(unique), bool)
        missing = [i for i, hit in enumerate(found) if not hit]
        if missing:
            text_of = dict(zip(keys, windows, strict=True))
            logger.info(
                "encoding %d of %d page windows (%d cached)",
                len(missing),
                len(unique),
                len(unique) - len(missing),
            )
            encoded = np.asarray(
                model.encode_document([text_of[unique[i]] for i in missing], batch_size=batch_size,
                                      convert_to_numpy=True, show_progress_bar=False),
                dtype=np.float32,
            )  # fmt: skip
            rows[missing] = encoded
            if store is not None:
                store.put([unique[i] for i in missing], encoded)
        position = {key: i for i, key in enumerate(unique)}
        embeddings = rows[[position[key] for key in keys]]
    return PageWindows(embeddings, np.asarray(owner, dtype=np.int64), len(texts))


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
