"""Reranker speed on CPU: training pairs/s and rerank latency per query, pagefit against bare Sentence Transformers.

Builds a synthetic corpus (page text ~250 words, as OCR leaves it) and a mined folder, then measures in one run:

- training: `pagefit train-reranker` (preset ocr-minilm-reranker, BinaryCrossEntropyLoss) against a bare
  `CrossEncoderTrainer` on the very same pairs, model, batch, steps and checkpointing: train samples/s;
- reranking: `pagefit eval --reranker` (the ms per query it reports for the reranked entry) against a bare
  `CrossEncoder.predict` loop over the same (query, page text) pairs, at top-k 10 / 20 / 50.

Goal: pagefit's overhead <= 5 % on both. Prints one line per measurement and `met` / `not met`.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/rerank.py [--pages 60] [--queries 10] [--steps 12] [--rounds 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import time
from pathlib import Path

from _common import Goal, report

GOAL = 0.05
TOP_KS = (10, 20, 50)


def _words(rng: random.Random, vocab: list[str], n: int) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n))


def build_data(root: Path, pages: int, queries: int, seed: int) -> tuple[Path, Path, list[dict]]:
    """A corpus (page images + text, two pages per document), a mined folder and a queries file."""
    import datasets
    from PIL import Image

    from pagefit._io import image_key
    from pagefit.ocr import PageTextCache

    rng = random.Random(seed)
    vocab = [f"{a}{b}" for a in ("re", "con", "pro", "de", "in", "ex", "sub", "trans") for b in
             ("port", "tract", "ject", "duct", "form", "scribe", "mit", "pose", "vert", "spect")]  # fmt: skip
    corpus = root / "corpus"
    (corpus / "images").mkdir(parents=True)
    cache = PageTextCache()
    rows: dict[str, list] = {"page_id": [], "doc_id": [], "image": [], "text": []}
    for i in range(pages):
        text = _words(rng, vocab, 250)
        image = Image.new("RGB", (40, 50), (i % 256, (7 * i) % 256, (13 * i) % 256))
        image.save(corpus / "images" / f"p{i}.png")
        cache.put(image_key(image), text, "ocr")
        for key, value in (("page_id", f"d{i // 2}#p{i % 2 + 1}"), ("doc_id", f"d{i // 2}"),
                           ("image", f"images/p{i}.png"), ("text", text)):  # fmt: skip
            rows[key].append(value)
    datasets.Dataset.from_dict(rows).save_to_disk(str(corpus / "pages"))
    qs = [{"query_id": f"q{j}", "query": " ".join(rows["text"][j].split()[:6]), "page_id": rows["page_id"][j]}
          for j in range(queries)]  # fmt: skip
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in qs))
    n_train = pages * 3 // 4 // 2 * 2  # whole documents
    split = {"train": range(0, n_train), "eval": range(n_train, pages)}
    mined = {}
    for name, idx in split.items():
        idx = list(idx)
        records: dict[str, list] = {"query": [], "image": [], **{f"negative_{k}": [] for k in range(4)},
                                    "page_id": [], "doc_id": []}  # fmt: skip
        for n, i in enumerate(idx):
            records["query"].append(" ".join(rows["text"][i].split()[:6]))
            records["image"].append(rows["image"][i])
            records["page_id"].append(rows["page_id"][i])
            records["doc_id"].append(rows["doc_id"][i])
            for k in range(4):
                records[f"negative_{k}"].append(rows["image"][idx[(n + 2 + k) % len(idx)]])
        mined[name] = datasets.Dataset.from_dict(records)
    datasets.DatasetDict(mined).save_to_disk(str(root / "mined"))
    (root / "mined" / "pagefit_pairs.json").write_text(json.dumps({"corpus": str(corpus.resolve())}))
    return corpus, root / "mined", qs


def bench_training(mined: Path, out: Path, steps: int, batch: int, rounds: int) -> dict[str, float]:
    """Train samples/s of pagefit and of a bare CrossEncoderTrainer on the same pairs (best of `rounds`).

    Both sides do the same work: the same pairs, model, batch, steps, checkpointing and the same
    `CrossEncoderRerankingEvaluator` (the retriever's top-k of the eval queries) at the same steps.
    """
    import torch
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from pagefit.models.ocr_minilm import minilm_path
    from pagefit.train_reranker import train_reranker
    from pagefit.train_reranker.config import resolve_reranker_config
    from pagefit.train_reranker.data import load_reranker_data
    from pagefit.train_reranker.trainer import build_evaluator

    common = {"max_steps": steps, "batch_size": batch, "save_every": steps, "eval_every": steps,
              "show_progress": False, "max_eval_queries": 2, "eval_top_k": 5}  # fmt: skip
    config = resolve_reranker_config(overrides={"data": str(mined), **common})
    data = load_reranker_data(config)  # the same pairs pagefit trains on
    ours, bare = [], []
    for r in range(rounds):  # alternating, best of each: the machine's noise hits both sides alike
        result = train_reranker(data=str(mined), output=str(out / f"pagefit-{r}"), **common)
        ours.append(result.summary["samples_per_second"])
        model = CrossEncoder(minilm_path(), num_labels=1, max_length=config.max_length, local_files_only=True)
        args = CrossEncoderTrainingArguments(
            output_dir=str(out / f"bare-{r}"), max_steps=steps, per_device_train_batch_size=batch,
            learning_rate=config.lr, warmup_steps=int(0.1 * steps), save_strategy="steps", save_steps=steps,
            eval_strategy="steps", eval_steps=steps, report_to="none", disable_tqdm=True, seed=config.seed,
            dataloader_pin_memory=False,
        )  # fmt: skip
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data.train,
                                      loss=BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(7.0)),
                                      evaluator=build_evaluator(data.eval_samples, config))  # fmt: skip
        bare.append(trainer.train().metrics["train_samples_per_second"])
    return {"pagefit": max(ours), "bare": max(bare), "model": str(out / "pagefit-0")}


def _bare_rerank_ms(model, queries: list[dict], texts: list[str], ranked, k: int, batch: int) -> float:
    start = time.perf_counter()
    for q, row in zip(queries, ranked, strict=True):
        model.predict([(q["query"], texts[p]) for p in row[:k]], batch_size=batch, show_progress_bar=False)
    return 1000 * (time.perf_counter() - start) / len(queries)


def bench_rerank(
    corpus: Path, queries_path: Path, queries: list[dict], reranker: Path, batch: int, rounds: int
) -> dict:
    """ms per query reranking BM25's top k: `pagefit eval` against a bare predict loop, same pairs."""
    import numpy as np
    from sentence_transformers import CrossEncoder

    from pagefit.corpus import load_corpus
    from pagefit.evaluation import evaluate
    from pagefit.evaluation.bm25 import bm25_scores
    from pagefit.evaluation.metrics import rank_pages

    pages = load_corpus(corpus)
    texts, ids = list(pages["text"]), list(pages["page_id"])
    order = np.empty(len(ids), dtype=np.int64)
    order[np.argsort(np.asarray(ids, dtype=object), kind="stable")] = np.arange(len(ids))
    ranked = rank_pages(bm25_scores(texts, [q["query"] for q in queries]), order)
    model = CrossEncoder(str(reranker), device="cpu")
    results = {}
    for k in TOP_KS:
        ours, bare = [], []
        for _ in range(rounds):  # alternating, best of each
            bare.append(_bare_rerank_ms(model, queries, texts, ranked, k, batch))
            report = evaluate(corpus, queries_path, [], bm25=True, reranker=str(reranker), rerank_top_k=k,
                              batch_size=batch, n_resamples=200, show_progress=False, device="cpu")  # fmt: skip
            ours.append(report.model("bm25+rerank").rerank_ms)
        results[k] = {"pagefit": min(ours), "bare": min(bare)}
    return results


def _line(what: str, ours: float, bare: float, higher_is_better: bool) -> tuple[str, bool]:
    overhead = (bare / ours - 1) if higher_is_better else (ours / bare - 1)
    met = overhead <= GOAL
    return (f"{what}: pagefit {ours:.2f}, bare Sentence Transformers {bare:.2f}, overhead {100 * overhead:+.1f} % "
            f"(goal <= {100 * GOAL:.0f} %): {'met' if met else 'not met'}"), met  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating training rounds per side (best kept)"
    )
    parser.add_argument(
        "--timing-rounds", type=int, default=3, help="alternating rerank timing rounds per side (best kept)"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    with tempfile.TemporaryDirectory(prefix="pagefit-bench-rerank-") as tmp:
        root = Path(tmp)
        os.environ["PAGEFIT_CACHE_DIR"] = str(root / "cache")
        corpus, mined, queries = build_data(root, args.pages, args.queries, args.seed)
        training = bench_training(mined, root / "train", args.steps, args.batch_size, args.rounds)
        rerank = bench_rerank(
            corpus,
            root / "queries.jsonl",
            queries,
            Path(training["model"]),
            args.batch_size,
            args.timing_rounds,
        )
    lines = [
        f"CPU threads: {torch.get_num_threads()}; MiniLM cross-encoder, 256 tokens, batch {args.batch_size}"
    ]
    line, met = _line("training pairs/s", training["pagefit"], training["bare"], higher_is_better=True)
    lines.append(line)
    all_met = met
    goals = [Goal("`train-reranker` vs bare CrossEncoderTrainer: overhead in samples/s",
                  measured=100 * (training["bare"] / training["pagefit"] - 1), goal=100 * GOAL, unit=" %",
                  higher_is_better=False,
                  detail=f"{training['pagefit']:.2f} vs {training['bare']:.2f} samples/s")]  # fmt: skip
    for k, r in rerank.items():
        line, met = _line(f"rerank ms/query at top-{k}", r["pagefit"], r["bare"], higher_is_better=False)
        lines.append(line)
        all_met &= met
        goals.append(Goal(f"`eval --reranker` vs bare CrossEncoder.predict, top-{k}: overhead in ms/query",
                          measured=100 * (r["pagefit"] / r["bare"] - 1), goal=100 * GOAL, unit=" %",
                          higher_is_better=False, detail=f"{r['pagefit']:.1f} vs {r['bare']:.1f} ms/query"))  # fmt: skip
    print("\n".join(lines))
    print(f"rerank overhead goal: {'met' if all_met else 'not met'}")
    report("rerank", goals, notes=[lines[0]])
    if args.json:
        args.json.write_text(json.dumps({"training_pairs_per_s": training, "rerank_ms_per_query": rerank,
                                         "goal": GOAL, "met": all_met}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
