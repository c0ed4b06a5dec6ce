"""Metrics and rankings: equal to trec_eval (pytrec_eval) and to Sentence Transformers' evaluator."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pagefit.evaluation.metrics import METRICS, mean_metrics, metrics_by_group, query_metrics, rank_pages

TREC_MEASURES = {
    "ndcg@1": "ndcg_cut_1",
    "ndcg@5": "ndcg_cut_5",
    "ndcg@10": "ndcg_cut_10",
    "map@100": "map_cut_100",
    "recall@1": "recall_1",
    "recall@5": "recall_5",
    "recall@10": "recall_10",
    "recall@100": "recall_100",
}


def _synthetic(n_queries: int = 60, n_pages: int = 300, seed: int = 0):
    """Random rankings with 1-12 relevant pages per query, some of them ranked below 100 or never."""
    rng = random.Random(seed)
    pages = [f"doc{rng.randrange(20)}#p{i}" for i in range(n_pages)]
    rankings, qrels = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        ranking = rng.sample(pages, rng.choice([5, 50, 150, n_pages]))
        relevant = set(rng.sample(pages, rng.randint(1, 12)))
        if q % 3 == 0:  # make sure early hits happen
            relevant.add(ranking[rng.randrange(min(5, len(ranking)))])
        rankings[qid], qrels[qid] = ranking, relevant
    return rankings, qrels


def _tie_free_run(rankings: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    # trec_eval sorts by score, then page id descending: strictly decreasing scores leave nothing to break.
    return {
        qid: {page: float(len(ranking) - i) for i, page in enumerate(ranking)}
        for qid, ranking in rankings.items()
    }


def test_metrics_equal_pytrec_eval():
    import pytrec_eval  # a dev dependency: this oracle never skips

    rankings, qrels = _synthetic()
    trec_qrels = {qid: {page: 1 for page in relevant} for qid, relevant in qrels.items()}
    evaluator = pytrec_eval.RelevanceEvaluator(trec_qrels, set(TREC_MEASURES.values()) | {"recip_rank"})
    trec = evaluator.evaluate(_tie_free_run(rankings))
    # MRR@10 is trec_eval's recip_rank on the top 10 pages.
    top10 = {qid: ranking[:10] for qid, ranking in rankings.items()}
    trec_rr10 = pytrec_eval.RelevanceEvaluator(trec_qrels, {"recip_rank"}).evaluate(_tie_free_run(top10))
    ours = {qid: query_metrics(rankings[qid], qrels[qid]) for qid in rankings}
    assert any(0 < m["ndcg@10"] < 1 for m in ours.values()) and any(
        m["recall@100"] < 1 for m in ours.values()
    )
    for qid in rankings:
        for name, measure in TREC_MEASURES.items():
            assert ours[qid][name] == pytest.approx(trec[qid][measure], abs=1e-6), (qid, name)
        assert ours[qid]["mrr@10"] == pytest.approx(trec_rr10[qid]["recip_rank"], abs=1e-6), qid
    means = mean_metrics(ours.values())
    for name, measure in TREC_MEASURES.items():
        assert means[name] == pytest.approx(np.mean([trec[q][measure] for q in trec]), abs=1e-6)


def test_rank_pages_breaks_ties_by_page_id_and_matches_sentence_transformers():
    """Heavily tied scores: our ranking and metrics equal the evaluator's (-score, corpus_id) order."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    rng = np.random.default_rng(1)
    page_ids = [f"p{rng.integers(10_000):05d}-{i}" for i in range(180)]
    scores = rng.integers(0, 6, size=(25, len(page_ids))).astype(np.float32) / 5  # many ties
    id_order = np.argsort(np.argsort(np.asarray(page_ids, dtype=object)))
    ranked = rank_pages(scores, id_order, k=100)
    for q in range(len(scores)):
        expected = sorted(range(len(page_ids)), key=lambda i: (-scores[q, i], page_ids[i]))[:100]
        assert ranked[q].tolist() == expected

    qrels = {
        f"q{q}": set(rng.choice(page_ids, size=int(rng.integers(1, 8)), replace=False)) for q in range(25)
    }
    st = InformationRetrievalEvaluator(
        queries={qid: qid for qid in qrels},
        corpus={pid: pid for pid in page_ids},
        relevant_docs=qrels,
        ndcg_at_k=[1, 5, 10],
        mrr_at_k=[10],
        map_at_k=[100],
        precision_recall_at_k=[1, 5, 10, 100],
        accuracy_at_k=[1],
    )
    # The evaluator keeps its top 100 hits per query and sorts them itself by (-score, corpus_id).
    results = [
        [
            {"corpus_id": page_ids[i], "score": float(scores[q, i])}
            for i in rank_pages(scores[q : q + 1], id_order)[0]
        ]
        for q in range(25)
    ]
    expected = st.compute_metrics(results)
    ours = mean_metrics(query_metrics([page_ids[i] for i in ranked[q]], qrels[f"q{q}"]) for q in range(25))
    for name in METRICS:
        kind, k = name.split("@")
        assert ours[name] == pytest.approx(float(expected[f"{kind}@k"][int(k)]), abs=1e-9), name


def test_query_metrics_by_hand():
    m = query_metrics(["a", "x", "b", "y"], {"a", "b", "z"})
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert m["ndcg@1"] == 1.0
    assert m["ndcg@5"] == pytest.approx((1 + 1 / np.log2(4)) / ideal)
    assert m["map@100"] == pytest.approx((1 + 2 / 3) / 3)
    assert m["mrr@10"] == 1.0
    assert m["recall@1"] == pytest.approx(1 / 3) and m["recall@5"] == pytest.approx(2 / 3)
    assert query_metrics(["x", "y", "a"], {"a"})["mrr@10"] == pytest.approx(1 / 3)
    assert query_metrics([f"x{i}" for i in range(10)] + ["a"], {"a"})["mrr@10"] == 0.0


def test_rank_pages_small_corpus_and_groups():
    scores = np.array([[0.1, 0.9, 0.5]], dtype=np.float32)
    assert rank_pages(scores, np.arange(3), k=100).tolist() == [[1, 2, 0]]
    per_query = {"q1": {"ndcg@10": 1.0}, "q2": {"ndcg@10": 0.0}, "q3": {"ndcg@10": 0.5}}
    assert metrics_by_group(per_query, {"q1": "table", "q2": "table", "q3": None}) == {
        "table": {"ndcg@10": 0.5}
    }
