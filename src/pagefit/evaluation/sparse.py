"""`pagefit eval` entries of learned-sparse models (`SparseEncoder`, SPLADE) and their hybrids with dense ones.

A sparse entry scores every page by the model's similarity of sparse vectors (`pagefit.sparse_embeddings`);
its page text is the corpus ``text`` column (the text route). With ``--hybrid`` a sparse model stands where
BM25 stands: each dense entry is also fused with each sparse entry, ``hybrid(SPARSE+DENSE)``, by the same
fusion (`pagefit.evaluation.fusion.fuse`; the sparse side's pages with score 0 were not retrieved, as BM25's).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["SPARSE_SETTING", "run_sparse_entry", "sparse_hybrid_runs"]

SPARSE_SETTING = "sparse"  # a sparse entry's `settings` key (what it stored per page)


def run_sparse_entry(
    name: str, spec: Any, model: Any, data: Any, config: Any, show_progress: bool, timing: dict
) -> Any:
    """The entry of a sparse model: its (queries x pages) scores, rankings, and bytes per page."""
    from pagefit.evaluation import _count_params, _Run
    from pagefit.evaluation.metrics import rank_pages
    from pagefit.models import model_name
    from pagefit.sparse_embeddings import (
        encode_sparse_pages,
        encode_sparse_queries,
        sparse_bytes_per_page,
        sparse_scores,
    )

    for flag, given in (("--dims", config.dims), ("--token-pooling", config.token_pooling)):
        if given:
            import logging

            logging.getLogger("pagefit.evaluation").warning(
                "%s is a sparse model: %s does not apply", name, flag
            )
    start = time.perf_counter()
    pages = encode_sparse_pages(
        model, data.image_paths, batch_size=config.batch_size, show_progress=show_progress
    )
    timing["encode_pages"] = time.perf_counter() - start
    start = time.perf_counter()
    queries = encode_sparse_queries(model, data.query_texts)
    timing["encode_queries"] = time.perf_counter() - start
    start = time.perf_counter()
    scores = sparse_scores(model, queries, pages)
    ranked = rank_pages(scores, data.id_order)
    timing["search"] = time.perf_counter() - start
    active = pages.nnz / max(1, pages.shape[0])
    run = _Run(name, model_name(spec), _count_params(model), ranked, dim=int(pages.shape[1]), timing=timing,
               vectors_per_page=1.0, bytes_per_page=sparse_bytes_per_page(pages),
               settings={SPARSE_SETTING: {"vocabulary": int(pages.shape[1]), "active_dims_per_page": round(active, 1),
                                          "similarity": getattr(model, "similarity_fn_name", None) or "dot"}})  # fmt: skip
    run.scores = scores  # kept for fusion: with BM25, and as the sparse side of a dense entry's hybrid
    return run


def sparse_hybrid_runs(runs: list, named: list, data: Any, config: Any) -> list:
    """``hybrid(SPARSE+DENSE)`` for every sparse entry and every dense model entry (``--hybrid``)."""
    from pagefit.evaluation import _Run, _unique
    from pagefit.evaluation.fusion import _entry_fusion, fuse, sparse_as_retrieved
    from pagefit.evaluation.metrics import rank_pages

    specs = dict(named)
    sparse = [r for r in runs if SPARSE_SETTING in r.settings and r.scores is not None]
    dense = [r for r in runs if r.name in specs and r.scores is not None and SPARSE_SETTING not in r.settings]
    taken = {run.name for run in runs}
    out = []
    for learned in sparse:
        for run in dense:
            fusion = _entry_fusion(specs[run.name], config)
            fused = fuse([run.scores, sparse_as_retrieved(learned.scores)], fusion, tie_order=data.id_order,
                         queries=data.query_texts, language=config.language)  # fmt: skip
            name = _unique(f"hybrid({learned.name}+{run.name})", taken)
            taken.add(name)
            timing = {k: v + learned.timing.get(k, 0.0) for k, v in run.timing.items()}
            settings = {
                **run.settings,
                "fusion": fusion.model_dump(exclude_none=True),
                "sparse_side": learned.name,
            }
            params = None if run.params is None or learned.params is None else run.params + learned.params
            out.append(_Run(name, run.model, params, rank_pages(fused, data.id_order), dim=run.dim, timing=timing,
                            settings=settings))  # fmt: skip
    return out
