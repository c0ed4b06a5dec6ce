"""Matryoshka sweep: `pagefit eval --dims` (encode once, truncate) vs re-encoding per dimension.

The per-dimension baseline is what the article's script does: one Sentence Transformers
`InformationRetrievalEvaluator(truncate_dim=d)` per dimension, each encoding queries and corpus again.
Same model, same corpus, same process; the pagefit side starts with an empty embedding cache.

Run by hand or by `make bench` (never by the tests):

    .venv/bin/python benchmarks/eval_sweep.py [--model ocr-minilm --docs 8 --pages 10 --dims 384,256,...]

Prints both times, their ratio (goal >= 6x), the time of a second (cached) pagefit sweep, and the
largest difference between the two sides' metrics at every dimension (they must be identical).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

DEFAULT_DIMS = "384,256,192,128,96,64,32"


def build_corpus(work: Path, docs: int, pages: int) -> tuple[Path, Path]:
    """Sample PDF reports (text layer, no OCR needed) ingested into a corpus, and their queries."""
    from pagefit.demo.documents import write_sample_documents
    from pagefit.ingest import ingest

    sample = write_sample_documents(work / "sample", n_docs=docs, pages_per_doc=pages, with_images=False)
    ingest([sample.docs_dir], work / "corpus", ocr="never", show_progress=False)
    return work / "corpus", sample.queries_path


def per_dim_reencode(model, corpus: Path, queries_path: Path, dims: list[int], batch_size: int) -> dict:
    """The article's way: one InformationRetrievalEvaluator per dimension, each re-encoding everything."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from pagefit.corpus import corpus_image_paths, load_corpus
    from pagefit.queries import read_queries

    pages = load_corpus(corpus)
    queries = read_queries(queries_path)
    docs = dict(zip(pages["page_id"], corpus_image_paths(corpus, pages), strict=True))
    results = {}
    for dim in dims:
        evaluator = InformationRetrievalEvaluator(
            queries={q.query_id: q.query for q in queries},
            corpus=docs,
            relevant_docs={q.query_id: set(q.page_ids) for q in queries},
            ndcg_at_k=[1, 5, 10],
            mrr_at_k=[10],
            map_at_k=[100],
            precision_recall_at_k=[1, 5, 10, 100],
            accuracy_at_k=[1],
            batch_size=batch_size,
            truncate_dim=dim,
        )
        results[dim] = evaluator(model)
    return results


class EncodeCounter:
    """Counts the documents a model encodes (wraps the instance's `encode_document`)."""

    def __init__(self, model) -> None:
        self.count = 0
        self._encode = model.encode_document
        model.encode_document = self

    def __call__(self, inputs, *args, **kwargs):
        self.count += len(inputs) if isinstance(inputs, list) else 1
        return self._encode(inputs, *args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ocr-minilm", help="model name or folder")
    parser.add_argument("--docs", type=int, default=8)
    parser.add_argument("--pages", type=int, default=10, help="pages per document")
    parser.add_argument("--dims", default=DEFAULT_DIMS, help="7 Matryoshka dims, comma-separated")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds; the fastest of each side counts"
    )
    args = parser.parse_args()
    dims = [int(d) for d in args.dims.split(",")]
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="pagefit-bench-") as tmp:
        work = Path(tmp)
        os.environ["PAGEFIT_CACHE_DIR"] = str(work / "cache")  # ingest fills its text cache: no OCR below
        from pagefit.evaluation import evaluate
        from pagefit.models import load_model

        corpus, queries = build_corpus(work, args.docs, args.pages)
        model = load_model(args.model)
        counter = EncodeCounter(model)
        n_queries = sum(1 for line in queries.read_text().splitlines() if line.strip())
        print(f"model {args.model}, corpus {args.docs * args.pages} pages, {n_queries} queries, dims {dims}")

        def sweep():
            return evaluate(
                corpus, queries, {"m": model}, dims=dims, batch_size=args.batch_size, show_progress=False
            )

        times: dict[str, list[float]] = {"reencode": [], "sweep": [], "cached": []}
        encoded: dict[str, int] = {}
        for _ in range(args.rounds):  # alternate the sides so that machine load hits both alike
            shutil.rmtree(work / "cache" / "embeddings", ignore_errors=True)
            for side, run in (("sweep", sweep), ("cached", sweep)):
                before, start = counter.count, time.perf_counter()
                report = run()
                times[side].append(time.perf_counter() - start)
                encoded[side] = counter.count - before
            before, start = counter.count, time.perf_counter()
            baseline = per_dim_reencode(model, corpus, queries, dims, args.batch_size)
            times["reencode"].append(time.perf_counter() - start)
            encoded["reencode"] = counter.count - before

    best = {side: min(values) for side, values in times.items()}
    entry = report.models[0]
    worst = 0.0
    for dim in dims:
        ours = entry.by_dim[str(dim)]
        worst = max(worst, *(abs(value - baseline[dim][f"cosine_{name}"]) for name, value in ours.items()))
    print(
        f"per-dim re-encode (InformationRetrievalEvaluator x{len(dims)}): {best['reencode']:8.2f} s, {encoded['reencode']} pages encoded"
    )
    print(
        f"pagefit eval --dims, empty cache (encode once):     {best['sweep']:8.2f} s, {encoded['sweep']} pages encoded"
    )
    print(
        f"pagefit eval --dims, second run (cached):           {best['cached']:8.2f} s, {encoded['cached']} pages encoded"
    )
    print(
        f"speed-up: {best['reencode'] / best['sweep']:.1f}x with an empty cache (goal >= 6x), "
        f"{best['reencode'] / best['cached']:.1f}x cached (fastest of {args.rounds} alternating rounds)"
    )
    print(f"largest metric difference over {len(dims)} dims x {len(entry.metrics)} metrics: {worst:.2e}")
    for dim in dims:
        ours, theirs = entry.by_dim[str(dim)]["ndcg@10"], baseline[dim]["cosine_ndcg@10"]
        print(f"  dim {dim:5d}: ndcg@10 {ours:.4f} (re-encode {theirs:.4f})")
    from _common import Goal, report

    report(
        "eval_sweep",
        [
            Goal(f"{len(dims)}-dim Matryoshka sweep (empty cache) vs per-dim re-encode", best["reencode"] / best["sweep"],
                 6.0, detail=f"{best['reencode']:.1f} s vs {best['sweep']:.1f} s"),
            Goal("same sweep, second run (cached) vs re-encode", best["reencode"] / best["cached"], 6.0,
                 detail=f"{best['reencode']:.1f} s vs {best['cached']:.2f} s"),
            Goal("largest metric difference sweep vs re-encode", worst, 1e-6, unit="", higher_is_better=False,
                 detail=f"{len(dims)} dims x {len(entry.metrics)} metrics"),
        ],
        notes=[f"{args.model}, {args.docs * args.pages} pages, {n_queries} queries, dims {dims}; "
               f"pages encoded: re-encode {encoded['reencode']}, sweep {encoded['sweep']}, cached {encoded['cached']}"],
    )  # fmt: skip
    if worst > 1e-6:
        raise SystemExit("metrics differ between the cached sweep and per-dim re-encoding")


if __name__ == "__main__":
    main()
