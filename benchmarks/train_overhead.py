"""Training: `pagefit train` vs a plain Sentence Transformers trainer script (same model, data and
arguments: CMNRL inside MatryoshkaLoss, NO_DUPLICATES batches, same lr/warmup/batch/steps), and large
scans (2500x3500 px) pre-sized by `pagefit ingest` vs the raw scans given to the plain script.

Both sides report the trainer's own `train_samples_per_second`, measured in the same run, each side
run twice alternately (best kept). CPU by default on a tiny random Qwen3-VL; `--shapes qwen3-vl-2b`
builds a random-initialised model with Qwen3-VL-2B's shapes locally (no download) for a GPU
(benchmarks/gpu.sh).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_overhead.py [--steps 40 --batch-size 8 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tiny-model builders (tokenizer, processor, config)

QWEN3VL_2B = {  # Qwen/Qwen3-VL-2B-Instruct's shapes (its vocabulary is 151k; ours is a local 4k BPE)
    "text": {"hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 28, "num_attention_heads": 16,
             "num_key_value_heads": 8, "head_dim": 128, "mrope_section": [24, 20, 20]},
    "vision": {"depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16,
               "out_hidden_size": 2048, "num_position_embeddings": 2304, "deepstack_visual_indexes": [5, 11, 17]},
}  # fmt: skip


def build_model(out: Path, shapes: str, max_pixels: int) -> Path:
    """A random Qwen3-VL embedding model ([Transformer, Pooling(lasttoken), Normalize]) built locally."""
    import _tiny_models as tiny

    if shapes == "qwen3-vl-2b":
        make_config = tiny._qwen3vl_config

        def big_config(tokenizer):
            config = make_config(tokenizer)
            text, vision = QWEN3VL_2B["text"], QWEN3VL_2B["vision"]
            for key, value in text.items():
                if key != "mrope_section":
                    setattr(config.text_config, key, value)
            config.text_config.rope_parameters["mrope_section"] = text["mrope_section"]
            for key, value in vision.items():
                setattr(config.vision_config, key, value)
            return config

        tiny._qwen3vl_config = big_config
    tiny.QWEN3VL_IMAGE_SIZE = {"shortest_edge": 32 * 32, "longest_edge": max_pixels}
    base = tiny.build_tiny_qwen3vl_base(out / "base")
    return tiny.build_tiny_qwen3vl(out / "model", base_dir=base)


def write_pages(folder: Path, n: int, size: tuple[int, int]) -> list[str]:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        image = Image.new("RGB", size, (250, 250 - 3 * i % 200, 240))
        draw = ImageDraw.Draw(image)
        for line in range(30):
            y = int(size[1] * (0.05 + line * 0.03))
            draw.rectangle((size[0] // 10, y, size[0] // 10 + (i * 37 + line * 53) % (size[0] // 2), y + size[1] // 120),
                           fill=(20, 20, 20))  # fmt: skip
        path = folder / f"page{i:03d}.png"
        image.save(path, compress_level=1)
        paths.append(str(path))
    return paths


def pairs_folder(root: Path, images: list[str]) -> Path:
    import datasets

    n = len(images)
    rows = {"query": [f"what does page {i} say about item {i * 7}" for i in range(n)], "image": images,
            "negative_0": [images[(i + 1) % n] for i in range(n)]}  # fmt: skip
    dsd = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows)})
    dsd.save_to_disk(str(root))
    return root


def plain_script(model_dir: Path, data: Path, args: argparse.Namespace, out: Path) -> float:
    """The article's recipe written directly against Sentence Transformers: samples/s."""
    import datasets
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
    )
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    model = SentenceTransformer(str(model_dir), device=args.device)
    loss = MatryoshkaLoss(model, CachedMultipleNegativesRankingLoss(model, mini_batch_size=args.mini_batch_size),
                          matryoshka_dims=args.dims)  # fmt: skip
    train_args = SentenceTransformerTrainingArguments(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch_size, learning_rate=2e-5,
        warmup_steps=0.1, bf16=args.precision == "bf16", batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no", eval_strategy="no", logging_steps=args.steps, report_to="none", seed=42,
        disable_tqdm=True,
    )  # fmt: skip
    train = datasets.load_from_disk(str(data))["train"]
    trainer = SentenceTransformerTrainer(model=model, args=train_args, train_dataset=train, loss=loss)
    return float(trainer.train().metrics["train_samples_per_second"])


