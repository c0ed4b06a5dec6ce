"""Training data for `pagefit train-reranker`, built from a `pagefit mine` folder.

Each training row's positive page is paired with its mined hard negatives (`num_negatives`, the
article's 1 positive : 4 negatives), plus optional BM25 negatives (pages of the same split whose text
BM25 ranks high for the query) and random negatives (other pages of the same split). A page that is a
positive of the query (any row with the same query text) is never its negative. Negatives come only from
documents of the row's own split, so no eval page reaches training.

A page is given to the reranker as its image (the file path), its text (the text layer or cached OCR of
the image, the text the `ocr-minilm` model embeds) or both in one message, after `document`.

The evaluator reranks what the reranker will see in use: the retriever's top `eval_top_k` among every page
of the eval-split documents, for every eval query of the pairs folder (also those the miner dropped), the
retriever scored as `pagefit eval` scores it (passages on for a text-reading model); the
`CrossEncoderRerankingEvaluator` with `documents` also reports the retriever's own order as the base.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError
from pagefit.train.data import PAIRS_MARKER, negative_columns

if TYPE_CHECKING:
    import datasets

    from pagefit.corpus import Page
    from pagefit.train_reranker.config import RerankerConfig

__all__ = ["EVALUATOR_NAME", "RerankerData", "load_reranker_data", "page_texts"]

logger = logging.getLogger(__name__)

EVALUATOR_NAME = "pagefit-rerank"


@dataclass
class RerankerData:
    """Training datasets keyed by direction (the document form), and the evaluator's samples."""

    train: dict[str, datasets.Dataset]
    eval_samples: list[dict[str, Any]] | None
    direction: str
    summary: dict[str, Any] = field(default_factory=dict)


def page_texts(paths: list[str]) -> dict[str, str]:
    """The text of each page image: the shared text cache (filled by ingest), OCR only on a miss."""
    from pagefit.models.ocr_text import load_page_image
    from pagefit.ocr import page_text

    return {path: page_text(load_page_image(path)) for path in dict.fromkeys(paths)}


def _load_mined(config: RerankerConfig) -> tuple[datasets.DatasetDict, dict[str, Any]]:
    from pagefit.pairs import load_pairs, load_pairs_meta

    path = Path(config.data).expanduser()
    if not (path / PAIRS_MARKER).is_file():
        raise PagefitError(
            f"{path} is not a mined folder: make one with `pagefit pairs CORPUS --out PAIRS` and "
            f"`pagefit mine PAIRS --out {path}`"
        )
    return load_pairs(path, corpus=config.corpus), load_pairs_meta(path)


def _corpus_pages(config: RerankerConfig, meta: dict[str, Any]) -> list[Page]:
    from pagefit.corpus import corpus_pages

    corpus = config.corpus or meta.get("corpus")
    if not corpus or not Path(corpus).is_dir():
        raise PagefitError(
            f"the corpus of {config.data} ({corpus}) is not a folder: pass --corpus (the `pagefit ingest` output)"
        )
    return corpus_pages(corpus)


def _check_negatives(train: datasets.Dataset, config: RerankerConfig) -> list[str]:
    negatives = negative_columns(train.column_names)
    extra = config.random_negatives + config.bm25_negatives
    if not negatives and config.num_negatives and not extra:
        raise PagefitError(
            f"{config.data} has no hard negatives (no negative_0.. columns): a reranker learns from "
            "(query, page, label) pairs with negatives. Run `pagefit mine PAIRS --out MINED` and train on "
            "MINED, or add --set bm25_negatives=N / --set random_negatives=N"
        )
    if negatives and len(negatives) < config.num_negatives:
        logger.warning(
            "%s has %d hard negative(s) per row; num_negatives is %d: using %d",
            config.data,
            len(negatives),
            config.num_negatives,
            len(negatives),
        )
    return negatives[: config.num_negatives]


def _positives_by_query(ds: datasets.Dataset) -> dict[str, list[str]]:
    positives: dict[str, list[str]] = {}
    for query, image in zip(ds["query"], ds["image"], strict=True):
        positives.setdefault(query, [])
        if image not in positives[query]:
            positives[query].append(image)
    return positives


def _bm25_candidates(
    queries: list[str], pool: list[str], texts: dict[str, str], depth: int
) -> dict[str, list[str]]:
    """The `depth` best pool pages by BM25 for each query text."""
    import numpy as np

    from pagefit.evaluation.bm25 import bm25_scores

    if not queries or not pool or depth == 0:
        return {}
    scores = bm25_scores([texts[p] for p in pool], queries)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    return {q: [pool[i] for i in row] for q, row in zip(queries, order, strict=True)}


