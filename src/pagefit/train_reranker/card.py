"""The records of a reranker training run: `train_summary.json` and pagefit's section of the model card."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pagefit.train.card import CARD_MARKER, _fmt, run_stats

if TYPE_CHECKING:
    from transformers import TrainerState

    from pagefit.train_reranker.config import RerankerConfig

__all__ = ["build_summary", "card_section", "rerank_verdict", "reranking_helps"]

_CARD_METRICS = ("ndcg@10", "mrr@10", "map")


def build_summary(
    config: RerankerConfig,
    data: dict[str, Any],
    state: TrainerState,
    *,
    precision: str,
    base: dict[str, float],
    final: dict[str, float],
    train_metrics: dict[str, float],
    resumed_from: str | None,
    world_size: int,
    wall_time_s: float,
) -> dict[str, Any]:
    """The content of `train_summary.json`; `retriever_*` metrics are the retriever's own order."""
    from pagefit import __version__

    common = sorted(set(base) & set(final))
    return {
        "pagefit_version": __version__,
        "kind": "reranker",
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "preset": config.preset,
        "base_model": config.model,
        "architecture": config.architecture,
        "document": config.document,
        "loss": config.loss,
        "output": str(config.output),
        "data": data,
        "precision": precision,
        "lora": config.lora,
        "base_metrics": base,
        "final_metrics": final,
        "improvement": {k: final[k] - base[k] for k in common},
        "helps": reranking_helps(final),
        **run_stats(state, world_size, resumed_from, wall_time_s, train_metrics),
    }


def reranking_helps(final: dict[str, float]) -> bool | None:
    """Whether the trained reranker's order beats the retriever's own on the held-out queries (None: not
    evaluated). A reranker that does not is worse than no reranker, whatever it gained over its start."""
    if "ndcg@10" not in final or "retriever_ndcg@10" not in final:
        return None
    return final["ndcg@10"] > final["retriever_ndcg@10"]


def rerank_verdict(summary: dict[str, Any]) -> str | None:
    """A plain sentence when the trained reranker ranks worse than the retriever alone (else None)."""
    final = summary.get("final_metrics") or {}
    if reranking_helps(final) is not False:
        return None
    k = summary.get("data", {}).get("eval_top_k")
    return (
        f"reranking the retriever's top {k} with this reranker LOWERS NDCG@10 on the held-out queries "
        f"({final['retriever_ndcg@10']:.4f} retrieve-only -> {final['ndcg@10']:.4f} reranked): it is worse than "
        "no reranker; search without it, or train it on more pairs (more queries per page, --epochs)"
    )


def _metrics_table(base: dict[str, float], final: dict[str, float]) -> list[str]:
    lines = ["| Metric | Retriever only | Base reranker | Trained reranker |", "|:--|--:|--:|--:|"]
    for name in _CARD_METRICS:
        if name in final:
            lines.append(
                f"| {name} | {_fmt(final.get('retriever_' + name))} | {_fmt(base.get(name))} | {_fmt(final[name])} |"
            )
    return lines


def card_section(summary: dict[str, Any]) -> str:
    """Markdown: data, reranking metrics (retriever order, before and after training), how to use it."""
    data = summary["data"]
    neg = data["negatives_per_positive"]
    lines = [
        CARD_MARKER,
        "## Training with pagefit",
        "",
        f"Trained from `{summary['base_model']}` ({summary['architecture']}) with `pagefit train-reranker` "
        f"(preset `{summary['preset']}`, loss `{summary['loss']}`) on `{data['source']}`: {data['train_rows']} "
        f"positives, each with {neg['mined']} mined, {neg['bm25']} BM25 and {neg['random']} random negatives "
        f"({data['train_examples']} training examples); the reranker reads the page {summary['document']}. "
        f"{summary['steps']} steps, {summary['precision']} precision.",
    ]
    if data.get("eval_queries"):
        lines += [
            "",
            f"Evaluated on {data['eval_queries']} held-out queries (every eval query of the pairs folder): "
            f"`CrossEncoderRerankingEvaluator` reranks the top {data['eval_top_k']} of the retriever "
            f"`{data['retriever']}` (scored as `pagefit eval` scores it) among all {data['eval_pages']} pages "
            "of the eval-split documents (a relevant page outside the top k counts as missed):",
            "",
            *_metrics_table(summary["base_metrics"], summary["final_metrics"]),
        ]
        if verdict := rerank_verdict(summary):
            lines += ["", f"**Warning:** {verdict}."]
    lines += [
        "",
        "Use it: `CrossEncoder(path).rank(query, pages)`, or `pagefit eval ... --reranker PATH --rerank-top-k 20`. "
        "The resolved config is `train_config.yaml` beside this card "
        "(`pagefit train-reranker --config train_config.yaml --out NEW_FOLDER` repeats the run); "
        "`train_summary.json` holds these numbers with wall time and throughput.",
        CARD_MARKER,
        "",
    ]
    return "\n".join(lines)
