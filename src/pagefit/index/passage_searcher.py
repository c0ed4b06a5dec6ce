"""Passage-scored search over an index's page and window vectors (`pagefit index --passages`).

A page scores as `pagefit eval --passages` scores it: ``weight * page + (1 - weight) * best``, where
``best`` is the page's best window (its page score when it has no window; `pagefit.passages`).

Exact (an index without quantization or ANN): every page and window vector is scanned, identical vectors
scored once so that twins tie bit for bit, as in eval. Quantized and/or ANN (`--quantize int8 --ann`): the
page vectors and the window vectors each have their own `VectorSearcher` (int8 codes, HNSW graph); a page
is a candidate when its page vector or one of its windows is among the `CANDIDATES_PER_RESULT * k` nearest
by the codes / graph, and every candidate is then scored exactly (its page vector and all its windows, full
precision). A page in the exact top k scores at least the k-th score through its page vector or through its
best window (the score is a mix of the two), so it is missed only when more vectors than asked for come
before it on both lists; `benchmarks/search.py` and `tests/test_index.py` measure the recall.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pagefit.index.vectors import VectorSearcher

__all__ = ["CANDIDATES_PER_RESULT", "PassageSearcher"]

# Candidates per wanted result from each list (page vectors, window vectors), taken from the int8 codes /
# HNSW graph unrescored (each candidate page is scored exactly afterwards). On test_index.py's set (4000
# pages, 0-5 noisy windows each, two seeds) recall@10 of the exact scan was 0.97-0.98 at 16, 0.99 at 24 and
# 0.998-1.0 at 32; more windows per wanted page (x the windows per page) only cost time.
CANDIDATES_PER_RESULT = 32


def _dot(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return queries @ rows.T


class PassageSearcher:
    """Top pages by passage score for one query at a time.

    Args:
        pages: the page vectors' searcher (its `vectors` are the full-precision truth).
        windows: the window vectors' searcher, quantized/ANN like `pages`.
        window_rows: (windows,) the page row of each window.
        weight: the page vector's share of the score.
        id_order: each page's position among the page ids sorted (the tie-breaker).
    """

    def __init__(
        self,
        pages: VectorSearcher,
        windows: VectorSearcher,
        window_rows: np.ndarray,
        weight: float,
        id_order: np.ndarray,
    ) -> None:
        self.pages, self.windows = pages, windows
        self.window_rows = np.asarray(window_rows, dtype=np.int64)
        self.weight = weight
        self.id_order = id_order
        # each page's windows: positions order[starts[p]:ends[p]] of the window vectors
        self._order = np.argsort(self.window_rows, kind="stable")
        sorted_rows = self.window_rows[self._order]
        n = len(pages.vectors)
        self._starts = np.searchsorted(sorted_rows, np.arange(n), side="left")
        self._ends = np.searchsorted(sorted_rows, np.arange(n), side="right")
        self._twins: tuple | None = None

    @property
    def exact(self) -> bool:
        """Whether every vector is scanned at full precision (no codes, no graph)."""
        return self.pages.codes is None and self.pages.index is None

    def search(self, query: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the top `depth` pages for one (1, dim) query, best first."""
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if self.exact:
            scores = self._exact_scores(query)
            order = np.lexsort((self.id_order, -scores))[:depth]
            return order, scores[order]
        candidates = self._candidates(query, depth)
        scores = self._candidate_scores(query[0], candidates)
        order = np.lexsort((self.id_order[candidates], -scores))[:depth]
        return candidates[order], scores[order]

    def _exact_scores(self, query: np.ndarray) -> np.ndarray:
        from pagefit.embeddings import distinct_rows, score_distinct_rows
        from pagefit.passages import passage_scores

        if self._twins is None:  # found once: identical vectors score bit-identically, as in eval
            self._twins = (distinct_rows(self.pages.vectors), distinct_rows(self.windows.vectors))
        pages = score_distinct_rows(_dot, query, self.pages.vectors, self._twins[0])
        windows = score_distinct_rows(_dot, query, self.windows.vectors, self._twins[1])
        return passage_scores(pages, windows, self.window_rows, self.weight)[0]

    def _candidates(self, query: np.ndarray, depth: int) -> np.ndarray:
        """Pages whose vector or one of whose windows is among the nearest by the codes / graphs (not
        rescored: every candidate is scored exactly afterwards)."""
        want = depth * CANDIDATES_PER_RESULT
        rows, found = self.pages.candidates(query, want)
        candidates = [rows[0, : int(found[0])]]
        if len(self.window_rows):
            hits, found = self.windows.candidates(query, want)
            candidates.append(self.window_rows[hits[0, : int(found[0])]])
        unique = np.unique(np.concatenate(candidates))
        return unique[unique >= 0]

    def _candidate_scores(self, query: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """The exact passage scores of `candidates` (full-precision page and window vectors)."""
        page = self.pages.vectors[candidates] @ query
        best = page.copy()
        starts, ends = self._starts[candidates], self._ends[candidates]
        has = ends > starts
        if has.any():
            counts = (ends - starts)[has]
            first = np.repeat(starts[has] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            windows = self.windows.vectors[self._order[first]] @ query
            best[has] = np.maximum.reduceat(windows, np.cumsum(counts) - counts)
        return (self.weight * page + (1.0 - self.weight) * best).astype(np.float32)
