"""`pagefit mine`: hard negatives for every query from the pages of its own split, with positive-aware filtering.

Sentence Transformers' `mine_hard_negatives` does the mining (similarities, top-k, positive
exclusion, the NV-Retriever relative margin). pagefit adds only what it lacks:

- embeddings come from pagefit's cache (`pagefit.embeddings`, keyed by model fingerprint + page hash,
  shared with `eval` and `index`): a thin adapter hands them to `mine_hard_negatives` in place of
  the model's own `encode_*`, so a page is encoded once per model, whatever stage asks first;
- pages of the positive's document within +-k pages, and exact duplicates of the positive (same
  pixels under another page id), are not negatives: `mine_hard_negatives` returns every candidate
  that passes the margin ("labeled-list" output), and the first `num_negatives` that pass these
  checks are kept;
- a row's candidates are the pages of its split's documents only (the split the pairs folder
  records): an eval page is never a training negative, and a
  train page never an eval one;
- pixel-identical twins of any positive of the row's query are never negatives (`pagefit.duplicates`);
- the output keeps the pairs contract (query, image, negative_0..n-1, page_id, doc_id,
  negative_*_page_id; paths relative to the corpus) and both splits.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from pagefit import __version__
from pagefit._io import atomic_write_json, prepare_out, publish, quiet_datasets, shards
from pagefit.corpus import Page, corpus_pages
from pagefit.errors import PagefitError
from pagefit.models import model_name
from pagefit.pairs import (
    ALL_QUERIES,
    EVAL_QUERIES,
    PAIRS_META,
    SPLITS,
    VALIDATION_QUERIES,
    load_pairs,
    load_pairs_meta,
)

if TYPE_CHECKING:
    import datasets
    import torch
    from sentence_transformers import SentenceTransformer

__all__ = ["MineConfig", "MineResult", "mine", "score_stats", "split_documents"]

logger = logging.getLogger(__name__)

STATS_JSON = "mining_stats.json"
STATS_PNG = "mining_scores.png"


class MineConfig(BaseModel):
    """The settings of one `mine` run, saved in `pagefit_pairs.json` under "mine"."""

    pairs: str
    corpus: str
    model: str
    num_negatives: int = 4
    range_max: int | None = None
    relative_margin: float | None = 0.05
    exclude_neighbors: int = 0
    batch_size: int = 8
    query_prompt: str | None = None
    document_prompt: str | None = None


@dataclass
class MineResult:
    """What `mine` wrote: rows kept and dropped per split, score distributions, timings."""

    out: Path
    rows: dict[str, int]
    dropped: dict[str, int]  # rows without enough valid negatives
    num_negatives: int
    stats: dict[str, Any]
    seconds: float
    encode_seconds: float
    files: dict[str, Path] = field(default_factory=dict)


class _CachedEncoder:
    """The part of a SentenceTransformer that `mine_hard_negatives` uses, answering page embeddings from
    pagefit's cache (`encode_pages`) and query embeddings from `encode_queries`, both L2-normalised as
    `mine_hard_negatives` asks."""

    def __init__(
        self, model: SentenceTransformer, keys: dict[str, str], batch_size: int, show_progress: bool
    ) -> None:
        self.model, self.keys, self.batch_size, self.show_progress = model, keys, batch_size, show_progress
        self.model_card_data = model.model_card_data
        self.encode_seconds = 0.0

    @property
    def device(self) -> torch.device:
        return self.model.device

    def encode_document(self, documents: Sequence[str], **_: Any) -> np.ndarray:
        from pagefit.embeddings import encode_pages

        start = time.perf_counter()
        emb = encode_pages(self.model, list(documents), keys=[self.keys[d] for d in documents],
                           batch_size=self.batch_size, show_progress=self.show_progress)  # fmt: skip
        self.encode_seconds += time.perf_counter() - start
        return _normalize(emb)

    def encode_query(self, queries: Sequence[str], **_: Any) -> np.ndarray:
        from pagefit.embeddings import encode_queries

        start = time.perf_counter()
        emb = encode_queries(self.model, list(queries), show_progress=self.show_progress)
        self.encode_seconds += time.perf_counter() - start
        return _normalize(emb)

    def similarity(self, a: Any, b: Any) -> torch.Tensor:
        return self.model.similarity(a, b)

    def similarity_pairwise(self, a: Any, b: Any) -> torch.Tensor:
        return self.model.similarity_pairwise(a, b)

    def get_embedding_dimension(self) -> int | None:
        return self.model.get_embedding_dimension()


def _normalize(emb: np.ndarray) -> np.ndarray:
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------------------------------------
# Candidates -> negatives
# ---------------------------------------------------------------------------------------------


@dataclass
class _Candidates:
    positive_score: float
    paths: list[str]  # absolute, best first, all past the margin
    scores: list[float]


def _mine_candidates(
    encoder: _CachedEncoder,
    queries: list[str],
    positives: list[str],
    corpus_paths: list[str],
    range_max: int,
    relative_margin: float | None,
) -> dict[tuple[str, str], _Candidates]:
    """Every candidate negative within the top `range_max` that passes the margin, per (query, positive)."""
    import datasets
    from sentence_transformers.util import mine_hard_negatives

    dataset = datasets.Dataset.from_dict({"query": queries, "image": positives})
    mined = mine_hard_negatives(
        dataset, encoder, corpus=corpus_paths, range_max=range_max, num_negatives=range_max,
        relative_margin=relative_margin, sampling_strategy="top", output_format="labeled-list", output_scores=True,
        batch_size=encoder.batch_size, faiss_batch_size=max(1, 2**25 // max(1, len(corpus_paths))), verbose=False,
    )  # fmt: skip
    out = {}
    for query, docs, scores in zip(mined["query"], mined["image"], mined["scores"], strict=True):
        out[(query, docs[0])] = _Candidates(scores[0], docs[1:], scores[1:])
    return out


def _choose(
    candidates: _Candidates | None,
    positive: Page,
    pages: dict[str, Page],
    num_negatives: int,
    exclude_neighbors: int,
    relevant_hashes: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[list[str], list[float]] | None:
    """The best `num_negatives` candidates that are neither near the positive in its document nor a copy
    of it or of another page relevant to the same query."""
    if candidates is None:
        return None
    chosen, scores = [], []
    for path, score in zip(candidates.paths, candidates.scores, strict=True):
        page = pages[path]
        if page.image_hash == positive.image_hash or page.image_hash in relevant_hashes:
            continue
        if (
            page.doc_id == positive.doc_id
            and abs(page.page_number - positive.page_number) <= exclude_neighbors
        ):
            continue
        chosen.append(path)
        scores.append(score)
        if len(chosen) == num_negatives:
            return chosen, scores
    return None


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def score_stats(values: Sequence[float]) -> dict[str, float]:
    """count, mean, std, min, 25/50/75 %, max of similarity scores."""
    a = np.asarray(values, dtype=np.float64)
    if not a.size:
        return {"count": 0}
    q25, q50, q75 = np.quantile(a, [0.25, 0.5, 0.75])
    return {"count": int(a.size), "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "25%": float(q25), "50%": float(q50), "75%": float(q75), "max": float(a.max())}  # fmt: skip


def _plot(scores: dict[str, dict[str, list[float]]], path: Path, model: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(scores), figsize=(5.5 * len(scores), 3.6), squeeze=False)
    for ax, (split, s) in zip(axes[0], scores.items(), strict=True):
        values = s["positive"] + s["negative"]
        bins = np.linspace(min(values, default=0), max(values, default=1), 40) if values else 10
        ax.hist(
            s["positive"], bins=bins, alpha=0.6, label=f"positive (n={len(s['positive'])})", color="tab:green"
        )
        ax.hist(
            s["negative"],
            bins=bins,
            alpha=0.6,
            label=f"hard negative (n={len(s['negative'])})",
            color="tab:red",
        )
        ax.set_title(f"{split}: query-page similarity")
        ax.set_xlabel(f"similarity ({model})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------


def _corpus_pages(corpus_dir: Path) -> tuple[dict[str, Page], dict[str, Page]]:
    """Pages by absolute image path (the first page using a file) and by page id."""
    by_id = {page.page_id: page for page in corpus_pages(corpus_dir)}
    by_path: dict[str, Page] = {}
    for page in by_id.values():
        by_path.setdefault(page.image_path, page)
    return by_path, by_id


def _split_rows(
    ds: datasets.Dataset,
    mined: dict[tuple[str, str], _Candidates],
    pages: dict[str, Page],
    by_id: dict[str, Page],
    config: MineConfig,
) -> tuple[dict[str, list[Any]], dict[str, list[float]], int]:
    n = config.num_negatives
    cols = ["query", "image", *[f"negative_{i}" for i in range(n)], "page_id", "doc_id",
            *[f"negative_{i}_page_id" for i in range(n)]]  # fmt: skip
    data: dict[str, list[Any]] = {c: [] for c in cols}
    scores: dict[str, list[float]] = {"positive": [], "negative": []}
    dropped = 0
    relevant: dict[str, set[str]] = {}
    for query, page_id in zip(ds["query"], ds["page_id"], strict=True):
        relevant.setdefault(query, set()).add(by_id[page_id].image_hash)
    for query, page_id, doc_id in zip(ds["query"], ds["page_id"], ds["doc_id"], strict=True):
        positive = by_id[page_id]
        candidates = mined.get((query, positive.image_path))
        picked = _choose(candidates, positive, pages, n, config.exclude_neighbors, relevant[query])
        if picked is None:
            dropped += 1
            continue
        negatives, neg_scores = picked
        row = [query, positive.image, *[pages[p].image for p in negatives], page_id, doc_id,
               *[pages[p].page_id for p in negatives]]  # fmt: skip
        for c, v in zip(cols, row, strict=True):
            data[c].append(v)
        scores["positive"].append(candidates.positive_score)  # type: ignore[union-attr]
        scores["negative"] += neg_scores
    return data, scores, dropped


def _check_pages(dsd: datasets.DatasetDict, by_id: dict[str, Page], corpus_dir: Path) -> None:
    unknown = sorted({pid for ds in dsd.values() for pid in ds["page_id"]} - by_id.keys())
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise PagefitError(f"{len(unknown)} positive page(s) are not in the corpus {corpus_dir}: {shown}")


def mine(
    pairs_dir: str | os.PathLike[str],
    corpus: str | os.PathLike[str] | None,
    model: str | SentenceTransformer,
    out: str | os.PathLike[str],
    *,
    num_negatives: int = 4,
    range_max: int | None = None,
    relative_margin: float | None = 0.05,
    exclude_neighbors: int = 0,
    batch_size: int = 8,
    trust_remote_code: bool = False,
    show_progress: bool = True,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
) -> MineResult:
    """Add `num_negatives` hard negatives to every pair of both splits, from the pages of the pair's own split.

    Args:
        pairs_dir: a folder from `pagefit pairs`.
        corpus: its corpus folder (None: the one the pairs record).
        model: a model name/folder for `pagefit.models.load_model`, or a loaded SentenceTransformer.
        out: the mined folder to write (same layout as a pairs folder, plus the mining statistics).
        num_negatives: negatives per pair; pairs without that many valid candidates are dropped.
        range_max: how many of the most similar pages are candidates (default 10 x num_negatives,
            plus room for the excluded neighbours).
        relative_margin: a candidate must score at most `pos - |pos| * margin` (NV-Retriever's
            TopK-PercPos; 0.05 = 95 % of the positive score); None disables it.
        exclude_neighbors: pages of the positive's document within +-k pages are never negatives.
        batch_size: pages per forward pass when encoding pages that are not cached.
        trust_remote_code: passed to `load_model`.
        show_progress: progress bars on stderr.
        query_prompt: replaces the model's query prompt (None: its own).
        document_prompt: replaces the model's document prompt (None: its own).
    """
    import datasets

    start = time.perf_counter()
    if num_negatives < 1:
        raise PagefitError(f"--num-negatives must be at least 1, got {num_negatives}")
    if exclude_neighbors < 0:
        raise PagefitError(f"--exclude-neighbors must be >= 0, got {exclude_neighbors}")
    pairs_dir = Path(pairs_dir)
    if not (pairs_dir / PAIRS_META).is_file() and not (pairs_dir / "dataset_dict.json").is_file():
        from pagefit._kinds import wrong_folder

        raise wrong_folder(pairs_dir, "pairs", needed_for="`pagefit mine`")
    meta = load_pairs_meta(pairs_dir)
    corpus_dir = Path(corpus or meta.get("corpus") or "").resolve()
    if not corpus and not meta.get("corpus"):
        raise PagefitError(f"{pairs_dir} does not record its corpus: pass --corpus CORPUS")
    pages, by_id = _corpus_pages(corpus_dir)
    dsd = load_pairs(pairs_dir, corpus=corpus_dir)
    _check_pages(dsd, by_id, corpus_dir)
    if not len(dsd["train"]):
        raise PagefitError(f"{pairs_dir} has no training pairs to mine negatives for")
    range_max = range_max or 10 * num_negatives + 2 * exclude_neighbors + 1
    range_max = min(range_max, len(pages))
    if range_max < num_negatives:
        raise PagefitError(
            f"--range-max {range_max} leaves fewer candidates than --num-negatives {num_negatives}"
        )

    st_model = _load(model, trust_remote_code, query_prompt, document_prompt)
    config = MineConfig(pairs=str(pairs_dir.resolve()), corpus=str(corpus_dir), model=model_name(model),
                        num_negatives=num_negatives, range_max=range_max, relative_margin=relative_margin,
                        exclude_neighbors=exclude_neighbors, batch_size=batch_size, query_prompt=query_prompt,
                        document_prompt=document_prompt)  # fmt: skip
    encoder = _CachedEncoder(st_model, {p: v.image_hash for p, v in pages.items()}, batch_size, show_progress)
    split_docs = split_documents(meta, dsd)
    out_dsd, scores, dropped = {}, {}, {}
    for split in dsd:
        mined: dict[tuple[str, str], _Candidates] = {}
        # Candidates come only from pages of this split's documents: no page crosses the split.
        own = [path for path, page in pages.items() if page.doc_id in split_docs.get(split, set())]
        if len(dsd[split]) and own:
            positives = [by_id[pid].image_path for pid in dsd[split]["page_id"]]
            mined = _mine_candidates(encoder, dsd[split]["query"], positives, own,
                                     min(range_max, len(set(own) | set(positives))), relative_margin)  # fmt: skip
        data, scores[split], dropped[split] = _split_rows(dsd[split], mined, pages, by_id, config)
        features = datasets.Features({c: datasets.Value("string") for c in data})
        out_dsd[split] = datasets.Dataset.from_dict(data, features=features)
    if not len(out_dsd["train"]):
        raise PagefitError(
            f"no training pair has {num_negatives} valid negatives: lower --num-negatives or "
            "--relative-margin, or raise --range-max"
        )
    stats = {
        split: {"positive": score_stats(s["positive"]), "negative": score_stats(s["negative"]),
                "difference": score_stats(np.repeat(s["positive"], num_negatives) - np.asarray(s["negative"]))
                if s["positive"] else {"count": 0}}
        for split, s in scores.items()
    }  # fmt: skip
    result = MineResult(Path(out), {s: len(d) for s, d in out_dsd.items()}, dropped, num_negatives, stats, 0.0,
                        round(encoder.encode_seconds, 2))  # fmt: skip
    _write(Path(out), pairs_dir, meta, config, datasets.DatasetDict(out_dsd), scores, result, start)
    return result


def split_documents(meta: dict[str, Any], dsd: datasets.DatasetDict) -> dict[str, set[str]]:
    """The documents of each split: as the pairs folder records them,
    else (an older or hand-made folder) the documents its rows name."""
    recorded = {s: set(meta[f"{s}_docs"]) for s in SPLITS if isinstance(meta.get(f"{s}_docs"), list)}
    found = {s: set(dsd[s]["doc_id"]) if "doc_id" in dsd[s].column_names else set() for s in dsd}
    docs = {s: recorded.get(s, set()) | found.get(s, set()) for s in set(recorded) | set(found)}
    overlap = {d for a, b in combinations(sorted(docs), 2) for d in docs[a] & docs[b]}
    if overlap:
        raise PagefitError(
            f"documents in both splits of the pairs folder: {', '.join(sorted(overlap)[:5])}: "
            "re-run `pagefit pairs` (it splits by document)"
        )
    return docs


def _load(
    model: str | SentenceTransformer,
    trust_remote_code: bool,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
) -> SentenceTransformer:
    from pagefit.models import load_model, require_modality
    from pagefit.models.page_text import set_prompts
    from pagefit.sparse_embeddings import is_sparse

    if isinstance(model, str | os.PathLike):
        loaded = load_model(
            model,
            trust_remote_code=trust_remote_code,
            query_prompt=query_prompt,
            document_prompt=document_prompt,
        )
    else:
        loaded = model
        if query_prompt is not None or document_prompt is not None:
            set_prompts(loaded, query=query_prompt, document=document_prompt)
    require_modality(loaded, "image", role="the mining model (it embeds page images)")
    if is_sparse(loaded):
        raise PagefitError(
            f"{model_name(model)} is a sparse model: `pagefit mine` mines with a dense model (e.g. ocr-minilm); "
            "train the sparse model on the mined folder afterwards"
        )
    return loaded


def _write(
    out: Path,
    pairs_dir: Path,
    meta: dict[str, Any],
    config: MineConfig,
    dsd: datasets.DatasetDict,
    scores: dict[str, dict[str, list[float]]],
    result: MineResult,
    start: float,
) -> None:
    tmp = prepare_out(out, PAIRS_META, "mined")
    try:
        with quiet_datasets():
            dsd.save_to_disk(str(tmp), num_shards=shards(dsd))
        for name in (EVAL_QUERIES, VALIDATION_QUERIES, ALL_QUERIES):
            if (pairs_dir / name).is_file():
                shutil.copy2(pairs_dir / name, tmp / name)
        _plot(scores, tmp / STATS_PNG, config.model)
        result.seconds = round(time.perf_counter() - start, 2)
        summary = {"config": config.model_dump(), "rows": result.rows, "dropped": result.dropped, "stats": result.stats,
                   "seconds": result.seconds, "encode_seconds": result.encode_seconds}  # fmt: skip
        atomic_write_json(tmp / STATS_JSON, summary)
        atomic_write_json(tmp / PAIRS_META, {**meta, "pagefit_version": __version__, "kind": "mined",
                                             "corpus": config.corpus, "pairs": config.pairs, "mine": summary})  # fmt: skip
        publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.files = {"stats": out / STATS_JSON, "plot": out / STATS_PNG}
    for split, n in result.dropped.items():
        if n:
            logger.warning(
                "%s: %d pair(s) had fewer than %d valid negatives and were dropped",
                split,
                n,
                config.num_negatives,
            )
