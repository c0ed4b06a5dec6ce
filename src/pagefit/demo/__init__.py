"""`pagefit demo`: the whole road on real PDFs, judged by hand-written questions, on a laptop CPU.

The corpus ships with pagefit (`pagefit.demo.shipped`): R package vignettes from Debian packages, born-digital
PDFs with tables, figures and domain vocabulary. The road runs through the same library functions the CLI
verbs call:

ingest the training documents -> pairs (synthetic queries from page text, split by document) -> mine hard
negatives -> ingest the held-out documents (only now: none of their pages can be a training row or a
negative) -> train ocr-minilm -> eval on the hand-written questions (untrained vs finetuned vs BM25 vs both
weighted hybrids, paired CIs and p-values) and on the synthetic eval split -> index.

The text layer is read by default (fast); `scanned=True` reads every page through OCR instead, as for scans.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoResult", "demo"]

logger = logging.getLogger(__name__)

BASE_MODEL = "ocr-minilm"
UNTRAINED, FINETUNED = "untrained", "finetuned"
HYBRID_UNTRAINED, HYBRID_FINETUNED = f"hybrid(bm25+{UNTRAINED})", f"hybrid(bm25+{FINETUNED})"
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class _Size:
    per_page: int  # synthetic queries per training page
    spans: int  # crops of running text per page, on top of per_page (`TextQueryGenerator`)
    num_negatives: int
    epochs: float
    max_steps: int | None
    batch_size: int


FULL = _Size(per_page=3, spans=2, num_negatives=1, epochs=1, max_steps=None, batch_size=32)
QUICK = _Size(per_page=2, spans=1, num_negatives=1, epochs=1, max_steps=2, batch_size=8)


@dataclass
class Comparison:
    """`candidate` against `baseline` on per-query NDCG@10 of the hand-written questions."""

    baseline: str
    candidate: str
    baseline_ndcg: float
    candidate_ndcg: float
    diff: float
    ci95: tuple[float, float]
    p_value: float


@dataclass
class DemoResult:
    out: Path
    report_dir: Path  # the report on the hand-written questions
    synthetic_report_dir: Path  # the report on the synthetic eval split
    model_dir: Path
    questions: int
    ndcg: dict[str, float]  # NDCG@10 by report entry on the hand-written questions
    model: Comparison  # finetuned vs untrained, each alone
    hybrid: Comparison  # BM25 + finetuned vs BM25 + untrained (what `index --hybrid` deploys)
    verdict: str
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    reranker: dict[str, Any] | None = None  # retrieve vs retrieve + rerank, when the demo trained one


class _Steps:
    """Prints one header line a step and records how long each took."""

    def __init__(self, console, total: int) -> None:
        self.console, self.total, self.n = console, total, 0
        self.timings: dict[str, float] = {}

    def run(self, name: str, what: str, fn, *args, **kwargs):
        self.n += 1
        self.console.rule(f"[bold]{self.n}/{self.total} {name}[/] — {what}", align="left")
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings[name] = time.perf_counter() - start
        self.console.print(f"[dim]{name} took {self.timings[name]:.1f} s[/]")
        return result


def demo(
    out: str | os.PathLike[str] = "demo-output",
    *,
    quick: bool = False,
    scanned: bool = False,
    reranker: bool = False,
    seed: int = 0,
    fresh: bool = False,
    show_progress: bool = True,
) -> DemoResult:
    """Run the whole road on the shipped PDFs and write everything under `out`.

    Args:
        out: working folder (corpus, pairs, mined, model, reports, indexes).
        quick: a smoke test: five small documents and two training steps (its numbers mean nothing).
        scanned: read every page through OCR instead of its text layer (much slower: OCR is the CPU's bottleneck).
        reranker: also train the CPU reranker and report retrieve vs retrieve + rerank.
        seed: seed of the split, the synthetic queries and the training.
        fresh: delete `out` first (the OCR and embedding caches are kept).
        show_progress: progress bars.
    """
    from rich.console import Console

    from pagefit.demo.shipped import shipped_corpus

    size = QUICK if quick else FULL
    root = Path(out)
    if fresh:
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True, soft_wrap=True)  # never fold paths and commands people copy
    shipped = shipped_corpus(quick=quick)
    steps = _Steps(console, total=9 + reranker)
    started = time.perf_counter()
    corpus = root / "corpus"
    _train_road(steps, console, shipped, root, corpus, size, seed, scanned, show_progress)
    reranker_dir = _train_reranker(steps, root, size, seed, show_progress) if reranker else None
    report, synthetic = _evaluate(steps, shipped, root, corpus, reranker_dir, show_progress)
    steps.run("index", "finetuned and untrained indexes of the corpus for search and serve (from cached embeddings)",
              _build_indexes, corpus, root, show_progress)  # fmt: skip
    result = _result(root, report, synthetic, started, steps.timings)
    _write_summary(result)
    from pagefit.demo.summary import print_summary

    print_summary(console, result, report, synthetic)
    return result


def _train_road(steps, console, shipped, root: Path, corpus: Path, size: _Size, seed: int, scanned: bool,
                show_progress: bool) -> None:  # fmt: skip
    """ingest (training documents) -> pairs -> mine -> ingest (held-out documents) -> train."""
    from pagefit.ingest import ingest
    from pagefit.mine import mine
    from pagefit.pairs import pairs
    from pagefit.querygen.text import TextQueryGenerator
    from pagefit.train import train

    ocr = "always" if scanned else "auto"
    reading = "page images through OCR" if scanned else "page images + PDF text layer"
    ingested = steps.run("ingest", f"{len(shipped.train)} training PDFs: {reading}", ingest, shipped.train,
                         corpus, ocr=ocr, prune=True, show_progress=show_progress)  # fmt: skip
    # prune: the held-out documents of an earlier run leave the corpus; they come back only after mining.
    console.print(f"{ingested.pages} pages from {ingested.documents} documents")
    paired = steps.run("pairs", "synthetic queries from page text, split by document", pairs, corpus,
                       root / "pairs", generate=TextQueryGenerator(spans_per_page=size.spans, seed=seed),
                       per_page=size.per_page, eval_fraction=0.2, seed=seed,
                       show_progress=show_progress)  # fmt: skip
    console.print(f"{paired.train_queries} train / {paired.eval_queries} eval queries; kinds {paired.kinds}")
    steps.run("mine", f"{size.num_negatives} hard negative(s) per query with {BASE_MODEL}", mine, root / "pairs",
              corpus, BASE_MODEL, root / "mined", num_negatives=size.num_negatives,
              show_progress=show_progress)  # fmt: skip
    held = steps.run("ingest (held out)", f"{len(shipped.heldout)} held-out PDFs join the corpus, after mining",
                     ingest, shipped.heldout, corpus, ocr=ocr, show_progress=show_progress)  # fmt: skip
    console.print(f"{held.pages - ingested.pages} held-out pages; {len(shipped.questions)} hand-written "
                  "questions about them")  # fmt: skip
    model_dir = root / "model"
    shutil.rmtree(model_dir, ignore_errors=True)  # the demo retrains from the base model every run
    steps.run("train", f"finetune {BASE_MODEL} (the ocr-minilm preset) on the mined pairs", train,
              preset="ocr-minilm", data=str(root / "mined"), output=str(model_dir), epochs=size.epochs,
              max_steps=size.max_steps, batch_size=size.batch_size, seed=seed,
              show_progress=show_progress)  # fmt: skip


def _train_reranker(steps, root: Path, size: _Size, seed: int, show_progress: bool) -> Path:
    from pagefit.demo.rerank import train_demo_reranker

    return steps.run("train-reranker", "a cross-encoder (MiniLM, new head) on the mined pairs' page text",
                     train_demo_reranker, root, root / "model", num_negatives=size.num_negatives,
                     max_steps=size.max_steps, batch_size=size.batch_size, seed=seed,
                     show_progress=show_progress)  # fmt: skip


def _evaluate(steps, shipped, root: Path, corpus: Path, reranker_dir: Path | None, show_progress: bool):
    """The report on the hand-written questions (`report/`) and on the synthetic eval split (`report-synthetic/`)."""
    from pagefit.evaluation import evaluate
    from pagefit.queries import Query

    models = [(UNTRAINED, BASE_MODEL), (FINETUNED, str(root / "model"))]
    rerank: dict[str, Any] = {}
    if reranker_dir is not None:
        from pagefit.demo.rerank import RERANK_TOP_K

        rerank = {"reranker": str(reranker_dir), "rerank_top_k": RERANK_TOP_K}
    questions = [Query(query_id=q["query_id"], query=q["query"], page_ids=[q["page_id"]], kind=q.get("kind"))
                 for q in shipped.questions]  # fmt: skip
    report = steps.run("eval", f"{len(questions)} hand-written questions on the held-out documents, over the "
                       "whole corpus: untrained vs finetuned vs BM25 vs the weighted hybrids", evaluate, corpus,
                       questions, models, bm25=True, hybrid="weighted", out=root / "report",
                       show_progress=show_progress, **rerank)  # fmt: skip
    synthetic = steps.run("eval (synthetic)", "the same entries on the synthetic eval split of the training "
                          "documents", evaluate, corpus, root / "pairs" / "eval_queries.jsonl", models, bm25=True,
                          hybrid="weighted", out=root / "report-synthetic", show_progress=show_progress)  # fmt: skip
    return report, synthetic


def _build_indexes(corpus: Path, root: Path, show_progress: bool) -> None:
    from pagefit.index import index

    index(corpus, root / "model", root / "index", hybrid=True, show_progress=show_progress)
    index(corpus, BASE_MODEL, root / "index-base", hybrid=True, show_progress=show_progress)


def compare_entries(report, baseline: str, candidate: str) -> Comparison:
    """`candidate` against `baseline` on the report's per-query NDCG@10, with pagefit's paired test."""
    from pagefit.evaluation.significance import compare_paired

    base, cand = report.per_query_scores(baseline), report.per_query_scores(candidate)
    ids = sorted(base)
    cmp = compare_paired([base[i] for i in ids], [cand[i] for i in ids])
    return Comparison(baseline, candidate, report.model(baseline).metrics["ndcg@10"],
                      report.model(candidate).metrics["ndcg@10"], cmp.diff, cmp.ci95, cmp.p_value)  # fmt: skip


def verdict_line(model: Comparison, hybrid: Comparison, questions: int) -> str:
    """One line a newcomer can believe: what training bought, alone and in the deployed hybrid."""

    def said(c: Comparison, what: str) -> str:
        numbers = f"{c.baseline_ndcg:.3f} -> {c.candidate_ndcg:.3f} NDCG@10, {c.diff:+.3f}, p={c.p_value:.2g}"
        if c.diff > 0 and c.p_value < SIGNIFICANCE:
            return f"finetuning improves {what} ({numbers})"
        if c.diff < 0 and c.p_value < SIGNIFICANCE:
            return f"finetuning LOWERS {what} ({numbers})"
        direction = "no significant change" if c.diff >= 0 else "a non-significant loss"
        return f"{direction} for {what} ({numbers})"

    return (
        f"verdict on {questions} held-out hand-written questions: {said(model, 'the model alone')}; "
        f"{said(hybrid, 'the deployed BM25 hybrid')}"
    )


def _result(root: Path, report, synthetic, started: float, timings: dict[str, float]) -> DemoResult:
    model = compare_entries(report, UNTRAINED, FINETUNED)
    hybrid = compare_entries(report, HYBRID_UNTRAINED, HYBRID_FINETUNED)
    rerank = None
    reranked = [m for m in report.models if m.reranks and m.vs_retriever is not None]
    if reranked:
        rerank = {m.reranks: {"retrieve": report.model(m.reranks).metrics["ndcg@10"],
                              "rerank": m.metrics["ndcg@10"], "diff": m.vs_retriever.ndcg_at_10_diff,
                              "p_value": m.vs_retriever.p_value} for m in reranked}  # fmt: skip
    return DemoResult(
        out=root,
        report_dir=root / "report",
        synthetic_report_dir=root / "report-synthetic",
        model_dir=root / "model",
        questions=report.queries,
        ndcg={m.name: m.metrics["ndcg@10"] for m in report.models},
        model=model,
        hybrid=hybrid,
        verdict=verdict_line(model, hybrid, report.queries),
        seconds=time.perf_counter() - started,
        timings=timings,
        reranker=rerank,
    )


def _write_summary(result: DemoResult) -> None:
    import json

    from pagefit._io import atomic_write_text

    data = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()}
    atomic_write_text(result.out / "demo_summary.json", json.dumps(data, indent=2) + "\n")
