"""The evaluation report: its schema (report.json, see docs/formats.md), report.md and the terminal table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from pagefit._io import atomic_write_text
from pagefit.evaluation.metrics import METRICS, PRIMARY_METRIC

if TYPE_CHECKING:
    from rich.table import Table

__all__ = [
    "Comparison",
    "ModelResult",
    "QueryRecord",
    "QueryResult",
    "Report",
    "markdown_report",
    "rich_table",
    "write_json_report",
]


class Comparison(BaseModel):
    """A model against the first model of the report, on per-query NDCG@10."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    ndcg_at_10_diff: float = Field(alias="ndcg@10_diff", description="mean of (this - first) over queries")
    ci95: tuple[float, float] = Field(description="95 % paired-bootstrap interval of the difference")
    p_value: float = Field(description="two-sided paired randomization test")
    baseline: str = Field(description="name of the first model")
    wins: int = Field(0, description="queries where this model has the higher NDCG@10")
    losses: int = Field(0, description="queries where the first model has the higher NDCG@10")


class ModelResult(BaseModel):
    """One entry of the report: a retriever, BM25, or a retriever followed by the reranker."""

    name: str
    model: str = Field(description="what was loaded: folder, hub name, built-in name, or 'bm25'")
    params: int | None = Field(description="parameters used per query (retriever + reranker); null for BM25")
    metrics: dict[str, float]
    ci95: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="95 % bootstrap interval of a metric's mean over queries (ndcg@10)"
    )
    by_dim: dict[str, dict[str, float]] = Field(default_factory=dict, description="Matryoshka dims")
    vs_first: Comparison | None = None
    per_kind: dict[str, dict[str, float]] = Field(default_factory=dict)
    dim: int | None = Field(None, description="embedding dimension used for `metrics`")
    reranks: str | None = Field(None, description="for a reranked entry: the entry whose top-k it reranks")
    reranker: str | None = None
    settings: dict[str, Any] = Field(
        default_factory=dict, description="how the entry ranks, e.g. BM25's k1, b, method, stemmer, stopwords"
    )
    timing: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
    latency_ms: float | None = Field(None, description="mean time per query: encode + search (+ rerank)")
    vs_retriever: Comparison | None = Field(
        None, description="for a reranked entry: its NDCG@10 against the entry it reranks (retrieve only)"
    )
    rerank_ms: float | None = Field(
        None, description="for a reranked entry: time per query the reranker adds"
    )
    vectors_per_page: float | None = Field(None, description="vectors stored per page (1 for single-vector)")
    bytes_per_page: float | None = Field(
        None, description="stored size of a page: vectors x dim x bytes per value (BM25: its postings)"
    )


class QueryResult(BaseModel):
    metrics: dict[str, float]
    top: list[str] = Field(description="the top-10 page ids, best first")


class QueryRecord(BaseModel):
    query: str
    page_ids: list[str]
    kind: str | None = None
    results: dict[str, QueryResult] = Field(description="by model name")


class Report(BaseModel):
    """What `pagefit eval` measured; written as report.json."""

    corpus: str
    queries: int
    pages: int | None = None
    metrics: list[str] = Field(default_factory=lambda: list(METRICS))
    models: list[ModelResult]
    per_query: dict[str, QueryRecord] = Field(description="by query id")
    settings: dict[str, Any] = Field(default_factory=dict, description="the resolved evaluation config")
    pagefit_version: str | None = None
    created: str | None = None

    def model(self, name: str) -> ModelResult:
        """The entry called `name` (KeyError listing the names when there is none)."""
        for entry in self.models:
            if entry.name == name:
                return entry
        raise KeyError(f"no model {name!r} in the report; it has {[m.name for m in self.models]}")

    def per_query_scores(self, name: str, metric: str = PRIMARY_METRIC) -> dict[str, float]:
        """One metric of one entry for every query, by query id."""
        return {qid: record.results[name].metrics[metric] for qid, record in self.per_query.items()}

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, by_alias=True) + "\n"


def write_json_report(report: Report, path: str | Path) -> None:
    atomic_write_text(path, report.to_json())


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------


