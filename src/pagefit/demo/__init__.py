"""`pagefit demo`: the whole road on a generated corpus, on a laptop CPU.

documents -> ingest the reports -> pairs (text generator, split by document) -> mine -> ingest the
manuals -> eval (base ocr-minilm, BM25) -> train ocr-minilm -> eval again -> report. Every stage is the
real one, called through the same library functions the CLI verbs call; the OCR and embedding caches
make a second run faster.

The model trains on annual reports only. The held-out evaluation uses natural questions about another
genre, equipment service manuals (`pagefit.demo.manuals`: other sections, vocabulary and layout), that
are ingested only after the training pairs and negatives were drawn, and are searched over the WHOLE
corpus (reports included): no page of them ever reaches training, and a gain on them is a gain on
documents unlike the training ones.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pagefit.errors import PagefitError

__all__ = ["DemoResult", "demo"]

logger = logging.getLogger(__name__)

BASE_MODEL = "ocr-minilm"


@dataclass(frozen=True)
class _Size:
    n_docs: int
    pages_per_doc: int
    n_manuals: int
    pages_per_manual: int
    per_page: int
    spans: int  # crops of running text per page, on top of per_page (`TextQueryGenerator`)
    num_negatives: int
    epochs: float
    max_steps: int | None
    batch_size: int


FULL = _Size(
    n_docs=10,
    pages_per_doc=8,
    n_manuals=4,
    pages_per_manual=5,
    per_page=4,
    spans=2,
    num_negatives=3,
    epochs=1,
    max_steps=None,
    batch_size=32,
)
QUICK = _Size(
    n_docs=4,
    pages_per_doc=3,
    n_manuals=2,
    pages_per_manual=3,
    per_page=2,
    spans=1,
    num_negatives=1,
    epochs=1,
    max_steps=2,
    batch_size=8,
)


@dataclass
class DemoResult:
    out: Path
    report_dir: Path
    model_dir: Path
    before: float  # NDCG@10 of the base model
    after: float  # NDCG@10 of the finetuned model
    ci95: tuple[float, float]
    p_value: float
    bm25: float | None
    eval_queries: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    hybrid: float | None = None  # NDCG@10 of BM25 + finetuned, weighted fusion


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


def _eval_queries(manual_queries: Path, out: Path) -> Path:
    """The natural questions about the held-out manuals, in the queries format."""
    from pagefit.queries import read_queries, write_queries

    held_out = read_queries(manual_queries)
    if not held_out:
        raise PagefitError("the held-out manuals have no questions: use more manuals")
    write_queries(out, held_out)
    return out


def demo(
    out: str | os.PathLike[str] = "demo-output",
    *,
    quick: bool = False,
    seed: int = 0,
    fresh: bool = False,
    show_progress: bool = True,
) -> DemoResult:
    """Run the whole road on generated documents and write everything under `out`.

    Args:
        out: working folder (documents, corpus, pairs, mined, model, report).
        quick: a reduced run (few pages, two training steps) to check the road works end to end.
        seed: seed of the documents, the split, the queries and the training.
        fresh: delete `out` first (the OCR and embedding caches are kept).
        show_progress: progress bars.
    """
    from rich.console import Console

    from pagefit.evaluation import evaluate
    from pagefit.ingest import ingest
    from pagefit.mine import mine
    from pagefit.pairs import pairs
    from pagefit.querygen.text import TextQueryGenerator
    from pagefit.train import train

    size = QUICK if quick else FULL
    root = Path(out)
    if fresh:
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True, soft_wrap=True)  # never fold paths and commands people copy
    steps = _Steps(console, total=10)
    started = time.perf_counter()

    sample = steps.run("documents", f"{size.n_docs} generated reports (training) and {size.n_manuals} "
                       "service manuals (held out)", _write_documents, root, size, seed)  # fmt: skip
    sample, manuals = sample
    corpus = root / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)  # the manuals must enter the corpus only after mining
    ingested = steps.run("ingest", "report pages: images + text layer (OCR for scans)", ingest,
                         [sample.docs_dir], corpus, show_progress=show_progress)  # fmt: skip
    console.print(
        f"{ingested.pages} pages from {ingested.documents} documents ({ingested.skipped} unchanged)"
    )
    paired = steps.run("pairs", "synthetic queries from page text, split by document", pairs, corpus,
                       root / "pairs", generate=TextQueryGenerator(spans_per_page=size.spans, seed=seed),
                       per_page=size.per_page, eval_fraction=0.3, seed=seed,
                       show_progress=show_progress)  # fmt: skip
    console.print(f"{paired.train_queries} train / {paired.eval_queries} eval queries; kinds {paired.kinds}")
    steps.run(
        "mine",
        f"{size.num_negatives} hard negatives per query with {BASE_MODEL}",
        mine,
        root / "pairs",
        corpus,
        BASE_MODEL,
        root / "mined",
        num_negatives=size.num_negatives,
        show_progress=show_progress,
    )
    steps.run("ingest (held out)", "the service manuals join the corpus, after mining", ingest,
              [manuals.docs_dir], corpus, show_progress=show_progress)  # fmt: skip
    eval_file = _eval_queries(manuals.queries_path, root / "eval_queries.jsonl")
    before = steps.run("eval (before)", f"{BASE_MODEL} and BM25 on held-out manual questions", evaluate, corpus,
                       eval_file, [BASE_MODEL], bm25=True, show_progress=show_progress)  # fmt: skip
    console.print(f"before training: {BASE_MODEL} NDCG@10 {before.models[0].metrics['ndcg@10']:.3f}")
    model_dir = root / "model"
    shutil.rmtree(model_dir, ignore_errors=True)  # the demo retrains from the base model every run
    trained = steps.run("train", f"finetune {BASE_MODEL} (the ocr-minilm preset) on the mined pairs", train,
              preset="ocr-minilm", data=str(root / "mined"), output=str(model_dir), epochs=size.epochs,
              max_steps=size.max_steps, batch_size=size.batch_size, seed=seed,
              show_progress=show_progress)  # fmt: skip
    if trained.summary.get("improved") is False:  # say it before any other number is shown
        from pagefit.train.card import train_line

        console.print(train_line(trained.summary, trained.base_metrics, trained.final_metrics, model_dir))
    from pagefit.demo.rerank import RERANK_TOP_K, print_rerank_summary, train_demo_reranker

    reranker = steps.run("train-reranker", "a cross-encoder (MiniLM, new head) on the mined pairs' page text",
                         train_demo_reranker, root, model_dir, num_negatives=size.num_negatives,
                         max_steps=size.max_steps, batch_size=size.batch_size, seed=seed,
                         show_progress=show_progress)  # fmt: skip
    report_dir = root / "report"
    report = steps.run("eval (after)", "base vs finetuned vs BM25, alone, fused with BM25 and reranked, with "
                       "significance", evaluate, corpus, eval_file,
                       [(BASE_MODEL, BASE_MODEL), ("finetuned", str(model_dir))], bm25=True, dims=[384, 256, 128, 64],
                       hybrid="weighted", reranker=str(reranker), rerank_top_k=RERANK_TOP_K, out=report_dir,
                       show_progress=show_progress)  # fmt: skip
    from pagefit.index import index

    # Both indexes come from the embeddings eval just cached: no page is encoded again.
    steps.run("index", "finetuned and base indexes of the corpus for search and serve", _build_indexes, index,
              corpus, root, model_dir, show_progress)  # fmt: skip
    result = _result(root, report, report_dir, model_dir, started, steps.timings)
    _print_summary(console, result, corpus, model_dir)
    print_rerank_summary(console, report)
    return result


def _write_documents(root: Path, size: _Size, seed: int):
    from pagefit.demo.documents import write_sample_documents, write_sample_manuals

    reports = write_sample_documents(root / "sample", n_docs=size.n_docs, pages_per_doc=size.pages_per_doc,
                                     seed=seed)  # fmt: skip
    manuals = write_sample_manuals(root / "manuals", n_manuals=size.n_manuals,
                                   pages_per_manual=size.pages_per_manual, seed=seed)  # fmt: skip
    return reports, manuals


def _build_indexes(index, corpus: Path, root: Path, model_dir: Path, show_progress: bool) -> None:
    index(corpus, model_dir, root / "index", hybrid=True, show_progress=show_progress)
    index(corpus, BASE_MODEL, root / "index-base", hybrid=True, show_progress=show_progress)


def _result(root, report, report_dir, model_dir, started, timings) -> DemoResult:
    by_name: dict[str, Any] = {m.name: m for m in report.models}
    base, tuned = by_name[BASE_MODEL], by_name["finetuned"]
    bm25 = by_name.get("bm25")
    return DemoResult(
        out=root,
        report_dir=report_dir,
        model_dir=model_dir,
        before=base.metrics["ndcg@10"],
        after=tuned.metrics["ndcg@10"],
        ci95=tuple(tuned.vs_first.ci95),
        p_value=tuned.vs_first.p_value,
        bm25=bm25.metrics["ndcg@10"] if bm25 else None,
        eval_queries=report.queries,
        seconds=time.perf_counter() - started,
        timings=timings,
        hybrid=hybrid.metrics["ndcg@10"] if (hybrid := by_name.get("hybrid(bm25+finetuned)")) else None,
    )


def _print_summary(console, r: DemoResult, corpus: Path, model_dir: Path) -> None:
    from pagefit.cli._app import app

    diff = r.after - r.before
    console.rule("[bold green]pagefit demo: done", align="left")
    console.print(
        f"NDCG@10 on {r.eval_queries} held-out questions about service manuals (a genre not trained on): {BASE_MODEL} [bold]{r.before:.3f}[/] -> finetuned "
        f"[bold]{r.after:.3f}[/] ({diff:+.3f}, 95% CI [{r.ci95[0]:+.3f}, {r.ci95[1]:+.3f}], p={r.p_value:.3g})"
        + (f"; BM25 {r.bm25:.3f}" if r.bm25 is not None else "")
        + (f"; BM25 + finetuned (weighted fusion) {r.hybrid:.3f}" if r.hybrid is not None else ""),
        highlight=False,
    )
    console.print(f"report: {r.report_dir / 'report.html'} (also report.md, report.json)")
    console.print(f"model:  {model_dir}  — total {r.seconds / 60:.1f} min")
    verbs = {c.name for c in app.registered_commands}
    if {"index", "search", "serve"} <= verbs:
        console.print(f"index: {r.out / 'index'} (finetuned), {r.out / 'index-base'} ({BASE_MODEL})")
        console.print("search your pages, and compare finetuned with base side by side in the browser:")
        console.print(f'  pagefit search {r.out / "index"} "your question" -k 5')
        console.print(f"  pagefit serve {r.out / 'index'} --compare {r.out / 'index-base'}")
    else:
        console.print("evaluate it on your own questions:")
        console.print(f"  pagefit eval --corpus {corpus} --queries QUERIES.jsonl --model {BASE_MODEL} "
                      f"--model {model_dir} --bm25 --out report")  # fmt: skip
