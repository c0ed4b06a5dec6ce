"""Journey 5: compare retrievers on your pages: several models, Matryoshka dimensions, BM25, a reranker.

Every model ranks every corpus page for every query; the report gives NDCG@10, recall, MRR, MAP, each
entry's difference with the FIRST model (paired bootstrap 95 % CI and randomization p-value), the
metrics at smaller embedding dimensions (from the cached full embeddings, no second encoding) and the
latency per query. Page embeddings are cached, so adding a model later re-encodes only that model.

    HF_HUB_OFFLINE=1 .venv/bin/python examples/05_compare_models.py CORPUS QUERIES \
        --model ocr-minilm --model finetuned=OUT/model --dims 256 128 64 [--reranker RERANKER] [--out report]

CORPUS is a folder from `pagefit ingest`; QUERIES a queries file (e.g. OUT/pairs/eval_queries.jsonl).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pagefit.errors import PagefitError
from pagefit.evaluation import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, help="a corpus folder from `pagefit ingest`")
    parser.add_argument("queries", type=Path, help="queries file (JSONL, CSV or TSV) with relevant page ids")
    parser.add_argument(
        "--model", action="append", dest="models", help="a model or NAME=MODEL; repeat it (first = baseline)"
    )
    parser.add_argument("--dims", type=int, nargs="*", default=[], help="Matryoshka dimensions to sweep")
    parser.add_argument("--no-bm25", dest="bm25", action="store_false", help="leave out the BM25 baseline")
    parser.add_argument("--reranker", default=None, help="a CrossEncoder reranking each entry's top k")
    parser.add_argument("--rerank-top-k", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("report"), help="report folder")
    args = parser.parse_args()

    # 1. Evaluate every entry on the same pages and queries; the first model is the reference.
    models = [tuple(m.split("=", 1)) if "=" in m else m for m in args.models or ["ocr-minilm"]]
    report = evaluate(args.corpus, args.queries, models, bm25=args.bm25, dims=args.dims,
                      reranker=args.reranker, rerank_top_k=args.rerank_top_k, out=args.out)  # fmt: skip

    # 2. One line per entry: quality, its difference with the first entry, and the cost per query.
    print(f"{report.queries} queries over {report.pages} pages")
    for m in report.models:
        line = f"{m.name:<24} NDCG@10 {m.metrics['ndcg@10']:.3f}  recall@10 {m.metrics['recall@10']:.3f}"
        if m.vs_first is not None:
            low, high = m.vs_first.ci95
            line += (
                f"  Δ {m.vs_first.ndcg_at_10_diff:+.3f} [{low:+.3f}, {high:+.3f}] p={m.vs_first.p_value:.3g}"
            )
        print(line + (f"  {m.latency_ms:.1f} ms/query" if m.latency_ms is not None else ""))

    # 3. The Matryoshka sweep: how much quality each smaller (cheaper to store) dimension keeps.
    for m in report.models:
        if m.by_dim:
            dims = ", ".join(f"{d}: {v['ndcg@10']:.3f}" for d, v in m.by_dim.items())
            print(f"{m.name:<24} NDCG@10 by dimension  {dims}")

    # 4. The report: report.html (plots, per-query results with page thumbnails), report.md, report.json.
    print(f"report: {args.out / 'report.html'}")


if __name__ == "__main__":
    try:
        main()
    except PagefitError as error:
        sys.exit(f"pagefit: {error}")