def _row_negatives(
    row: dict[str, Any],
    hard: list[str],
    positives: set[str],
    bm25: list[str],
    pool: list[str],
    config: RerankerConfig,
    rng: random.Random,
) -> list[str]:
    chosen = [row[c] for c in hard if row[c] not in positives]
    taken = set(chosen) | positives
    for path in bm25:
        if len(chosen) >= len(hard) + config.bm25_negatives:
            break
        if path not in taken:
            chosen.append(path)
            taken.add(path)
    candidates = [p for p in pool if p not in taken]
    chosen += rng.sample(candidates, min(config.random_negatives, len(candidates)))
    return chosen


def _training_rows(
    train: datasets.Dataset,
    hard: list[str],
    pool: list[str],
    texts: dict[str, str] | None,
    config: RerankerConfig,
) -> list[tuple[str, str, list[str]]]:
    """(query, positive, negatives) for every training row."""
    positives = _positives_by_query(train)
    bm25: dict[str, list[str]] = {}
    if config.bm25_negatives:
        if texts is None:
            raise PagefitError("bm25_negatives needs page text: the corpus pages have none")
        depth = config.bm25_negatives + max((len(p) for p in positives.values()), default=1) + len(hard)
        bm25 = _bm25_candidates(list(positives), pool, texts, depth)
    rng = random.Random(config.seed)
    rows = []
    for row in train:
        query = row["query"]
        negatives = _row_negatives(row, hard, set(positives[query]), bm25.get(query, []), pool, config, rng)
        rows.append((query, row["image"], negatives))
    return rows


def document_form(document: str, texts: dict[str, str] | None) -> Callable[[str], Any]:
    """How a page (image path) is given to the reranker: path, text, or {"image", "text"}."""
    if document == "image":
        return lambda path: path
    assert texts is not None
    if document == "text":
        return lambda path: texts[path]
    return lambda path: {"image": path, "text": texts[path]}


def _dataset(
    rows: list[tuple[str, str, list[str]]], form: Callable[[str], Any], loss: str
) -> datasets.Dataset:
    import datasets

    if loss == "bce":
        records: dict[str, list[Any]] = {"query": [], "document": [], "label": []}
        for query, positive, negatives in rows:
            for path, label in [(positive, 1.0), *((n, 0.0) for n in negatives)]:
                records["query"].append(query)
                records["document"].append(form(path))
                records["label"].append(label)
        return datasets.Dataset.from_dict(records)
    if loss == "mnrl":
        n = min(len(negatives) for _, _, negatives in rows)
        records = {"query": [q for q, _, _ in rows], "positive": [form(p) for _, p, _ in rows]}
        for k in range(n):
            records[f"negative_{k}"] = [form(negs[k]) for _, _, negs in rows]
        return datasets.Dataset.from_dict(records)
    return datasets.Dataset.from_dict(
        {
            "query": [q for q, _, _ in rows],
            "docs": [[form(p), *map(form, negs)] for _, p, negs in rows],
            "labels": [[1.0] + [0.0] * len(negs) for _, _, negs in rows],
        }
    )


def retriever_candidates(
    retriever: str, queries: list[str], pool: list[Page], k: int, trust_remote_code: bool
) -> list[list[Page]]:
    """The retriever's top-k pool pages for each query, scored as `pagefit eval` scores the model: page
    vectors (from pagefit's embedding cache) mixed with each page's best passage for a text-reading model
    (`pagefit.passages`, its default settings), ties broken by page id."""
    import gc

    import numpy as np

    from pagefit.embeddings import encode_pages, encode_queries
    from pagefit.evaluation.metrics import rank_pages
    from pagefit.models import load_model
    from pagefit.passages import PassageConfig, encode_windows, reads_text, score_pages

    model = load_model(retriever, trust_remote_code=trust_remote_code)
    paths = [p.image_path for p in pool]
    keys = [p.image_hash for p in pool] if all(p.image_hash for p in pool) else None
    pages = encode_pages(model, paths, keys=keys, show_progress=False)
    query_emb = encode_queries(model, queries)
    passages = PassageConfig()
    windows = encode_windows(model, paths, passages, keys=keys) if reads_text(model) else None
    dim = min(pages.shape[1], model.truncate_dim or pages.shape[1])
    scores = score_pages(model, query_emb, pages, windows, dim, passages.weight)
    id_order = np.empty(len(pool), dtype=np.int64)
    id_order[np.argsort(np.asarray([p.page_id for p in pool], dtype=object), kind="stable")] = np.arange(
        len(pool)
    )
    top = rank_pages(scores, id_order, k)
    del model
    gc.collect()
    return [[pool[i] for i in row] for row in top]


def eval_documents(meta: dict[str, Any], eval_ds: datasets.Dataset | None) -> set[str]:
    """The eval-split documents: as the pairs folder records them (also those whose every row the miner
    dropped), else the documents the eval rows name."""
    recorded = meta.get("eval_docs")
    found = set(eval_ds["doc_id"]) if eval_ds is not None and "doc_id" in eval_ds.column_names else set()
    return set(recorded) | found if isinstance(recorded, list) else found


