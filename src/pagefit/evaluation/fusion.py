"""Hybrid retrieval: fusing a dense model's ranking with BM25's (reciprocal rank or weighted scores).

Both methods take score matrices (queries x pages) where ``-inf`` marks a page a retriever did not
return, and look at each retriever's top ``depth`` pages only:

- ``rrf``: ``sum_i 1 / (rrf_k + rank_i(page))`` over the lists holding the page (rank 1-based;
  Cormack et al. 2009, ``rrf_k=60``).
- ``weighted``: each list's top-``depth`` scores min-max normalised to [0, 1] per query (all equal:
  1), then ``weight * dense + (1 - weight) * bm25``; a page absent from a list gets 0 from it.

Pages in no list score ``-inf``. Ties inside a list are ranked by the ``tie_order`` given (eval: page
id ascending), so fused rankings never depend on corpus order.

`tune_weight` picks the weighted-fusion weight on a separate query set (`pagefit eval --tune-fusion`
uses the eval split of `pagefit pairs`, never the queries being reported).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

__all__ = [
    "DEFAULT_DEPTH",
    "DEFAULT_KEYWORD_WEIGHT",
    "DEFAULT_RRF_K",
    "DEFAULT_WEIGHT",
    "MODEL_FUSION_FILE",
    "FusionConfig",
    "FusionMethod",
    "fuse",
    "hybrid_name",
    "hybrid_runs",
    "keyword_like",
    "model_fusion",
    "query_weights",
    "save_model_fusion",
    "sparse_as_retrieved",
    "tune_weight",
    "tuning_queries",
]

FusionMethod = Literal["rrf", "weighted"]
DEFAULT_RRF_K = 60
# Keyword-like queries (identifiers, search-box terms) lean on BM25; sentences keep the even split. Measured
# (docs/hybrid-training.md): on ../shared/devset one weight 0.5 scored hybrid NDCG@10 0.871 / 0.873 (untrained /
# finetuned ocr-minilm), 0.5 with keyword-like queries at 0.3 0.874 / 0.876; sentences at 0.6 gained more there
# (0.882 / 0.891) but lost 0.02 on the demo's hand-written questions, where BM25 is stronger (0.905 -> 0.885).
DEFAULT_WEIGHT = 0.5
DEFAULT_KEYWORD_WEIGHT = 0.3
DEFAULT_DEPTH = 100
MODEL_FUSION_FILE = "pagefit_fusion.json"
WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(11))


class FusionConfig(BaseModel):
    """How a dense ranking and BM25's are fused; saved in report.json and an index's manifest."""

    # weighted by default: on ../shared/devset (126 real queries, OCR text) weighted fusion at 0.5 scored
    # NDCG@10 0.876 (untrained ocr-minilm) / 0.871 (finetuned) against RRF's 0.843 / 0.853 and BM25's
    # 0.824, as convex combinations of normalised scores beat RRF in Bruch et al. (2023), "An Analysis
    # of Fusion Functions for Hybrid Retrieval".
    method: FusionMethod = "weighted"
    rrf_k: int = Field(DEFAULT_RRF_K, ge=1, description="RRF constant k")
    weight: float = Field(DEFAULT_WEIGHT, ge=0.0, le=1.0, description="weighted: the dense model's weight")
    keyword_weight: float | None = Field(
        DEFAULT_KEYWORD_WEIGHT,
        ge=0.0,
        le=1.0,
        description="weighted: the dense model's weight for keyword-like queries (a few words, no stopword: "
        "identifiers and search-box terms lean on BM25); None: `weight` for every query",
    )
    depth: int = Field(DEFAULT_DEPTH, ge=1, description="top pages of each retriever that are fused")
    tuned_on: str | None = Field(None, description="queries the weight was tuned on (--tune-fusion)")
    tuning: dict[str, float] | None = Field(None, description="weight -> NDCG@10 on the tuning queries")


def save_model_fusion(model_dir: str | os.PathLike[str], fusion: FusionConfig | dict) -> Path:
    """Write the fusion a model was tuned for (`pagefit train`) beside it, as `pagefit_fusion.json`."""
    from pagefit._io import atomic_write_json

    config = fusion if isinstance(fusion, FusionConfig) else FusionConfig.model_validate(fusion)
    path = Path(model_dir) / MODEL_FUSION_FILE
    atomic_write_json(path, config.model_dump(exclude_none=True))
    return path


def model_fusion(model: str | os.PathLike[str] | None) -> FusionConfig | None:
    """The fusion saved with a model folder by `pagefit train` (None: a built-in or hub model, or a folder
    trained before pagefit saved one)."""
    import json

    if model is None or not isinstance(model, (str, os.PathLike)):
        return None
    path = Path(model) / MODEL_FUSION_FILE
    if not path.is_file():
        return None
    try:
        return FusionConfig.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as e:
        from pagefit.errors import PagefitError

        raise PagefitError(f"{path} is not a fusion setting ({e}): delete it or train the model again") from e


def hybrid_name(dense_name: str) -> str:
    """The report entry of a fused run: ``hybrid(bm25+MODEL)``."""
    return f"hybrid(bm25+{dense_name})"


def sparse_as_retrieved(scores: np.ndarray) -> np.ndarray:
    """BM25 scores with pages that matched no query term (score <= 0) marked as not retrieved."""
    return np.where(scores > 0, scores, -np.inf).astype(np.float32)


def _top(scores: np.ndarray, depth: int, tie_order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's top ``depth`` retrieved pages (indices, ranks 1-based), -1 where fewer were retrieved."""
    n_pages = scores.shape[1]
    depth = min(depth, n_pages)
    ties = np.arange(n_pages) if tie_order is None else np.asarray(tie_order)
    if depth < n_pages:
        candidates = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    else:
        candidates = np.tile(np.arange(n_pages), (len(scores), 1))
    cand_scores = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((ties[candidates], -cand_scores), axis=1)
    top = np.take_along_axis(candidates, order, axis=1)
    top[~np.isfinite(np.take_along_axis(cand_scores, order, axis=1))] = -1
    return top, np.broadcast_to(np.arange(1, depth + 1), top.shape)


