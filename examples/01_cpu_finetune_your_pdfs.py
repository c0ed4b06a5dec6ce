"""Journey 1: finetune the CPU model on your own PDFs and measure the gain, with no labels and no GPU.

documents -> ingest -> pairs (synthetic queries from the page text, split by document) -> mine hard
negatives with `ocr-minilm` -> train the `ocr-minilm` preset -> evaluate base vs finetuned vs BM25 on
the held-out documents' queries (NDCG@10 with its 95 % confidence interval).

    HF_HUB_OFFLINE=1 .venv/bin/python examples/01_cpu_finetune_your_pdfs.py DOCS OUT [--max-steps N]

DOCS is a folder of PDFs and/or page images; OUT receives corpus/, pairs/, mined/, model/ and report/.
A second run reuses the OCR text and page embeddings (cached); remove OUT/model to train again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pagefit.errors import PagefitError
from pagefit.evaluation import evaluate
from pagefit.ingest import ingest
from pagefit.mine import mine
from pagefit.pairs import pairs
from pagefit.train import train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("docs", type=Path, help="folder of PDFs and/or page images")
    parser.add_argument("out", type=Path, help="working folder for every stage's output")
    parser.add_argument("--per-page", type=int, default=3, help="synthetic queries per page")
    parser.add_argument("--negatives", type=int, default=3, help="hard negatives mined per query")
    parser.add_argument("--max-steps", type=int, default=None, help="stop training early (default: 1 epoch)")
    parser.add_argument("--batch-size", type=int, default=32, help="in-batch negatives of the loss")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    corpus, model_dir = args.out / "corpus", args.out / "model"

    # 1. Ingest: every page becomes an image plus its text (PDF text layer, else OCR), cached.
    ingested = ingest([args.docs], corpus)
    print(
        f"ingested {ingested.pages} pages from {ingested.documents} documents ({len(ingested.rejects)} rejected)"
    )

    # 2. Pairs: synthetic queries written from each page's text; whole documents go to train or eval.
    split = pairs(corpus, args.out / "pairs", generate="text", per_page=args.per_page, seed=args.seed)
    print(
        f"{split.train_queries} train / {split.eval_queries} eval queries; eval documents: {split.eval_docs}"
    )

    # 3. Mine: for every query, the most similar pages that are not its page become hard negatives.
    mined = mine(args.out / "pairs", corpus, "ocr-minilm", args.out / "mined", num_negatives=args.negatives)
    print(f"mined rows: {mined.rows} (dropped for lack of negatives: {mined.dropped})")

    # 4. Train the CPU preset: MiniLM reading pages through OCR, CMNRL inside a Matryoshka loss.
    trained = train(preset="ocr-minilm", data=str(args.out / "mined"), output=str(model_dir),
                    max_steps=args.max_steps, batch_size=args.batch_size, seed=args.seed)  # fmt: skip
    print(f"model saved to {trained.output_dir}")

    # 5. Evaluate on queries about documents the model never trained on, over the whole corpus.
    report = evaluate(corpus, args.out / "mined" / "eval_queries.jsonl",
                      [("base", "ocr-minilm"), ("finetuned", model_dir)], bm25=True, out=args.out / "report")  # fmt: skip
    print(f"\nNDCG@10 on {report.queries} held-out queries, {report.pages} pages:")
    for m in report.models:
        low, high = m.ci95["ndcg@10"]
        line = f"  {m.name:<10} {m.metrics['ndcg@10']:.3f}  95% CI [{low:.3f}, {high:.3f}]"
        if m.vs_first is not None:
            d_low, d_high = m.vs_first.ci95
            line += f"  vs base {m.vs_first.ndcg_at_10_diff:+.3f} [{d_low:+.3f}, {d_high:+.3f}] p={m.vs_first.p_value:.3g}"
        print(line)
    print(f"report: {args.out / 'report' / 'report.html'}")


if __name__ == "__main__":
    try:
        main()
    except PagefitError as error:
        sys.exit(f"pagefit: {error}")
