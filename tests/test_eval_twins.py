"""`pagefit eval` applies the duplicates rule: a pixel-identical twin of a relevant page is relevant."""

from __future__ import annotations

import json

import pytest

from pagefit.evaluation import evaluate
from test_pairs import _add_copy, make_corpus, topic_docs, write_jsonl


def test_a_twin_of_a_relevant_page_is_relevant_and_counted(tmp_path):
    corpus = make_corpus(tmp_path / "corpus", topic_docs())
    # "copies/harbor#p1" has the pixels (and text) of "reports/harbor#p1" and sorts before it: on BM25's
    # tie it ranks first, and would count as a miss if twins were not relevant
    _add_copy(corpus, {"copies/harbor#p1": "reports/harbor#p1"})
    queries = write_jsonl(tmp_path / "q.jsonl", [
        {"query_id": "a", "query": "container cranes budget office", "page_id": "reports/harbor#p1"},
        {"query_id": "b", "query": "apple scab office", "page_id": "reports/orchard#p1"},
    ])  # fmt: skip
    report = evaluate(corpus, queries, [], bm25=True, out=tmp_path / "report", show_progress=False)
    assert report.per_query["a"].page_ids == ["reports/harbor#p1", "copies/harbor#p1"]
    assert report.per_query["b"].page_ids == ["reports/orchard#p1"]
    top = report.per_query["a"].results["bm25"].top
    assert set(top[:2]) == {"reports/harbor#p1", "copies/harbor#p1"}
    assert report.per_query["a"].results["bm25"].metrics["ndcg@10"] == pytest.approx(1.0)
    assert report.settings["twin_qrels"] == {"qrels_added": 1, "queries_expanded": 1}
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["settings"]["twin_qrels"]["qrels_added"] == 1


def test_identical_rows_are_scored_once_so_they_tie_bit_for_bit():
    import numpy as np

    from pagefit.embeddings import distinct_rows, score_distinct_rows

    rows = np.array([[1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    queries = np.array([[0.8, 0.6]], dtype=np.float32)

    def noisy(q: np.ndarray, r: np.ndarray) -> np.ndarray:  # a product that rounds by column position
        return q @ r.T + np.arange(len(r), dtype=np.float32) * 1e-7

    plain = noisy(queries, rows)
    assert plain[0, 0] != plain[0, 2]  # what an unguarded scan does to twins
    twins = distinct_rows(rows)
    assert twins is not None and twins[1].tolist() == [0, 1, 0, 2, 1]
    scores = score_distinct_rows(noisy, queries, rows, twins)
    assert scores[0, 0] == scores[0, 2] and scores[0, 1] == scores[0, 4]
    np.testing.assert_allclose(scores, queries @ rows.T, atol=1e-6)
    assert distinct_rows(rows[:2]) is None
