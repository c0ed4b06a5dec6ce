"""`pagefit eval --reranker`: each reranked entry against the entry it reranks, and what reranking costs."""

from __future__ import annotations

import numpy as np
from sentence_transformers import CrossEncoder

from _tiny_models import _write_bert_checkpoint
from pagefit.evaluation import evaluate
from pagefit.evaluation.report import markdown_report
from pagefit.evaluation.significance import compare_paired
from test_evaluate import ws  # noqa: F401  (the corpus fixture of the eval tests)


def test_reranked_entry_is_compared_with_retrieve_only(ws, tmp_path):  # noqa: F811
    _write_bert_checkpoint(tmp_path / "bert", seed=0)
    reranker = CrossEncoder(str(tmp_path / "bert"), num_labels=1)
    report = evaluate(ws.corpus, ws.queries, [], bm25=True, reranker=reranker, rerank_top_k=3,
                      n_resamples=500, show_progress=False)  # fmt: skip
    before, after = report.model("bm25"), report.model("bm25+rerank")
    assert before.vs_retriever is None and after.vs_retriever.baseline == "bm25"
    qids = list(report.per_query)
    a = [report.per_query[q].results["bm25"].metrics["ndcg@10"] for q in qids]
    b = [report.per_query[q].results["bm25+rerank"].metrics["ndcg@10"] for q in qids]
    reference = compare_paired(a, b, n_resamples=500, seed=0)
    np.testing.assert_allclose(after.vs_retriever.ndcg_at_10_diff, np.mean(b) - np.mean(a), atol=1e-9)
    assert after.vs_retriever.p_value == reference.p_value
    assert after.vs_retriever.wins == sum(y > x for x, y in zip(a, b, strict=True))
    # every query's top 3 was scored once: cost = rerank seconds per pair x 3 pairs
    assert after.timing["rerank_pairs"] == 3 * len(qids)
    expected = 1000 * after.timing["rerank"] / after.timing["rerank_pairs"] * 3
    np.testing.assert_allclose(after.rerank_ms, expected, rtol=1e-2)
    md = markdown_report(report)
    assert "## Reranking (top 3 of each entry, ndcg@10)" in md
    section = md.split("## Reranking")[1].split("## Timing")[0]
    row = next(line for line in section.splitlines() if line.startswith("| bm25 | "))
    assert f"{before.metrics['ndcg@10']:.4f} | {after.metrics['ndcg@10']:.4f}" in row