def keyword_like(query: str, language: str = "en") -> bool:
    """A search-box query rather than a sentence: at most 2 words, or at most 8 with no stopword of the
    language (`node color HSV hexadecimal`, `hurdle.control`), where a language has a stopword list."""
    import re

    from pagefit.evaluation.bm25 import TOKEN_PATTERN, stopword_set

    n = len(query.split())
    stop = stopword_set(language)
    if n <= 2:
        return True
    if not stop:
        return n <= 3
    return n <= 8 and not set(re.findall(TOKEN_PATTERN, query.lower())) & stop


def query_weights(queries: Sequence[str], config: FusionConfig, language: str = "en") -> np.ndarray:
    """The dense model's weight for each query: ``keyword_weight`` for keyword-like queries (see
    `keyword_like`) when it is set, else ``weight``."""
    weights = np.full(len(queries), config.weight, dtype=np.float64)
    if config.keyword_weight is not None:
        short = np.array([keyword_like(q, language) for q in queries], dtype=bool)
        weights[short] = config.keyword_weight
    return weights


def fuse(
    scores: Sequence[np.ndarray],
    config: FusionConfig,
    *,
    tie_order: np.ndarray | None = None,
    queries: Sequence[str] | None = None,
    language: str = "en",
) -> np.ndarray:
    """Fused (queries x pages) scores of ``scores`` = [dense, bm25] (``-inf``: not retrieved).

    Args:
        scores: one (queries x pages) matrix per retriever; the first is the dense model (its weight
            is ``config.weight`` in weighted fusion, per query with ``keyword_weight``), the second BM25.
        config: method and parameters.
        tie_order: rank of each page in the tie-break order (eval: page id ascending).
        queries: the query texts, which ``config.keyword_weight`` needs (without them every query is weighed
            at ``config.weight``: pagefit's eval, index and train always pass them).
        language: their language (stopwords tell a keyword query from a sentence).
    """
    if len(scores) != 2:
        raise ValueError("fuse takes two score matrices: [dense, bm25]")
    shape = scores[0].shape
    fused = np.zeros(shape, dtype=np.float64)
    seen = np.zeros(shape, dtype=bool)
    dense_weights = (
        query_weights(queries, config, language) if queries is not None else np.full(shape[0], config.weight)
    )
    weights = (dense_weights, 1.0 - dense_weights)
    for matrix, weight in zip(scores, weights, strict=True):
        matrix = np.asarray(matrix, dtype=np.float64)
        top, ranks = _top(matrix, config.depth, tie_order)
        for q in range(shape[0]):
            keep = top[q] >= 0
            pages = top[q][keep]
            if not len(pages):
                continue
            if config.method == "rrf":
                part = 1.0 / (config.rrf_k + ranks[q][keep])
            else:
                part = weight[q] * _min_max(matrix[q, pages])
            fused[q, pages] += part
            seen[q, pages] = True
    return np.where(seen, fused, -np.inf).astype(np.float32)


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12:
        return np.ones_like(values)
    return (values - low) / (high - low)


