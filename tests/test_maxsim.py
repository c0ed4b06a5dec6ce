"""Exact MaxSim (batched, memory-mapped) against Sentence Transformers, and multi-vector entries in `pagefit eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers.multi_vector_encoder.scoring import colbert_scores

from pagefit.evaluation import evaluate
from pagefit.evaluation.maxsim import maxsim_scores
from pagefit.evaluation.metrics import query_metrics, rank_pages
from pagefit.models import load_model
from pagefit.multivector_embeddings import MultiVectorCache, MultiVectorPages, encode_multivector_pages
from pagefit.ocr import PageTextCache
from test_evaluate import _build_corpus, _write_queries


def _random_set(rng: np.random.Generator, n: int, dim: int, lo: int, hi: int) -> list[np.ndarray]:
    out = []
    for _ in range(n):
        v = rng.standard_normal((int(rng.integers(lo, hi)), dim)).astype(np.float32)
        out.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return out


def _colbert(queries: list[np.ndarray], pages: list[np.ndarray]) -> np.ndarray:
    q = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(x) for x in queries], batch_first=True)
    p = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(x) for x in pages], batch_first=True)
    q_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(x)) for x in queries], batch_first=True)
    p_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(x)) for x in pages], batch_first=True)
    return colbert_scores(q, p.unsqueeze(1), queries_mask=q_mask, documents_mask=p_mask.unsqueeze(1)).numpy()


@pytest.mark.parametrize("max_elements", [10_000_000, 3_000])  # one batch; many small batches
def test_maxsim_equals_colbert_scores_from_a_memory_mapped_set(tmp_path, max_elements):
    rng = np.random.default_rng(0)
    queries, pages = _random_set(rng, 7, 16, 2, 12), _random_set(rng, 53, 16, 1, 90)
    MultiVectorPages.from_list(pages).save(tmp_path)
    stored = MultiVectorPages.load(tmp_path)
    assert isinstance(stored.vectors, np.memmap) and len(stored) == 53
    ours = maxsim_scores(queries, stored, max_elements=max_elements)
    np.testing.assert_allclose(ours, _colbert(queries, pages), rtol=1e-5, atol=1e-5)
    assert stored.bytes_per_page() == pytest.approx(np.mean([len(p) for p in pages]) * 16 * 4)


def test_multivector_cache_round_trip_and_hits(tmp_path):
    rng = np.random.default_rng(1)
    pages = _random_set(rng, 4, 8, 1, 6)
    cache = MultiVectorCache("fp", 8, root=tmp_path)
    cache.put(["a", "b"], pages[:2])
    other = MultiVectorCache("fp", 8, root=tmp_path)  # another process: sees the shard
    got = other.get(["b", "x", "a"])
    assert got[1] is None
    np.testing.assert_array_equal(got[0], pages[1])
    np.testing.assert_array_equal(got[2], pages[0])


@pytest.fixture
def corpus(tmp_path, own_cache):
    rows = _build_corpus(tmp_path / "corpus", PageTextCache())
    queries = [
        {"query_id": f"q{i}", "query": row["text"].split(": ")[1], "page_id": row["page_id"]}
        for i, row in enumerate(rows[::3])
    ]
    return tmp_path / "corpus", _write_queries(tmp_path / "queries.jsonl", queries), queries


def test_eval_reports_multivector_beside_single_vector_and_bm25(corpus, tmp_path, monkeypatch):
    corpus_dir, queries_file, queries = corpus
    colminilm = load_model("ocr-colminilm", device="cpu")
    report = evaluate(
        corpus_dir,
        queries_file,
        [("minilm", "ocr-minilm"), ("colminilm", colminilm)],
        bm25=True,
        out=tmp_path / "report",
        n_resamples=200,
        show_progress=False,
    )
    names = [m.name for m in report.models]
    assert names == ["minilm", "colminilm", "bm25"]
    single, multi, bm25 = report.models
    assert single.vectors_per_page == 1 and single.bytes_per_page == 384 * 4
    assert multi.vectors_per_page > 1 and multi.bytes_per_page == pytest.approx(
        multi.vectors_per_page * 128 * 2  # token vectors at the index's float16
    )
    assert bm25.bytes_per_page > 0 and all(m.latency_ms is not None for m in report.models)
    assert multi.vs_first is not None and multi.vs_first.wins + multi.vs_first.losses <= len(queries)

    # the multi-vector entry's metrics are those of Sentence Transformers' own MaxSim over the pages
    from pagefit.corpus import corpus_image_paths, load_corpus

    pages = load_corpus(corpus_dir)
    page_ids = list(pages["page_id"])
    doc_emb = colminilm.encode_document(corpus_image_paths(corpus_dir, pages))
    query_emb = colminilm.encode_query([q["query"] for q in queries])
    reference = colminilm.similarity(query_emb, doc_emb).numpy()
    order = np.empty(len(page_ids), dtype=np.int64)
    order[np.argsort(np.asarray(page_ids, dtype=object), kind="stable")] = np.arange(len(page_ids))
    ranked = rank_pages(reference, order)
    expected = np.mean([query_metrics([page_ids[i] for i in row], [q["page_id"]])["ndcg@10"]
                        for q, row in zip(queries, ranked, strict=True)])  # fmt: skip
    assert multi.metrics["ndcg@10"] == pytest.approx(expected, abs=1e-6)

    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert all("bytes_per_page" in m for m in saved["models"])
    html = (tmp_path / "report" / "report.html").read_text()
    assert "bytes per page vs" in html and "bytes/page" in (tmp_path / "report" / "report.md").read_text()

    # page vectors were cached once per model and page: a second run encodes no page
    def no_pages(*args, **kwargs):
        raise AssertionError("encoded a cached page again")

    monkeypatch.setattr("pagefit.multivector_embeddings._encode", no_pages)
    again = encode_multivector_pages(
        colminilm, corpus_image_paths(corpus_dir, pages), keys=list(pages["image_hash"])
    )
    assert len(again) == len(page_ids)