def pagefit_train(model_dir: Path, data: Path, args: argparse.Namespace, out: Path) -> float:
    from pagefit.train import train

    result = train(preset="qwen3-vl-2b-vdr", data=str(data), model=str(model_dir), output=str(out),
                   matryoshka_dims=args.dims, truncate_dim=None, attn_implementation=None, min_pixels=32 * 32,
                   max_pixels=args.max_pixels, max_steps=args.steps, batch_size=args.batch_size,
                   mini_batch_size=args.mini_batch_size, lr=2e-5, eval_split=None, save_every=10**6,
                   logging_every=args.steps, precision=args.precision, show_progress=False)  # fmt: skip
    return float(result.summary["samples_per_second"])


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gb(device: str) -> float:
    if not device.startswith("cuda"):
        return 0.0
    import torch

    return torch.cuda.max_memory_allocated() / 2**30


def encode_rate(model_dir: Path, pages: list[str], args: argparse.Namespace) -> float:
    """Pages/s of `encode_document` in the run's precision (after one warm-up batch)."""
    import torch
    from sentence_transformers import SentenceTransformer

    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    model = SentenceTransformer(str(model_dir), device=args.device, model_kwargs={"torch_dtype": dtype})
    model.encode_document(pages[: args.batch_size], batch_size=args.batch_size)
    torch.cuda.synchronize()
    start = time.perf_counter()
    model.encode_document(pages, batch_size=args.batch_size)
    torch.cuda.synchronize()
    return len(pages) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", choices=["tiny", "qwen3-vl-2b"], default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--steps", type=int, default=40)  # 12 steps (3 s) measured noise, not overhead
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--mini-batch-size", type=int, default=8)
    parser.add_argument("--pages", type=int, default=48)
    parser.add_argument(
        "--max-pixels", type=int, default=128 * 128, help="the processor's bound on page pixels"
    )
    parser.add_argument("--skip-scans", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds; the best of each side counts"
    )
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="pagefit-bench-train-"))
    model_dir = build_model(work, args.shapes, args.max_pixels)
    from sentence_transformers import SentenceTransformer

    dim = SentenceTransformer(str(model_dir), device="cpu").get_embedding_dimension()
    args.dims = [dim, dim // 2, dim // 4]

    pages = write_pages(work / "pages", args.pages, (850, 1100))
    data = pairs_folder(work / "pairs", pages)
    sides: dict[str, list[float]] = {"plain": [], "pagefit": []}
    peak_gb: dict[str, float] = {}
    for round_ in range(args.rounds):  # alternate, so machine load hits both alike
        for side, run in (("plain", plain_script), ("pagefit", pagefit_train)):
            _reset_peak(args.device)
            sides[side].append(run(model_dir, data, args, work / f"{side}{round_}"))
            peak_gb[side] = max(peak_gb.get(side, 0.0), _peak_gb(args.device))
    plain, ours = max(sides["plain"]), max(sides["pagefit"])
    overhead = 100 * (plain - ours) / plain
    print(f"samples/s: plain {sides['plain']}, pagefit {sides['pagefit']}")

    from _common import Goal, report

    goals = [Goal("pagefit train overhead vs a plain ST script (samples/s)", overhead, 3.0, unit=" %",
                  higher_is_better=False, detail=f"{ours:.2f} vs {plain:.2f} samples/s")]  # fmt: skip
    if not args.skip_scans:
        scans = write_pages(work / "scans", args.pages, (2500, 3500))
        raw = plain_script(model_dir, pairs_folder(work / "raw-pairs", scans), args, work / "raw")
        from pagefit.ingest import ingest

        ingest([work / "scans"], work / "corpus", ocr="never", show_progress=False)
        from pagefit.corpus import corpus_image_paths

        sized = pagefit_train(model_dir, pairs_folder(work / "sized-pairs", corpus_image_paths(work / "corpus")),
                              args, work / "sized")  # fmt: skip
        goals.append(Goal("2500x3500 scans pre-sized at ingest vs raw scans to the plain script", sized / raw, 1.5,
                          detail=f"{sized:.2f} vs {raw:.2f} samples/s"))  # fmt: skip
    notes = [f"{args.shapes} shapes, {args.precision}, {args.steps} steps x batch {args.batch_size}, "
             f"processor max {args.max_pixels} px; samples/s per round {json.dumps(sides)}"]  # fmt: skip
    if args.device.startswith("cuda"):
        import torch

        notes.append(f"{torch.cuda.get_device_name()}: peak GPU memory plain {peak_gb['plain']:.1f} GB, "
                     f"pagefit {peak_gb['pagefit']:.1f} GB; page encoding {encode_rate(model_dir, pages, args):.1f} pages/s")  # fmt: skip
    report(f"train_overhead_{args.shapes}_{args.device}".replace(":", ""), goals, notes=notes)


if __name__ == "__main__":
    main()
