"""The demo's reranker step: train `ocr-minilm-reranker` on the mined pairs, then retrieve vs retrieve + rerank.

Sized to stay within the demo's CPU budget: the mined negatives of the demo plus one BM25 negative per
positive, one epoch, and an evaluator over at most `EVAL_QUERIES` held-out synthetic queries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["RERANK_TOP_K", "print_rerank_summary", "train_demo_reranker"]

RERANK_TOP_K = 20
EVAL_QUERIES = 16


def train_demo_reranker(
    root: Path, model_dir: Path, *, num_negatives: int, max_steps: int | None, batch_size: int, seed: int,
    show_progress: bool,
) -> Path:  # fmt: skip
    """Train the CPU reranker on `root/mined`, its evaluator reranking the finetuned retriever's top k."""
    import shutil

    from pagefit.train_reranker import train_reranker

    out = root / "reranker"
    shutil.rmtree(out, ignore_errors=True)  # retrained every run, like the model
    train_reranker(
        preset="ocr-minilm-reranker", data=str(root / "mined"), output=str(out), retriever=str(model_dir),
        num_negatives=num_negatives, bm25_negatives=1, random_negatives=0, epochs=1, max_steps=max_steps,
        batch_size=batch_size, eval_top_k=RERANK_TOP_K, max_eval_queries=EVAL_QUERIES, eval_every=0.5,
        save_every=0.5, seed=seed, show_progress=show_progress,
    )  # fmt: skip
    return out


def print_rerank_summary(console: Any, report: Any) -> None:
    """One line per retriever: alone and followed by the reranker, with the paired test and the cost; a
    plain warning when the reranker lowers every retriever's NDCG@10."""
    diffs = []
    for entry in report.models:
        if not entry.reranks or entry.vs_retriever is None:
            continue
        base, cmp = report.model(entry.reranks), entry.vs_retriever
        ms = "" if entry.rerank_ms is None else f", +{entry.rerank_ms:.0f} ms/query"
        console.print(
            f"{base.name}: retrieve [bold]{base.metrics['ndcg@10']:.3f}[/] -> retrieve+rerank "
            f"[bold]{entry.metrics['ndcg@10']:.3f}[/] ({cmp.ndcg_at_10_diff:+.3f}, 95% CI "
            f"[{cmp.ci95[0]:+.3f}, {cmp.ci95[1]:+.3f}], p={cmp.p_value:.3g}{ms})",
            highlight=False,
        )
        diffs.append(cmp.ndcg_at_10_diff)
    if diffs and max(diffs) < 0:
        console.print(
            "[bold red]the reranker lowers NDCG@10 after every retriever here[/]: search without it. A cross-encoder "
            "with a new head needs far more pairs than this demo trains it on (see `pagefit train-reranker`).",
            highlight=False,
        )
