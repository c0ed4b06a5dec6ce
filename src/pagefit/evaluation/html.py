"""report.html: one self-contained file (plots and page thumbnails embedded as base64)."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pagefit._io import atomic_write_text
from pagefit.evaluation.metrics import PRIMARY_METRIC
from pagefit.evaluation.report import (
    Report,
    format_bytes,
    format_comparison,
    format_interval,
    format_metric,
    format_params,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["comparison_pair", "render_html", "write_html_report"]

logger = logging.getLogger(__name__)

THUMB_WIDTH = 150
TOP_SHOWN = 3
EXAMPLES_PER_SIDE = 5


def comparison_pair(report: Report) -> tuple[str, str] | None:
    """The two entries whose per-query wins and losses the report shows.

    The first entry against the best other retriever (by NDCG@10), or against the best other entry of
    any kind (BM25, reranked) when there is no other retriever.
    """
    if len(report.models) < 2:
        return None
    first, *others = report.models
    retrievers = [m for m in others if m.params is not None and m.reranks is None]
    best = max(retrievers or others, key=lambda m: m.metrics[PRIMARY_METRIC])
    return first.name, best.name


# ----------------------------------------------------------------------------------------------
# Plots (matplotlib, Agg: no display needed)
# ----------------------------------------------------------------------------------------------


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_params(report: Report) -> str | None:
    """Model size (parameters, log scale) vs NDCG@10; parameter-free baselines as dashed lines."""
    sized = [m for m in report.models if m.params]
    if not sized:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for m in sized:
        ax.scatter(m.params, m.metrics[PRIMARY_METRIC], s=40)
        ax.annotate(
            m.name,
            (m.params, m.metrics[PRIMARY_METRIC]),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    for m in report.models:
        if not m.params:
            ax.axhline(m.metrics[PRIMARY_METRIC], linestyle="--", color="grey", linewidth=1)
            ax.annotate(
                m.name,
                (0.01, m.metrics[PRIMARY_METRIC]),
                xycoords=("axes fraction", "data"),
                fontsize=8,
                color="grey",
            )
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel(PRIMARY_METRIC.upper())
    ax.set_title("Model size vs retrieval quality")
    ax.grid(alpha=0.3)
    return _png(fig)


def plot_storage(report: Report) -> str | None:
    """Bytes stored per page (log scale) vs NDCG@10: single-vector, multi-vector and BM25 entries."""
    sized = [m for m in report.models if m.bytes_per_page and m.reranks is None]
    if not sized:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for m in sized:
        marker = "s" if (m.vectors_per_page or 0) > 1 else "^" if m.params is None else "o"
        ax.scatter(m.bytes_per_page, m.metrics[PRIMARY_METRIC], s=40, marker=marker)
        ax.annotate(
            m.name,
            (m.bytes_per_page, m.metrics[PRIMARY_METRIC]),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel("bytes per page (log; o single-vector, ■ multi-vector, ▲ BM25 postings)")
    ax.set_ylabel(PRIMARY_METRIC.upper())
    ax.set_title("Storage vs retrieval quality")
    ax.grid(alpha=0.3)
    return _png(fig)


def plot_dims(report: Report) -> str | None:
    """Matryoshka dimension vs NDCG@10, one line per model (the full dimension included)."""
    swept = [m for m in report.models if m.by_dim]
    if not swept:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for m in swept:
        points = {int(d): values[PRIMARY_METRIC] for d, values in m.by_dim.items()}
        if m.dim:
            points.setdefault(m.dim, m.metrics[PRIMARY_METRIC])
        dims = sorted(points)
        ax.plot(dims, [points[d] for d in dims], marker="o", label=m.name)
    ax.set_xscale("log", base=2)
    ticks = sorted({d for m in swept for d in (*map(int, m.by_dim), m.dim) if d})
    ax.set_xticks(ticks, [str(d) for d in ticks])
    ax.minorticks_off()
    ax.set_xlabel("embedding dimension")
    ax.set_ylabel(PRIMARY_METRIC.upper())
    ax.set_title("Matryoshka truncation")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_wins_losses(report: Report, first: str, other: str) -> str:
    """Per-query NDCG@10 difference (other - first), sorted: wins green, losses red."""
    a, b = report.per_query_scores(first), report.per_query_scores(other)
    diffs = sorted((b[q] - a[q] for q in a), reverse=True)
    fig = _figure()
    ax = fig.add_subplot()
    colours = ["tab:green" if d > 0 else "tab:red" if d < 0 else "lightgrey" for d in diffs]
    ax.bar(range(len(diffs)), diffs, color=colours, width=0.9)
    ax.axhline(0, color="black", linewidth=0.8)
    wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
    ax.set_title(f"{other} vs {first}: {wins} wins, {losses} losses, {len(diffs) - wins - losses} ties")
    ax.set_xlabel("queries (sorted)")
    ax.set_ylabel(f"Δ {PRIMARY_METRIC.upper()}")
    return _png(fig)


# ----------------------------------------------------------------------------------------------
# Thumbnails and examples
# ----------------------------------------------------------------------------------------------


@dataclass
class _Thumbnails:
    """Page thumbnails as base64 JPEG, each made once per report."""

    image_paths: Mapping[str, str]
    cache: dict[str, str] = field(default_factory=dict)

    def __call__(self, page_id: str) -> str:
        if page_id not in self.cache:
            self.cache[page_id] = self._make(page_id)
        return self.cache[page_id]

    def _make(self, page_id: str) -> str:
        from PIL import Image

        path = self.image_paths.get(page_id)
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                image.thumbnail((THUMB_WIDTH, THUMB_WIDTH * 2))
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=70)
        except (OSError, TypeError, ValueError) as e:
            logger.warning("no thumbnail for page %s: %s", page_id, e)
            return ""
        return base64.b64encode(buffer.getvalue()).decode("ascii")


def _examples(report: Report, first: str, other: str, thumbs: _Thumbnails) -> list[dict]:
    """The queries where `other` gained and lost most against `first`, with their top pages."""
    diffs = sorted(
        (
            (r.results[other].metrics[PRIMARY_METRIC] - r.results[first].metrics[PRIMARY_METRIC], qid)
            for qid, r in report.per_query.items()
        ),
        key=lambda item: (-item[0], item[1]),
    )
    wins = [item for item in diffs if item[0] > 0][:EXAMPLES_PER_SIDE]
    losses = [item for item in reversed(diffs) if item[0] < 0][:EXAMPLES_PER_SIDE]
    examples = []
    for outcome, chosen in (("win", wins), ("loss", losses)):
        for diff, qid in chosen:
            record = report.per_query[qid]
            relevant = set(record.page_ids)

            def pages(ids: list[str], relevant: set[str] = relevant) -> list[dict]:
                return [{"page_id": p, "thumb": thumbs(p), "relevant": p in relevant} for p in ids]

            examples.append(
                {
                    "outcome": outcome,
                    "query_id": qid,
                    "query": record.query,
                    "diff": diff,
                    "relevant": pages(record.page_ids[:2]),
                    "columns": [
                        {
                            "name": name,
                            "ndcg": record.results[name].metrics[PRIMARY_METRIC],
                            "pages": pages(record.results[name].top[:TOP_SHOWN]),
                        }
                        for name in (first, other)
                    ],
                }
            )
    return examples


# ----------------------------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------------------------


def render_html(report: Report, image_paths: Mapping[str, str]) -> str:
    """The HTML text of the report; `image_paths` maps page ids to image files for thumbnails."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pagefit", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    env.filters.update(
        fmt=format_metric,
        params=format_params,
        vs_first=format_comparison,
        interval=format_interval,
        bytes=format_bytes,
    )
    pair = comparison_pair(report)
    thumbs = _Thumbnails(image_paths)
    kinds = sorted({kind for m in report.models for kind in m.per_kind})
    return env.get_template("report.html.j2").render(
        report=report,
        primary=PRIMARY_METRIC,
        kinds=kinds,
        params_plot=plot_params(report),
        dims_plot=plot_dims(report),
        storage_plot=plot_storage(report),
        pair=pair,
        wins_plot=plot_wins_losses(report, *pair) if pair else None,
        examples=_examples(report, *pair, thumbs) if pair else [],
        generated=report.created or datetime.now().isoformat(timespec="seconds"),
    )


def write_html_report(report: Report, path: str | Path, image_paths: Mapping[str, str]) -> None:
    atomic_write_text(path, render_html(report, image_paths))
