"""Retrieve-only against retrieve + rerank: the reranked entries of a report, side by side.

For every entry `NAME+rerank`, the entry it reranks is its baseline: the paired difference of per-query
NDCG@10 (bootstrap CI, randomization p-value, wins/losses) and the time per query the reranker adds at the
chosen top k. The reranker scores each (query, page) pair once per evaluation, so entries that share
candidates share scores; the cost per query is measured per pair (all pairs the reranker scored, all the
time it took) times the pairs a query needs, the same for every reranked entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pagefit.evaluation.metrics import PRIMARY_METRIC

if TYPE_CHECKING:
    from rich.table import Table

    from pagefit.evaluation.report import Comparison, Report

__all__ = ["rerank_comparisons", "rerank_cost_ms", "rerank_markdown", "rerank_table"]


def rerank_comparisons(
    runs: Sequence[Any],
    per_query: dict[str, dict[str, dict[str, float]]],
    query_ids: list[str],
    *,
    n_resamples: int,
    seed: int,
) -> dict[str, Comparison]:
    """Reranked entry name -> its NDCG@10 against the entry it reranks (retrieve-only)."""
    from pagefit.evaluation.report import Comparison
    from pagefit.evaluation.significance import compare_paired

    result = {}
    for run in runs:
        if not run.reranks:
            continue
        before = [per_query[run.reranks][q][PRIMARY_METRIC] for q in query_ids]
        after = [per_query[run.name][q][PRIMARY_METRIC] for q in query_ids]
        test = compare_paired(before, after, n_resamples=n_resamples, seed=seed)
        result[run.name] = Comparison(
            ndcg_at_10_diff=test.diff,
            ci95=test.ci95,
            p_value=test.p_value,
            baseline=run.reranks,
            wins=sum(b > a for a, b in zip(before, after, strict=True)),
            losses=sum(b < a for a, b in zip(before, after, strict=True)),
        )
    return result


def rerank_cost_ms(runs: Sequence[Any], pairs_per_query: int) -> float | None:
    """Milliseconds the reranker adds per query: seconds per scored pair x the pairs a query needs."""
    pairs = sum(run.timing.get("rerank_pairs", 0) for run in runs if run.reranks)
    seconds = sum(run.timing.get("rerank", 0.0) for run in runs if run.reranks)
    return 1000 * seconds / pairs * pairs_per_query if pairs else None


def _pairs(report: Report) -> list[tuple[Any, Any]]:
    return [(report.model(m.reranks), m) for m in report.models if m.reranks and m.vs_retriever]


def rerank_markdown(report: Report) -> list[str]:
    """report.md lines: each retriever alone and followed by the reranker (empty without a reranker)."""
    rows = _pairs(report)
    if not rows:
        return []
    k = report.settings.get("rerank_top_k")
    lines = [
        "",
        f"## Reranking (top {k} of each entry, {PRIMARY_METRIC})",
        "",
        f"Reranker `{rows[0][1].reranker}`. Δ: paired difference over queries, 95% bootstrap CI, "
        "randomization p-value; wins/losses: queries the reranker helped/hurt.",
        "",
        "| retriever | retrieve only | + rerank | Δ [95% CI] | p | wins / losses | rerank ms/query |",
        "|---|---|---|---|---|---|---|",
    ]
    for before, after in rows:
        cmp = after.vs_retriever
        lo, hi = cmp.ci95
        ms = "–" if after.rerank_ms is None else f"{after.rerank_ms:.1f}"
        lines.append(
            f"| {before.name} | {before.metrics[PRIMARY_METRIC]:.4f} | {after.metrics[PRIMARY_METRIC]:.4f} | "
            f"{cmp.ndcg_at_10_diff:+.4f} [{lo:+.4f}, {hi:+.4f}] | {cmp.p_value:.3g} | {cmp.wins} / {cmp.losses} | {ms} |"
        )
    return lines


def rerank_table(report: Report) -> Table | None:
    """The same comparison as a Rich table for the terminal (None without a reranker)."""
    from rich.table import Table

    rows = _pairs(report)
    if not rows:
        return None
    table = Table(title=f"retrieve vs retrieve + rerank (top {report.settings.get('rerank_top_k')})",
                  title_justify="left")  # fmt: skip
    for column in ("retriever", "alone", "+rerank", "Δndcg@10 [95% CI]", "p", "ms/q"):
        table.add_column(column, justify="left" if column == "retriever" else "right", overflow="fold")
    for before, after in rows:
        cmp = after.vs_retriever
        lo, hi = cmp.ci95
        colour = "green" if lo > 0 else "red" if hi < 0 else "yellow"
        table.add_row(
            before.name,
            f"{before.metrics[PRIMARY_METRIC]:.3f}",
            f"{after.metrics[PRIMARY_METRIC]:.3f}",
            f"[{colour}]{cmp.ndcg_at_10_diff:+.3f} [{lo:+.3f}, {hi:+.3f}][/]",
            f"{cmp.p_value:.2g}",
            "–" if after.rerank_ms is None else f"{after.rerank_ms:.0f}",
        )
    return table
