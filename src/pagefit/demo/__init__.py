"""`pagefit demo`: the whole road on a generated corpus, on a laptop CPU.

documents -> ingest -> pairs (text generator, split by document) -> mine -> eval (base ocr-minilm,
BM25) -> train ocr-minilm -> eval again -> report. Every stage is the real one, called through the
same library functions the CLI verbs call; the OCR and embedding caches make a second run faster.

The held-out evaluation uses the natural questions written with the sample documents (not the
synthetic training queries), restricted to the documents of the eval split, searched over the WHOLE
corpus: the finetuned model never saw those documents with any query.
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
    per_page: int
    num_negatives: int
    epochs: float
    max_steps: int | None
    batch_size: int


FULL = _Size(n_docs=10, pages_per_doc=8, per_page=4, num_negatives=3, epochs=1, max_steps=None, batch_size=32)
QUICK = _Size(n_docs=4, pages_per_doc=3, per_page=2, num_negatives=1, epochs=1, max_steps=2, batch_size=8)


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


def _eval_queries(sample_queries: Path, eval_docs: list[str], out: Path) -> Path:
    """The sample's natural questions about eval-split documents, in the queries format."""
    from pagefit.queries import read_queries, write_queries

    docs = set(eval_docs)
    held_out = [q for q in read_queries(sample_queries) if all(p.split("#p")[0] in docs for p in q.page_ids)]
    if not held_out:
        raise PagefitError("the eval split has no held-out questions: use more documents")
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

    from pagefit.demo.documents import write_sample_documents
    from pagefit.evaluation import evaluate
    from pagefit.ingest import ingest
    from pagefit.mine import mine
    from pagefit.pairs import pairs
    from pagefit.train import train

    size = QUICK if quick else FULL
    root = Path(out)
    if fresh:
        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True, soft_wrap=True)  # never fold paths and commands people copy
    steps = _Steps(console, total=8)
    started = time.perf_counter()

    sample = steps.run("documents", f"{size.n_docs} generated reports with prose, tables and charts",
                       write_sample_documents, root / "sample", n_docs=size.n_docs,
                       pages_per_doc=size.pages_per_doc, seed=seed)  # fmt: skip
    corpus = root / "corpus"
    ingested = steps.run("ingest", "page images + text layer (OCR for scans)", ingest, [sample.docs_dir], corpus,
                         show_progress=show_progress)  # fmt: skip
    console.print(
        f"{ingested.pages} pages from {ingested.documents} documents ({ingested.skipped} unchanged)"
    )
    paired = steps.run("pairs", "synthetic queries from page text, split by document", pairs, corpus,
                       root / "pairs", generate="text", per_page=size.per_page, eval_fraction=0.3, seed=seed,
                       show_progress=show_progress)  # fmt: skip
    console.print(f"{paired.train_queries} train / {paired.eval_queries} eval queries; kinds {paired.kinds}")
    eval_file = _eval_queries(sample.queries_path, paired.eval_docs, root / "eval_queries.jsonl")
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
    before = steps.run("eval (before)", f"{BASE_MODEL} and BM25 on held-out questions", evaluate, corpus,
                       eval_file, [BASE_MODEL], bm25=True, show_progress=show_progress)  # fmt: skip
    console.print(f"before training: {BASE_MODEL} NDCG@10 {before.models[0].metrics['ndcg@10']:.3f}")
    model_dir = root / "model"
    shutil.rmtree(model_dir, ignore_errors=True)  # the demo retrains from the base model every run
    steps.run("train", f"finetune {BASE_MODEL} (CMNRL + Matryoshka) on the mined pairs", train,
              preset="ocr-minilm", data=str(root / "mined"), output=str(model_dir), epochs=size.epochs,
              max_steps=size.max_steps, batch_size=size.batch_size, seed=seed,
              show_progress=show_progress)  # fmt: skip
    report_dir = root / "report"
    report = steps.run("eval (after)", "base vs finetuned vs BM25, with significance", evaluate, corpus, eval_file,
                       [(BASE_MODEL, BASE_MODEL), ("finetuned", str(model_dir))], bm25=True,
                       dims=[384, 256, 128, 64], out=report_dir, show_progress=show_progress)  # fmt: skip
    from pagefit.index import index

    # Both indexes come from the embeddings eval just cached: no page is encoded again.
    steps.run("index", "finetuned and base indexes of the corpus for search and serve", _build_indexes, index,
              corpus, root, model_dir, show_progress)  # fmt: skip
    result = _result(root, report, report_dir, model_dir, started, steps.timings)
    _print_summary(console, result, corpus, model_dir)
    return result


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
    )


def _print_summary(console, r: DemoResult, corpus: Path, model_dir: Path) -> None:
    from pagefit.cli._app import app

    diff = r.after - r.before
    console.rule("[bold green]pagefit demo: done", align="left")
    console.print(
        f"NDCG@10 on {r.eval_queries} held-out questions: {BASE_MODEL} [bold]{r.before:.3f}[/] -> finetuned "
        f"[bold]{r.after:.3f}[/] ({diff:+.3f}, 95% CI [{r.ci95[0]:+.3f}, {r.ci95[1]:+.3f}], p={r.p_value:.3g})"
        + (f"; BM25 {r.bm25:.3f}" if r.bm25 is not None else ""),
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
