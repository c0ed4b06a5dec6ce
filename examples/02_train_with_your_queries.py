"""Journey 2: train on your own (query, page) pairs, e.g. real search logs or hand-written questions.

queries file -> pairs (split by document) -> mine hard negatives -> train -> evaluate base vs finetuned
(and BM25) on your held-out queries, with a paired bootstrap CI and a randomization p-value.

    HF_HUB_OFFLINE=1 .venv/bin/python examples/02_train_with_your_queries.py CORPUS QUERIES OUT

CORPUS is a folder from `pagefit ingest` (or step 1 of example 01). QUERIES is JSON Lines (or CSV/TSV),
one query a line: {"query": "...", "page_id": "reports/annual-2023#p12"}, or "page_ids": [...] for
several relevant pages, or "source": "reports/annual-2023.pdf" + "page_number": 12 instead of a page id.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pagefit.errors import PagefitError
from pagefit.evaluation import evaluate
from pagefit.mine import mine
from pagefit.pairs import pairs
from pagefit.train import list_presets, train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path, help="a corpus folder from `pagefit ingest`")
    parser.add_argument("queries", type=Path, help="your queries file (JSONL, CSV or TSV)")
    parser.add_argument("out", type=Path, help="working folder: pairs/, mined/, model/, report/")
    parser.add_argument(
        "--preset", default="ocr-minilm", choices=sorted(list_presets()), help="training recipe"
    )
    parser.add_argument("--mine-model", default="ocr-minilm", help="model that finds the hard negatives")
    parser.add_argument("--negatives", type=int, default=3, help="hard negatives mined per query")
    parser.add_argument(
        "--eval-fraction", type=float, default=0.2, help="share of queries held out (by document)"
    )
    parser.add_argument(
        "--max-steps", type=int, default=None, help="stop training early (default: the preset's epochs)"
    )
    args = parser.parse_args()

    # 1. Pairs: your queries, checked against the corpus, split so that no document is in both splits.
    split = pairs(args.corpus, args.out / "pairs", queries=args.queries, eval_fraction=args.eval_fraction)
    print(
        f"{split.train_queries} train / {split.eval_queries} held-out queries ({len(split.eval_docs)} documents)"
    )

    # 2. Mine: the pages most similar to each query that are not its page become its hard negatives.
    mine(args.out / "pairs", args.corpus, args.mine_model, args.out / "mined", num_negatives=args.negatives)

    # 3. Train: the preset's recipe (loss, batch, learning rate, Matryoshka dims) on the mined pairs.
    trained = train(preset=args.preset, data=str(args.out / "mined"), output=str(args.out / "model"),
                    max_steps=args.max_steps)  # fmt: skip
    base = trained.config.model  # what the preset started from (None for a composed Router)

    # 4. Evaluate on the held-out queries over the whole corpus; the first model is the reference.
    models = ([("base", base)] if base else []) + [("finetuned", trained.output_dir)]
    report = evaluate(
        args.corpus, args.out / "pairs" / "eval_queries.jsonl", models, bm25=True, out=args.out / "report"
    )
    for m in report.models:
        line = f"{m.name:<10} NDCG@10 {m.metrics['ndcg@10']:.3f}  recall@5 {m.metrics['recall@5']:.3f}"
        if m.vs_first is not None:
            low, high = m.vs_first.ci95
            line += (
                f"  Δ vs {m.vs_first.baseline} {m.vs_first.ndcg_at_10_diff:+.3f} [{low:+.3f}, {high:+.3f}]"
            )
            line += f" p={m.vs_first.p_value:.3g} ({m.vs_first.wins} wins, {m.vs_first.losses} losses)"
        print(line)
    print(f"report: {args.out / 'report' / 'report.html'}; model: {trained.output_dir}")


if __name__ == "__main__":
    try:
        main()
    except PagefitError as error:
        sys.exit(f"pagefit: {error}")
