"""What `pagefit demo` prints at the end: the numbers, the report's path, the verdict and how to try it."""

from __future__ import annotations

from typing import Any

__all__ = ["print_summary"]


def _entry_line(report: Any, name: str) -> str:
    entry = report.model(name)
    cmp = entry.vs_first
    vs = "" if cmp is None else f"  ({cmp.ndcg_at_10_diff:+.3f} vs {cmp.baseline}, p={cmp.p_value:.2g})"
    return f"  {name:<26} {entry.metrics['ndcg@10']:.3f}{vs}"


def print_summary(console: Any, result: Any, report: Any, synthetic: Any) -> None:
    """The demo's closing lines; the last three are the report, the verdict and the serve command."""
    from pagefit.demo.rerank import print_rerank_summary

    console.rule("[bold green]pagefit demo: done", align="left")
    console.print(f"NDCG@10 on {result.questions} hand-written questions about the held-out documents "
                  "(searched over the whole corpus):", highlight=False)  # fmt: skip
    for entry in report.models:
        if not entry.reranks:
            console.print(_entry_line(report, entry.name), highlight=False)
    h = result.hybrid
    console.print(
        f"  {h.candidate} vs {h.baseline}: {h.diff:+.3f} (95% CI [{h.ci95[0]:+.3f}, {h.ci95[1]:+.3f}], "
        f"p={h.p_value:.2g})",
        highlight=False,
    )
    tuned, base = synthetic.model("finetuned"), synthetic.model("untrained")
    console.print(
        f"synthetic eval split ({synthetic.queries} generated queries, other training-side documents): "
        f"untrained {base.metrics['ndcg@10']:.3f} -> finetuned {tuned.metrics['ndcg@10']:.3f}; "
        f"report {result.synthetic_report_dir / 'report.html'}",
        highlight=False,
    )
    if result.reranker is not None:
        print_rerank_summary(console, report)
    console.print(f"model: {result.model_dir}; indexes: {result.out / 'index'} (finetuned), "
                  f"{result.out / 'index-base'} (untrained); total {result.seconds / 60:.1f} min", highlight=False)  # fmt: skip
    console.print(
        f"report: {result.report_dir / 'report.html'} (also report.json, report.md)", highlight=False
    )
    console.print(result.verdict, highlight=False)
    console.print(f"try it: pagefit serve {result.out / 'index'} --compare {result.out / 'index-base'}",
                  highlight=False)  # fmt: skip