def eval_queries(folder: str | Path, eval_ds: datasets.Dataset | None) -> dict[str, list[str]]:
    """Eval query text -> its relevant page ids: every eval query of the pairs folder
    (`pagefit.pairs.split_queries`, also those the miner dropped), else (a hand-made folder) the eval rows'."""
    from pagefit.pairs import split_queries

    found: dict[str, list[str]] = {}
    records = split_queries(folder, "eval")
    if records:
        for record in records:
            found.setdefault(record["query"], []).extend(record["page_ids"])
    elif eval_ds is not None and "page_id" in eval_ds.column_names:
        for query, page_id in zip(eval_ds["query"], eval_ds["page_id"], strict=True):
            found.setdefault(query, []).append(page_id)
    return {query: list(dict.fromkeys(pages)) for query, pages in found.items()}


def _eval_samples(
    wanted: dict[str, list[str]],
    pool: list[Page],
    texts: dict[str, str] | None,
    config: RerankerConfig,
    retriever: str,
) -> list[dict[str, Any]]:
    """One `CrossEncoderRerankingEvaluator` sample per eval query: its relevant pages (pixel-identical twins
    too, as `pagefit eval` counts them) and the retriever's top `eval_top_k` of the eval-split pages."""
    from pagefit.duplicates import expand_with_twins, twins_by_page

    by_id = {p.page_id: p for p in pool}
    twins = twins_by_page(list(by_id), [p.image_hash for p in pool])
    relevant = {q: expand_with_twins([p for p in pages if p in by_id], twins) for q, pages in wanted.items()}
    missing = [q for q, pages in relevant.items() if not pages]
    if missing:
        logger.warning(
            "%d eval quer(ies) have no relevant page among the eval-split pages: left out", len(missing)
        )
    queries = [q for q, pages in relevant.items() if pages][: config.max_eval_queries]
    candidates = retriever_candidates(retriever, queries, pool, config.eval_top_k, config.trust_remote_code)
    form = document_form(config.document, texts)
    return [
        {"query": q, "positive": [form(by_id[p].image_path) for p in relevant[q]],
         "documents": [form(p.image_path) for p in top]}
        for q, top in zip(queries, candidates, strict=True)
    ]  # fmt: skip


def _retriever(config: RerankerConfig, meta: dict[str, Any]) -> str:
    return config.retriever or meta.get("mine", {}).get("config", {}).get("model") or "ocr-minilm"


def load_reranker_data(config: RerankerConfig) -> RerankerData:
    """Training pairs (or lists) and evaluation samples from the mined folder `config.data`."""
    if not config.data:
        raise PagefitError("no training data: pass MINED (a `pagefit mine` folder)")
    mined, meta = _load_mined(config)
    if "train" not in mined or len(mined["train"]) == 0:
        raise PagefitError(f"{config.data} has no training rows (split 'train' is missing or empty)")
    train = mined["train"]
    if config.max_train_samples and config.max_train_samples < len(train):
        train = train.select(range(config.max_train_samples))
    hard = _check_negatives(train, config)
    pages = _corpus_pages(config, meta)
    splits = {name: set(ds["doc_id"]) for name, ds in mined.items() if "doc_id" in ds.column_names}
    train_pool = [p.image_path for p in pages if p.doc_id in splits.get("train", set())]
    eval_ds = mined.get("eval")
    # Every eval query over every page of the eval-split documents, as `pagefit eval` measures the retriever:
    # not only the rows that survived mining (the miner drops queries whose positive it ranks badly).
    eval_docs = eval_documents(meta, eval_ds)
    eval_pages = [p for p in pages if p.doc_id in eval_docs]
    wanted = eval_queries(config.data, eval_ds)
    needs_text = config.document != "image" or config.bm25_negatives > 0
    texts = page_texts([p.image_path for p in pages]) if needs_text else None
    rows = _training_rows(train, hard, train_pool, texts, config)
    if not any(negs for _, _, negs in rows):
        raise PagefitError(f"{config.data}: no negatives could be chosen for any training row")
    ds = _dataset(rows, document_form(config.document, texts), config.loss)
    samples = None
    if wanted and eval_pages:
        samples = _eval_samples(wanted, eval_pages, texts, config, _retriever(config, meta))
    else:
        logger.warning("%s has no eval split: training without evaluation", config.data)
    summary = {
        "source": str(config.data),
        "train_rows": len(train),
        "train_examples": len(ds),
        "negatives_per_positive": {
            "mined": len(hard),
            "bm25": config.bm25_negatives,
            "random": config.random_negatives,
        },
        "train_pages": len(train_pool),
        "eval_queries": len(samples or []),
        "eval_pages": len(eval_pages),
        "eval_rows": len(eval_ds) if eval_ds is not None else 0,
        "eval_top_k": config.eval_top_k,
        "retriever": _retriever(config, meta) if samples else None,
        "document": config.document,
    }
    return RerankerData({config.document: ds}, samples, config.document, summary)
