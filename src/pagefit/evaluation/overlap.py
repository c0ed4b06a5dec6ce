"""Does `pagefit eval` measure a model on what it was trained on? Read from the model's own records.

A model folder written by `pagefit train` names its training data in `train_summary.json`; when that is a
pairs/mined folder, its `queries.jsonl` lists the train queries and its `pagefit_pairs.json` the train
documents (of the corpus it records). An eval query whose text was a train query, or whose relevant page
belongs to a train document, measures memory, not retrieval: `eval` says so and records the counts.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["training_overlap", "warn_training_overlap"]

logger = logging.getLogger(__name__)


def _train_queries(folder: Path) -> set[str]:
    from pagefit.pairs import normal_text, split_queries

    return {normal_text(r["query"]) for r in split_queries(folder, "train") if r.get("query")}


def _train_pages(meta: dict[str, Any]) -> set[str]:
    from pagefit.corpus import load_corpus

    docs, corpus = set(meta.get("train_docs") or []), meta.get("corpus")
    if not docs or not corpus or not (Path(corpus) / "pages").is_dir():
        return set()
    table = load_corpus(corpus)
    return {pid for pid, doc in zip(table["page_id"], table["doc_id"], strict=True) if doc in docs}


def training_overlap(model: Any, queries: Sequence[Any]) -> dict[str, Any] | None:
    """How many of `queries` the model trained on (same text) or whose relevant page it trained on; None when
    the model is not a folder `pagefit train` wrote from a pairs/mined folder that still exists."""
    from pagefit.pairs import load_pairs_meta, normal_text

    if not isinstance(model, (str, os.PathLike)):
        return None
    summary_file = Path(model) / "train_summary.json"
    if not summary_file.is_file():
        return None
    source = json.loads(summary_file.read_text(encoding="utf-8")).get("data", {}).get("source")
    folder = Path(source) if source else None
    if folder is None or not (folder / "pagefit_pairs.json").is_file():
        return None
    trained, pages = _train_queries(folder), _train_pages(load_pairs_meta(folder))
    same_text = [q.query_id for q in queries if normal_text(q.query) in trained]
    on_pages = [q.query_id for q in queries if set(q.page_ids) & pages]
    return {"training_data": str(folder), "queries": len(queries), "same_text_as_train": len(same_text),
            "relevant_page_trained_on": len(on_pages), "examples": (same_text or on_pages)[:3]}  # fmt: skip


def warn_training_overlap(
    named: Sequence[tuple[str, Any]], queries: Sequence[Any]
) -> dict[str, dict[str, Any]]:
    """Warn for every entry whose model trained on some of the eval queries or their pages; the counts by
    entry name (for report.json `settings.training_overlap`)."""
    found = {}
    for name, spec in named:
        overlap = training_overlap(spec, queries)
        if not overlap or not (overlap["same_text_as_train"] or overlap["relevant_page_trained_on"]):
            continue
        found[name] = overlap
        logger.warning(
            "%s trained on %d of these %d queries (same text) and on the relevant page of %d (its train split, %s): "
            "its numbers measure memory as well as retrieval; evaluate on queries of documents it never saw "
            "(the eval split of `pagefit pairs`)",
            name,
            overlap["same_text_as_train"],
            overlap["queries"],
            overlap["relevant_page_trained_on"],
            overlap["training_data"],
        )
    return found
