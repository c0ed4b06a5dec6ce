"""`pagefit eval` says when a model is measured on queries or pages it was trained on (its train_summary.json
names its pairs folder), and records the counts in report.json."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from pagefit.evaluation import evaluate
from pagefit.pairs import pairs
from test_pairs import USER_QUERIES, make_corpus, topic_docs, write_jsonl


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))


def test_eval_warns_when_a_model_trained_on_its_queries_or_pages(tmp_path, tiny_clip_path, caplog):
    corpus = make_corpus(tmp_path / "corpus", topic_docs())
    result = pairs(corpus, tmp_path / "pairs", queries=write_jsonl(tmp_path / "q.jsonl", USER_QUERIES),
                   eval_fraction=0.25, validation_fraction=0, seed=0, show_progress=False)  # fmt: skip
    rows = [json.loads(x) for x in (tmp_path / "pairs" / "queries.jsonl").read_text().splitlines()]
    trained = next(r for r in rows if r["split"] == "train")
    train_page = next(
        p for r in rows if r["split"] == "train" for p in r["page_ids"] if p != trained["page_ids"][0]
    )
    held = next(r for r in rows if r["split"] == "eval")
    model = tmp_path / "model"
    shutil.copytree(tiny_clip_path, model)
    (model / "train_summary.json").write_text(json.dumps({"data": {"source": str(tmp_path / "pairs")}}))
    queries = write_jsonl(tmp_path / "eval.jsonl", [
        {"query_id": "copy", "query": trained["query"].upper(), "page_id": trained["page_ids"][0]},  # same text
        {"query_id": "page", "query": "an unseen question", "page_id": train_page},  # a page it trained on
        {"query_id": "fresh", "query": "another unseen question", "page_id": held["page_ids"][0]},
    ])  # fmt: skip
    assert held["page_ids"][0].split("#")[0] in result.eval_docs
    with caplog.at_level(logging.WARNING, logger="pagefit"):
        report = evaluate(
            corpus, queries, {"tuned": str(model), "plain": str(tiny_clip_path)}, show_progress=False
        )
    overlap = report.settings["training_overlap"]
    assert set(overlap) == {"tuned"}  # a model without a training record is not flagged
    assert (overlap["tuned"]["same_text_as_train"], overlap["tuned"]["relevant_page_trained_on"]) == (1, 2)
    assert "tuned trained on 1 of these 3 queries (same text) and on the relevant page of 2" in caplog.text