def tune_weight(
    dense: np.ndarray,
    sparse: np.ndarray,
    evaluate: Callable[[np.ndarray], float],
    config: FusionConfig,
    *,
    tie_order: np.ndarray | None = None,
    grid: Sequence[float] = WEIGHT_GRID,
    queries: Sequence[str] | None = None,
    language: str = "en",
) -> tuple[float, dict[str, float]]:
    """The weight of ``grid`` whose weighted fusion scores best by ``evaluate(fused_scores)``.

    Ties go to the weight closest to 0.5 (then the smaller). Returns (weight, {weight: score}); the weight
    is the one for sentence queries when ``config.keyword_weight`` is set (keyword-like queries keep theirs).
    """
    results: dict[str, float] = {}
    for weight in grid:
        candidate = config.model_copy(update={"method": "weighted", "weight": float(weight)})
        fused = fuse([dense, sparse], candidate, tie_order=tie_order, queries=queries, language=language)
        results[f"{weight:.2f}"] = float(evaluate(fused))
    best = max(grid, key=lambda w: (round(results[f"{w:.2f}"], 12), -abs(w - 0.5), -w))
    return float(best), results


# ----------------------------------------------------------------------------------------------
# The `pagefit eval --hybrid` entries
# ----------------------------------------------------------------------------------------------


def tuning_queries(path: str, reported: Sequence) -> list:
    """The queries `--tune-fusion` tunes on: a pairs folder's validation split (validation_queries.jsonl;
    an older folder's eval split) or a queries file; refused when they share a query with the reported set."""
    from pathlib import Path

    from pagefit.errors import PagefitError
    from pagefit.queries import read_queries

    source = Path(path)
    if source.is_dir():
        validation = source / "validation_queries.jsonl"
        has_validation = validation.is_file() and validation.stat().st_size > 0
        source = validation if has_validation else source / "eval_queries.jsonl"
        if not source.exists():
            raise PagefitError(
                f"{path} holds no eval_queries.jsonl: give the folder written by `pagefit pairs`"
            )
    queries = read_queries(source)
    overlap = {q.query.strip().lower() for q in queries} & {q.query.strip().lower() for q in reported}
    if overlap:
        raise PagefitError(
            f"--tune-fusion {path} shares {len(overlap)} queries with the reported queries "
            f"(e.g. {sorted(overlap)[0]!r}): tune on the eval split of `pagefit pairs`, never on the queries reported"
        )
    return queries


