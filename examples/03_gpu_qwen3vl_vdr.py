"""Journey 3 (GPU): the article's recipe, Qwen3-VL-Embedding-2B on visual document retrieval pairs.

The `qwen3-vl-2b-vdr` preset: CachedMultipleNegativesRankingLoss (mini-batch 1) inside MatryoshkaLoss
(2048..64), batches of 64 without duplicates, lr 2e-5, 1 epoch, bf16, pages bounded to 600x600 pixels.
Expected on the public llamaindex-vdr-en-train-preprocessed eval set (the article's numbers):
NDCG@10 0.888 (base) -> 0.947 (finetuned). Full finetuning wants a 40-80 GB GPU; `--lora` fits ~24 GB.

    python examples/03_gpu_qwen3vl_vdr.py --out qwen3-vl-vdr                  # public dataset (hub)
    python examples/03_gpu_qwen3vl_vdr.py --data OUT/mined --out qwen3-vl-mine --lora   # your pages
    torchrun --nproc-per-node 4 examples/03_gpu_qwen3vl_vdr.py --out qwen3-vl-vdr
    accelerate launch examples/03_gpu_qwen3vl_vdr.py --out qwen3-vl-vdr

With several GPUs `--batch-size` is per device (4 GPUs x 16 = the article's 64); only the main process
writes files and prints. Needs the hub for the base model (and the public dataset).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pagefit.errors import PagefitError
from pagefit.evaluation import evaluate
from pagefit.models import load_model
from pagefit.pairs import load_pairs_meta
from pagefit.train import train


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=None, help="your pairs/mined folder (default: the preset's public dataset)"
    )
    parser.add_argument("--model", default=None, help="a local copy of the base model (default: the hub's)")
    parser.add_argument("--out", type=Path, default=Path("qwen3-vl-vdr"), help="output folder of the model")
    parser.add_argument(
        "--lora", action="store_true", help="train LoRA adapters (smaller GPUs; merged on save)"
    )
    parser.add_argument("--gradient-checkpointing", action="store_true", help="less memory, slower steps")
    parser.add_argument("--batch-size", type=int, default=None, help="per-device batch (preset: 64)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop early (default: 1 epoch)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    args = parser.parse_args()

    # 1. Every flag above is a TrainConfig field of the same name; unset flags keep the preset's values.
    overrides = {k: v for k, v in vars(args).items() if k != "out" and v not in (None, False)}

    # 2. Train; the trainer evaluates the base model first, then every 10 % and at the end.
    result = train(preset="qwen3-vl-2b-vdr", output=str(args.out), **overrides)
    if not result.summary:  # another process of a multi-GPU run: the main process reports
        return

    # 3. The built-in evaluator's NDCG@10 before and after, and at each Matryoshka dimension.
    before, after = result.base_metrics.get("ndcg@10"), result.final_metrics.get("ndcg@10")
    if before is not None and after is not None:
        print(f"eval split NDCG@10: {before:.3f} -> {after:.3f} (article: 0.888 -> 0.947 on the public data)")
    for dim, metrics in sorted(result.metrics_by_dim.items(), reverse=True):
        print(f"  dim {dim:>4}: NDCG@10 {metrics['ndcg@10']:.3f}")

    # 4. Your own pages: rank the WHOLE corpus for the held-out queries, with significance. The base
    #    model is loaded as the recipe loaded it (dtype, pixel bounds), so the comparison is fair.
    corpus = load_pairs_meta(args.data).get("corpus") if args.data else None
    if corpus:
        size = {"shortest_edge": result.config.min_pixels, "longest_edge": result.config.max_pixels}
        base = load_model(
            result.config.model, model_kwargs={"dtype": result.model.dtype}, processor_kwargs={"size": size}
        )
        report = evaluate(corpus, Path(args.data) / "eval_queries.jsonl", [("base", base), ("finetuned", result.model)],
                          bm25=True, dims=[1024, 512, 256], batch_size=4, out=args.out / "report")  # fmt: skip
        for m in report.models:
            diff = m.vs_first and f"  Δ {m.vs_first.ndcg_at_10_diff:+.3f} p={m.vs_first.p_value:.3g}"
            print(f"{m.name:<10} NDCG@10 {m.metrics['ndcg@10']:.3f}{diff or ''}")
        print(f"report: {args.out / 'report' / 'report.html'}")
    print(f"model: {result.output_dir} (saved with truncate_dim {result.config.truncate_dim})")


if __name__ == "__main__":
    try:
        main()
    except PagefitError as error:
        sys.exit(f"pagefit: {error}")
