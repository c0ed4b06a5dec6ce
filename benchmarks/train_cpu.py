"""Does `pagefit train` (preset ocr-minilm) really improve retrieval on CPU, and how fast is it?

Runs the road on generated documents: sample PDFs -> ingest -> pairs (text generator, split by
document) -> mine (ocr-minilm) -> train (ocr-minilm), and prints NDCG@10 of the untrained and the
finetuned model on the held-out documents' queries, with steps/s and samples/s.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_cpu.py [--docs 6] [--pages 6] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from _common import Goal, report


def build_mined(root: Path, docs: int, pages: int, seed: int, negatives: int) -> Path:
    """Sample documents -> corpus -> pairs -> mined, under `root`."""
    from pagefit.demo.documents import write_sample_documents
    from pagefit.ingest import ingest
    from pagefit.mine import mine
    from pagefit.pairs import pairs

    sample = write_sample_documents(
        root / "docs", n_docs=docs, pages_per_doc=pages, seed=seed, with_images=False
    )
    ingest([sample.docs_dir], root / "corpus", show_progress=False)
    pairs(
        root / "corpus",
        root / "pairs",
        generate="text",
        per_page=4,
        eval_fraction=0.25,
        seed=seed,
        show_progress=False,
    )
    mine(root / "pairs", None, "ocr-minilm", root / "mined", num_negatives=negatives, show_progress=False)
    return root / "mined"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=6)
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--negatives", type=int, default=2)
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--train-negatives", type=int, default=None, help="num_negatives used for training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from pagefit.train import train

    root = args.workdir or Path(tempfile.mkdtemp(prefix="pagefit-train-bench-"))
    os.environ.setdefault("PAGEFIT_CACHE_DIR", str(root / "cache"))
    start = time.perf_counter()
    mined = (
        root / "mined"
        if (root / "mined").is_dir()
        else build_mined(root, args.docs, args.pages, args.seed, args.negatives)
    )
    prepared = time.perf_counter() - start
    overrides = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
                 "num_negatives": args.train_negatives}  # fmt: skip
    out = root / f"model-{int(time.time())}"
    result = train(
        data=str(mined), output=str(out), seed=args.seed, **{k: v for k, v in overrides.items() if v}
    )
    s = result.summary
    base, final = s["base_metrics"].get("ndcg@10"), s["final_metrics"].get("ndcg@10")
    report("train_cpu", [Goal("`pagefit train --preset ocr-minilm` on generated documents: held-out NDCG@10 "
                              "finetuned minus untrained", measured=final - base, goal=0.0, unit="",
                              detail=f"{base:.4f} -> {final:.4f}, {s['steps']} steps, "
                                     f"{s['samples_per_second']:.2f} samples/s, {s['wall_time_s']:.0f} s")],
           notes=["generated documents are easy (near 1.0); real-page numbers come from benchmarks/devset_road.sh"])  # fmt: skip
    print(
        json.dumps(
            {
                "data": s["data"],
                "prepare_s": round(prepared, 1),
                "train_wall_s": s["wall_time_s"],
                "steps": s["steps"],
                "steps_per_second": s["steps_per_second"],
                "samples_per_second": s["samples_per_second"],
                "ndcg@10_base": s["base_metrics"].get("ndcg@10"),
                "ndcg@10_final": s["final_metrics"].get("ndcg@10"),
                "by_dim_ndcg@10": {d: m.get("ndcg@10") for d, m in s["metrics_by_dim"].items()},
                "workdir": str(root),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