def hybrid_runs(runs: list, named: list, data, config, show_progress: bool) -> tuple[list, FusionConfig]:
    """One fused entry `hybrid(bm25+NAME)` per dense model entry, and the fusion used.

    ``runs`` must hold the dense entries (with their ``scores``) and the BM25 entry.
    """
    from pagefit.evaluation import BM25_NAME, _Run, _unique
    from pagefit.evaluation.metrics import rank_pages

    fusion = FusionConfig(method=config.hybrid, rrf_k=config.rrf_k)
    bm25 = next(run for run in runs if run.model == BM25_NAME)
    specs = dict(named)
    taken = {run.name for run in runs}
    out = []
    for run in [r for r in runs if r.name in specs and r.scores is not None]:
        fusion = _entry_fusion(specs[run.name], config)
        if config.tune_fusion:
            fusion = _tune(run, specs[run.name], data, config, fusion)
        fused = fuse([run.scores, sparse_as_retrieved(bm25.scores)], fusion, tie_order=data.id_order,
                     queries=data.query_texts, language=config.language)  # fmt: skip
        name = _unique(hybrid_name(run.name), taken)
        taken.add(name)
        timing = {k: v + bm25.timing.get(k, 0.0) for k, v in run.timing.items()}
        ranked = rank_pages(fused, data.id_order)
        settings = {
            **run.settings,
            "fusion": fusion.model_dump(exclude_none=True),
        }  # each entry records its own
        out.append(_Run(name, run.model, run.params, ranked, dim=run.dim, timing=timing, settings=settings))
    return out, fusion


def _entry_fusion(spec, config) -> FusionConfig:
    """An entry's fusion: --fusion-weight / --keyword-weight when given, else what `pagefit train` saved with
    the model (what `index --hybrid` deploys), else the default fusion."""
    fusion = FusionConfig(method=config.hybrid, rrf_k=config.rrf_k)
    saved = model_fusion(spec) if isinstance(spec, (str, os.PathLike)) else None
    if saved is not None and config.hybrid == "weighted":
        fusion = fusion.model_copy(update={"weight": saved.weight, "keyword_weight": saved.keyword_weight,
                                           "tuned_on": saved.tuned_on, "tuning": saved.tuning})  # fmt: skip
    if config.fusion_weight is not None:  # one weight for every query, unless --keyword-weight says too
        fusion = fusion.model_copy(update={"weight": config.fusion_weight, "keyword_weight": None})
    if config.keyword_weight is not None:
        fusion = fusion.model_copy(update={"keyword_weight": config.keyword_weight})
    return fusion


def _tune(run, spec, data, config, fusion: FusionConfig) -> FusionConfig:
    """The weighted fusion whose weight scores best (NDCG@10) on the tuning queries."""
    from pagefit.evaluation.bm25 import bm25_scores
    from pagefit.evaluation.metrics import PRIMARY_METRIC, query_metrics, rank_pages
    from pagefit.queries import check_page_ids

    queries = tuning_queries(config.tune_fusion, data.queries)
    check_page_ids(queries, data.page_ids, source=config.tune_fusion)
    texts = [q.query for q in queries]
    dense = _dense_scores(run, spec, data, config, texts)
    sparse = sparse_as_retrieved(bm25_scores(data.texts, texts))

    def ndcg(fused: np.ndarray) -> float:
        ranked = rank_pages(fused, data.id_order)
        values = [
            query_metrics([data.page_ids[i] for i in row], q.page_ids)[PRIMARY_METRIC]
            for q, row in zip(queries, ranked, strict=True)
        ]
        return float(np.mean(values))

    weight, grid = tune_weight(dense, sparse, ndcg, fusion, tie_order=data.id_order, queries=texts,
                               language=config.language)  # fmt: skip
    return fusion.model_copy(
        update={"method": "weighted", "weight": weight, "tuned_on": str(config.tune_fusion), "tuning": grid}
    )


def _dense_scores(run, spec, data, config, texts: list[str]) -> np.ndarray:
    """(texts, pages) scores of an entry's model, as the entry scored its queries (cached pages)."""
    from pagefit.embeddings import encode_pages, encode_queries
    from pagefit.evaluation import _load_embedding_model, _passage_windows, _scores
    from pagefit.multivector_embeddings import is_multi_vector

    model = _load_embedding_model(spec, config)
    if is_multi_vector(model):
        from pagefit.evaluation.maxsim import score_multivector_model

        return score_multivector_model(model, data.image_paths, data.keys, texts, batch_size=config.batch_size,
                                       show_progress=False, token_pooling=config.token_pooling).scores  # fmt: skip
    pages = encode_pages(
        model, data.image_paths, keys=data.keys, batch_size=config.batch_size, show_progress=False
    )
    windows = _passage_windows(run.name, model, data, config, {}) if run.settings.get("passages") else None
    return _scores(model, encode_queries(model, texts), pages, windows, run.dim, config)
