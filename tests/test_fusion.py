"""Hybrid fusion against hand-computed fused rankings, and `pagefit eval --hybrid / --tune-fusion`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pagefit.errors import PagefitError
from pagefit.evaluation.fusion import FusionConfig, fuse, sparse_as_retrieved, tune_weight

NONE = -np.inf
# 5 pages; dense ranks 2 > 0 > 1 > 4 > 3; BM25 retrieved only pages 1 (3.0), 3 (1.0), 0 (0.5)
DENSE = np.array([[0.8, 0.5, 0.9, 0.1, 0.3]], dtype=np.float32)
BM25 = np.array([[0.5, 3.0, 0.0, 1.0, 0.0]], dtype=np.float32)


def test_rrf_matches_hand_computation():
    fused = fuse([DENSE, sparse_as_retrieved(BM25)], FusionConfig(method="rrf", rrf_k=60))
    # dense ranks: p2=1 p0=2 p1=3 p4=4 p3=5 ; bm25 ranks: p1=1 p3=2 p0=3 (p2, p4 matched no term)
    expected = [1 / 62 + 1 / 63, 1 / 63 + 1 / 61, 1 / 61, 1 / 65 + 1 / 62, 1 / 64]
    np.testing.assert_allclose(fused[0], expected, rtol=1e-6)
    assert np.argsort(-fused[0], kind="stable").tolist() == [1, 0, 3, 2, 4]


def test_rrf_depth_cuts_each_list():
    fused = fuse([DENSE, sparse_as_retrieved(BM25)], FusionConfig(method="rrf", rrf_k=1, depth=2))
    # dense top 2: p2 (1/2), p0 (1/3); bm25 top 2: p1 (1/2), p3 (1/3); p4 is in neither list
    np.testing.assert_allclose(fused[0], [1 / 3, 1 / 2, 1 / 2, 1 / 3, NONE])


def test_weighted_matches_hand_computation():
    fused = fuse([DENSE, sparse_as_retrieved(BM25)], FusionConfig(method="weighted", weight=0.3))
    dense_norm = (DENSE[0] - 0.1) / (0.9 - 0.1)  # min-max over the dense list (all 5 pages)
    bm25_norm = {1: 1.0, 3: (1.0 - 0.5) / 2.5, 0: 0.0}  # over the 3 retrieved pages
    expected = [0.3 * dense_norm[p] + 0.7 * bm25_norm.get(p, 0.0) for p in range(5)]
    np.testing.assert_allclose(fused[0], expected, rtol=1e-6)
    # p0 .2625, p1 .85, p2 .30, p3 .14, p4 .075
    assert np.argsort(-fused[0], kind="stable").tolist() == [1, 2, 0, 3, 4]


def test_ties_follow_the_given_order_and_weights_at_the_ends():
    dense = np.array([[0.5, 0.5, 0.2]], dtype=np.float32)
    bm25 = np.array([[NONE, NONE, NONE]], dtype=np.float32)
    tie = np.array([2, 0, 1])  # page 1 sorts first by id
    fused = fuse([dense, bm25], FusionConfig(method="rrf", rrf_k=10), tie_order=tie)
    np.testing.assert_allclose(fused[0], [1 / 12, 1 / 11, 1 / 13])
    only_dense = fuse([DENSE, sparse_as_retrieved(BM25)], FusionConfig(method="weighted", weight=1.0))
    assert np.argsort(-only_dense[0], kind="stable")[:3].tolist() == [2, 0, 1]


def test_keyword_like_queries_are_short_and_have_no_stopword():
    from pagefit.evaluation.fusion import keyword_like

    for query in ("node color HSV hexadecimal RGB", "hurdle.control", "zeroinfl dist argument", "E34"):
        assert keyword_like(query), query
    for query in ("How does a hurdle model handle zero counts?", "the colour scale of the investment plot",
                  "two cubes side by side with open circles for every named colour"):  # fmt: skip
        assert not keyword_like(query), query
    assert not keyword_like("Rechnung für den Kunden", "de") and keyword_like(
        "Rechnung Lieferschein Kunde", "de"
    )


def test_keyword_queries_get_their_own_weight_query_by_query():
    from pagefit.evaluation.fusion import keyword_like

    queries = ["harbor cranes", "which cranes lift the containers in the harbor"]
    assert [keyword_like(q) for q in queries] == [True, False]
    dense, bm25 = np.vstack([DENSE, DENSE]), sparse_as_retrieved(np.vstack([BM25, BM25]))
    config = FusionConfig(weight=0.7, keyword_weight=0.2)
    fused = fuse([dense, bm25], config, queries=queries)
    for row, weight in ((0, 0.2), (1, 0.7)):  # each row as a plain weighted fusion at its own weight
        alone = fuse([DENSE, sparse_as_retrieved(BM25)], FusionConfig(weight=weight))
        np.testing.assert_allclose(fused[row], alone[0], rtol=1e-6)
    sentences = fuse([dense, bm25], config)  # without the texts every query is weighed as a sentence
    np.testing.assert_allclose(sentences[0], fused[1], rtol=1e-6)


def test_tune_weight_picks_the_best_weight_on_the_grid():
    # The relevant page (1) wins only when BM25 weighs at least half.
    def score(fused: np.ndarray) -> float:
        return float(np.argmax(fused[0]) == 1)

    weight, grid = tune_weight(DENSE, sparse_as_retrieved(BM25), score, FusionConfig(keyword_weight=None))
    assert set(grid) == {f"{w / 10:.2f}" for w in range(11)}
    assert grid["0.00"] == 1.0 and grid["1.00"] == 0.0
    assert weight == 0.5  # ties go to the weight closest to 0.5


def test_eval_hybrid_entry_and_tuning_recorded(sample_corpus, sample_queries, ocr_minilm, tmp_path):
    from pagefit.evaluation import evaluate
    from pagefit.queries import read_queries, write_queries

    queries = read_queries(sample_queries)
    tune_dir = tmp_path / "pairs"
    tune_dir.mkdir()
    tune = [
        q.model_copy(update={"query": q.query + " details", "query_id": "t" + q.query_id}) for q in queries
    ]
    write_queries(tune_dir / "eval_queries.jsonl", tune)
    report = evaluate(
        sample_corpus, sample_queries, {"minilm": ocr_minilm}, hybrid="weighted", tune_fusion=tune_dir,
        n_resamples=200, show_progress=False, out=tmp_path / "report",
    )  # fmt: skip
    names = [m.name for m in report.models]
    assert names == ["minilm", "bm25", "hybrid(bm25+minilm)"]
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    fusion = saved["settings"]["fusion"]
    assert fusion["method"] == "weighted" and fusion["tuned_on"] == str(tune_dir)
    assert fusion["weight"] == float(
        max(fusion["tuning"], key=lambda w: (fusion["tuning"][w], -abs(float(w) - 0.5)))
    )
    hybrid = saved["models"][2]
    assert hybrid["vs_first"] is not None and "p_value" in hybrid["vs_first"]
    with pytest.raises(PagefitError, match="never on the queries reported"):
        evaluate(sample_corpus, sample_queries, {"minilm": ocr_minilm}, tune_fusion=sample_queries,
                 n_resamples=200, show_progress=False)  # fmt: skip
