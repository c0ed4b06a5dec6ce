"""Training levers measured on the development set, outside the shipped road (not part of `make bench`).

Takes the mined folder of a `benchmarks/devset_road.sh` run and trains `--preset ocr-minilm` on it with
one change, through `pagefit.train.train` (same evaluator, checkpoint selection and summary):

- `kl`: Sentence Transformers' MNRL over (query, positive, mined negative) plus `--kl-weight` x its
  DistillKLDivLoss (KL x T^2) over [positive, mined negative, the teacher's best other page].
- `hybrid-negatives`: the mined negative is replaced by the teacher's best other page when it scores
  at most 95 % of the positive (the margin rule of `pagefit mine`); plain ranking loss.

The teacher is the weighted hybrid of BM25 and the untrained `ocr-minilm` with passage scoring, as
`pagefit eval --bm25 --hybrid weighted` scores pages, over the **train split's pages only** (asserted):
no eval-split page is a candidate, and the devset's queries are never read. Then evaluate the output
with `pagefit eval ... -m OUT --bm25`.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/devset_levers.py W/mined W/model-kl --lever kl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def teacher_scores(mined: Path) -> dict:
    """Fused (train queries x corpus pages) teacher scores, eval-split pages at 0, and the row indices."""
    import datasets

    from pagefit.corpus import corpus_image_paths, load_corpus
    from pagefit.embeddings import encode_pages, encode_queries
    from pagefit.evaluation.bm25 import bm25_scores
    from pagefit.evaluation.fusion import FusionConfig, fuse, sparse_as_retrieved
    from pagefit.mine import split_documents
    from pagefit.models import load_model
    from pagefit.pairs import load_pairs_meta
    from pagefit.passages import PassageConfig, encode_windows, score_pages

    meta = load_pairs_meta(mined)
    corpus_dir = Path(meta["corpus"])
    dsd = datasets.load_from_disk(str(mined))
    docs = split_documents(meta, dsd)
    pages = load_corpus(corpus_dir)
    page_ids = [str(p) for p in pages["page_id"]]
    paths = corpus_image_paths(corpus_dir, pages)
    keys = list(pages["image_hash"])
    train_pages = np.array([doc in docs["train"] for doc in pages["doc_id"]])
    assert not set(np.asarray(pages["doc_id"])[train_pages]) & docs["eval"]
    train = dsd["train"]
    queries = list(train["query"])

    model = load_model("ocr-minilm")
    vectors = encode_pages(model, paths, keys=keys, batch_size=16, show_progress=False)
    windows = encode_windows(model, paths, PassageConfig(), keys=keys, batch_size=16)
    dense = score_pages(model, encode_queries(model, queries), vectors, windows, vectors.shape[1], 0.5)
    sparse = sparse_as_retrieved(bm25_scores([t or "" for t in pages["text"]], queries))
    only_train = [np.where(train_pages[None, :], s, -np.inf).astype(np.float32) for s in (dense, sparse)]
    fused = fuse(only_train, FusionConfig())
    index = {p: i for i, p in enumerate(page_ids)}
    return {"fused": np.where(np.isfinite(fused), fused, 0.0), "paths": paths, "queries": queries,
            "train_pages": train_pages, "pos": np.array([index[p] for p in train["page_id"]]),
            "neg": np.array([index[p] for p in train["negative_0_page_id"]])}  # fmt: skip


def best_other(t: dict) -> np.ndarray:
    """Each row's best-scored train page that is neither relevant to its query nor its mined negative."""
    relevant: dict[str, set[int]] = {}
    for query, pos in zip(t["queries"], t["pos"], strict=True):
        relevant.setdefault(query, set()).add(int(pos))
    other = []
    for row, query in enumerate(t["queries"]):
        scores = t["fused"][row].copy()
        scores[list(relevant[query])] = -1
        scores[t["neg"][row]] = -1
        scores[~t["train_pages"]] = -1
        other.append(int(np.argmax(scores)))
    other = np.array(other)
    assert t["train_pages"][other].all() and t["train_pages"][t["neg"]].all()
    return other


def mnrl_kl_loss(model, kl_weight: float, temperature: float):
    """Sentence Transformers' MNRL over (query, positive, negative_0) plus `kl_weight` x its
    DistillKLDivLoss over all the row's pages, from one embedding pass."""
    import torch
    from sentence_transformers.sentence_transformer.losses import (
        DistillKLDivLoss,
        MultipleNegativesRankingLoss,
    )

    class MnrlKl(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.mnrl = MultipleNegativesRankingLoss(model)
            self.kl = DistillKLDivLoss(model, temperature=temperature)

        def forward(self, features, labels):
            # one forward per column: merging them pads the short queries to the pages' 256 tokens,
            # which on 2 CPU cores made a run more than twice as slow
            embeddings = [self.model(f)["sentence_embedding"] for f in features]
            mnrl = self.mnrl.compute_loss_from_embeddings(embeddings[:3], labels)
            return mnrl + kl_weight * self.kl.compute_loss_from_embeddings(embeddings, labels)

    return MnrlKl()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mined", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--lever", choices=["kl", "hybrid-negatives"], required=True)
    parser.add_argument("--kl-weight", type=float, default=200.0)  # x T^2 = 0.5 at T = 0.05
    parser.add_argument("--temperature", type=float, default=0.05)
    args = parser.parse_args()
    start = time.perf_counter()

    import pagefit.train as train_module
    import pagefit.train.trainer as trainer_module

    t = teacher_scores(args.mined)
    rows = np.arange(len(t["pos"]))
    other = best_other(t)
    top1 = np.mean(t["fused"].argmax(1) == t["pos"])
    print(f"teacher: top 1 is the row's positive for {top1:.1%} of {len(rows)} train queries", flush=True)
    if args.lever == "hybrid-negatives":
        keep = t["fused"][rows, other] <= 0.95 * t["fused"][rows, t["pos"]]
        negatives = [t["paths"][o if k else n] for o, n, k in zip(other, t["neg"], keep, strict=True)]
        print(f"hybrid negatives: {keep.mean():.1%} replaced by the teacher's best other page", flush=True)
    else:
        labels = np.stack(
            [t["fused"][rows, t["pos"]], t["fused"][rows, t["neg"]], t["fused"][rows, other]], 1
        )
        trainer_module.make_loss = lambda model, config: mnrl_kl_loss(model, args.kl_weight, args.temperature)
    load = train_module.load_train_data

    def load_with_lever(config):
        data = load(config)
        assert data.train["query"] == t["queries"], "training rows are not in the mined folder's order"
        if args.lever == "hybrid-negatives":
            data.train = data.train.remove_columns("negative_0").add_column("negative_0", negatives)
        else:
            data.train = data.train.add_column("negative_1", [t["paths"][o] for o in other])
            data.train = data.train.add_column("label", labels.tolist())
        return data

    train_module.load_train_data = load_with_lever
    result = train_module.train(preset="ocr-minilm", data=str(args.mined), output=str(args.out),
                                show_progress=False)  # fmt: skip
    selection = {k: v for k, v in result.summary.get("selection", {}).items() if k != "last_metrics"}
    print(json.dumps({"lever": args.lever, "held-out base": result.base_metrics.get("ndcg@10"),
                      "held-out final": result.final_metrics.get("ndcg@10"), "selection": selection,
                      "seconds": round(time.perf_counter() - start)}))  # fmt: skip


if __name__ == "__main__":
    main()