def format_metric(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def format_params(params: int | None) -> str:
    if params is None:
        return "–"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if params >= size:
            return f"{params / size:.1f}{unit}"
    return str(params)


def format_bytes(size: float | None) -> str:
    if size is None:
        return "–"
    for unit, scale in (("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size:.0f} B"


def format_interval(interval: tuple[float, float] | None) -> str:
    return "–" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]"


def format_comparison(cmp: Comparison | None) -> str:
    if cmp is None:
        return "baseline"
    lo, hi = cmp.ci95
    return f"{cmp.ndcg_at_10_diff:+.4f} [{lo:+.4f}, {hi:+.4f}] p={cmp.p_value:.3g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown_report(report: Report) -> str:
    """report.md: the metric table, significance, Matryoshka dims and per-kind tables."""
    lines = [
        "# pagefit evaluation",
        "",
        f"Corpus `{report.corpus}`: {report.pages} pages, {report.queries} queries. "
        "Ties are broken by page id (ascending).",
        "",
        "## Metrics",
        "",
    ]
    header = [
        "model",
        "params",
        *report.metrics,
        f"{PRIMARY_METRIC} 95% CI",
        f"Δ{PRIMARY_METRIC} vs first [95% CI] p",
    ]
    rows = [
        [
            m.name,
            format_params(m.params),
            *(format_metric(m.metrics.get(k)) for k in report.metrics),
            format_interval(m.ci95.get(PRIMARY_METRIC)),
            format_comparison(m.vs_first),
        ]
        for m in report.models
    ]
    lines += _table(header, rows)
    dims = sorted({int(d) for m in report.models for d in m.by_dim}, reverse=True)
    if dims:
        lines += ["", f"## Matryoshka dimensions ({PRIMARY_METRIC})", ""]
        rows = [
            [
                m.name,
                format_metric(m.metrics[PRIMARY_METRIC]) + f" ({m.dim})",
                *(format_metric(m.by_dim.get(str(d), {}).get(PRIMARY_METRIC)) for d in dims),
            ]
            for m in report.models
            if m.by_dim
        ]
        lines += _table(["model", "full (dim)", *map(str, dims)], rows)
    kinds = sorted({kind for m in report.models for kind in m.per_kind})
    if kinds:
        lines += ["", f"## By query kind ({PRIMARY_METRIC})", ""]
        rows = [
            [m.name, *(format_metric(m.per_kind.get(kind, {}).get(PRIMARY_METRIC)) for kind in kinds)]
            for m in report.models
        ]
        lines += _table(["model", *kinds], rows)
    described = [m for m in report.models if m.settings and m.reranks is None]
    if described:
        lines += ["", "## Settings", ""]
        lines += [f"- {m.name}: " + ", ".join(f"{k} `{v}`" for k, v in m.settings.items()) for m in described]
    from pagefit.evaluation.rerank import rerank_markdown

    lines += rerank_markdown(report)
    lines += ["", "## Storage and timing", ""]
    rows = [
        [
            m.name,
            format_bytes(m.bytes_per_page),
            format_metric(m.vectors_per_page, 1),
            format_metric(m.latency_ms, 1),
            *(
                format_metric(m.timing.get(k), 2)
                for k in ("encode_pages", "encode_queries", "search", "rerank")
            ),
        ]
        for m in report.models
    ]
    lines += _table(
        [
            "model",
            "bytes/page",
            "vectors/page",
            "ms/query",
            "encode pages s",
            "encode queries s",
            "search s",
            "rerank s",
        ],
        rows,
    )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Terminal
# ----------------------------------------------------------------------------------------------


def rich_table(report: Report) -> Table:
    """The headline metrics as a Rich table (the CLI prints it); fits an 80-column terminal."""
    from rich.table import Table

    table = Table(title=f"{report.queries} queries, {report.pages} pages", title_justify="left")
    table.add_column("model", style="bold", overflow="fold")
    table.add_column("params", justify="right")
    shown = ["ndcg@10", "recall@10", "recall@100"]
    for metric in shown:
        table.add_column(metric.replace("recall", "R"), justify="right")
    table.add_column("Δndcg@10\n[95% CI]", justify="right", no_wrap=True)
    table.add_column("p", justify="right")
    for m in report.models:
        if m.vs_first is None:
            diff, p = "baseline", ""
        else:
            lo, hi = m.vs_first.ci95
            colour = "green" if lo > 0 else "red" if hi < 0 else "yellow"
            diff = f"[{colour}]{m.vs_first.ndcg_at_10_diff:+.3f}\n[{lo:+.3f}, {hi:+.3f}][/]"
            p = f"{m.vs_first.p_value:.2g}"
        table.add_row(
            m.name, format_params(m.params), *(format_metric(m.metrics.get(k), 3) for k in shown), diff, p
        )
    return table
