"""Retrieval metrics over ranked page ids, with trec_eval's definitions (binary relevance).

A ranking is computed from a score matrix with one deterministic order: score descending, then
page id ascending (the order Sentence Transformers' `InformationRetrievalEvaluator` uses). trec_eval
itself breaks ties by page id *descending*, so give it tie-free scores when comparing.

Definitions, for a query with relevant set R and ranking r_1, r_2, ...:

- ``ndcg@k``: sum over relevant r_i, i <= k, of 1/log2(i+1), divided by the same sum for an ideal
  ranking (min(|R|, k) relevant pages first) = trec_eval ``ndcg_cut_k``.
- ``map@k``: sum over relevant r_i, i <= k, of precision@i, divided by |R| = trec_eval ``map_cut_k``.
  (Sentence Transformers divides by min(k, |R|): identical while |R| <= k.)
- ``mrr@k``: 1/i for the first relevant r_i with i <= k, else 0 = trec_eval ``recip_rank`` on the
  top k.
- ``recall@k``: |R ∩ {r_1..r_k}| / |R| = trec_eval ``recall_k``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MAX_K",
    "METRICS",
    "PRIMARY_METRIC",
    "mean_metrics",
    "metrics_by_group",
    "query_metrics",
    "rank_pages",
]

METRICS: tuple[str, ...] = (
    "ndcg@1",
    "ndcg@5",
    "ndcg@10",
    "map@100",
    "mrr@10",
    "recall@1",
    "recall@5",
    "recall@10",
    "recall@100",
)
PRIMARY_METRIC = "ndcg@10"
MAX_K = max(int(name.split("@")[1]) for name in METRICS)


def rank_pages(scores: np.ndarray, id_order: np.ndarray, k: int = MAX_K) -> np.ndarray:
    """Indices of the top `k` pages per query: score descending, then page id ascending.

    Args:
        scores: (queries, pages) similarity scores.
        id_order: for each page, its position among the page ids sorted ascending (the tie-breaker).
        k: how many pages to keep per query (capped at the number of pages).

    Returns:
        (queries, min(k, pages)) page indices, best first.
    """
    import numpy as np

    n_queries, n_pages = scores.shape
    k = min(k, n_pages)
    if k == 0:
        return np.empty((n_queries, 0), dtype=np.int64)
    # Partition first so only the candidates at or above each query's k-th score get sorted;
    # every page tied with the k-th score is a candidate, so the tie-break stays exact.
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
    ranked = np.empty((n_queries, k), dtype=np.int64)
    for q in range(n_queries):
        cand = np.flatnonzero(scores[q] >= kth[q])
        order = np.lexsort((id_order[cand], -scores[q, cand]))
        ranked[q] = cand[order[:k]]
    return ranked


def query_metrics(ranking: Sequence[str], relevant: Iterable[str]) -> dict[str, float]:
    """All of `METRICS` for one query, from its ranked page ids (best first) and its relevant ids."""
    relevant = set(relevant)
    hits = [page in relevant for page in ranking[:MAX_K]]
    result: dict[str, float] = {}
    for name in METRICS:
        kind, k = name.split("@")
        result[name] = _METRIC_FUNCTIONS[kind](hits[: int(k)], len(relevant), int(k))
    return result


def _ndcg(hits: Sequence[bool], n_relevant: int, k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_relevant, k)))
    return dcg / ideal if ideal else 0.0


def _average_precision(hits: Sequence[bool], n_relevant: int, k: int) -> float:
    found, total = 0, 0.0
    for i, hit in enumerate(hits):
        if hit:
            found += 1
            total += found / (i + 1)
    return total / n_relevant if n_relevant else 0.0


def _reciprocal_rank(hits: Sequence[bool], n_relevant: int, k: int) -> float:
    return next((1.0 / (i + 1) for i, hit in enumerate(hits) if hit), 0.0)


def _recall(hits: Sequence[bool], n_relevant: int, k: int) -> float:
    return sum(hits) / n_relevant if n_relevant else 0.0


_METRIC_FUNCTIONS = {"ndcg": _ndcg, "map": _average_precision, "mrr": _reciprocal_rank, "recall": _recall}


def mean_metrics(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each metric over queries (an empty input gives an empty dict)."""
    rows = list(per_query)
    if not rows:
        return {}
    return {name: math.fsum(row[name] for row in rows) / len(rows) for name in rows[0]}


def metrics_by_group(
    per_query: Mapping[str, Mapping[str, float]], groups: Mapping[str, str | None]
) -> dict[str, dict[str, float]]:
    """Mean metrics per group (e.g. the queries' `kind`); queries without a group are left out."""
    members: dict[str, list[Mapping[str, float]]] = {}
    for query_id, metrics in per_query.items():
        group = groups.get(query_id)
        if group is not None:
            members.setdefault(str(group), []).append(metrics)
    return {group: mean_metrics(rows) for group, rows in sorted(members.items())}
