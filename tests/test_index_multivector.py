"""Two-stage multi-vector search (`pagefit.index.multivector`): equivalence with exhaustive MaxSim, save/load, pooling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers.multi_vector_encoder.modules import HierarchicalTokenPooling, LambdaTokenPooling

from pagefit.errors import PagefitError
from pagefit.evaluation.maxsim import maxsim_scores
from pagefit.index.multivector import MultiVectorIndex, Muvera
from pagefit.multivector_embeddings import MultiVectorPages


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def data():
    """300 pages of 4..20 vectors around 3 of 30 topics; queries are noisy copies of a page's vectors."""
    rng = np.random.default_rng(0)
    centroids = _unit(rng.standard_normal((30, 32)))
    pages = []
    for _ in range(300):
        topics = rng.integers(0, 30, 3)
        n = int(rng.integers(4, 21))
        pages.append(
            _unit(centroids[rng.choice(topics, n)] + rng.standard_normal((n, 32)) / 5).astype(np.float32)
        )
    targets = rng.integers(0, 300, 12)
    queries = [_unit(pages[t][rng.integers(0, len(pages[t]), 6)] + rng.standard_normal((6, 32)) / 20).astype(np.float32)
               for t in targets]  # fmt: skip
    return MultiVectorPages.from_list(pages), queries, targets


@pytest.mark.parametrize("first_stage", ["mean", "muvera"])
def test_search_with_every_page_as_candidate_is_exhaustive_maxsim(data, first_stage):
    pages, queries, targets = data
    index = MultiVectorIndex.build(pages, first_stage=first_stage, dtype=np.float32)
    full = index.search(queries, k=10, candidates=len(pages))
    exact = index.search_exhaustive(queries, k=10)
    np.testing.assert_array_equal(full.indices, exact.indices)
    np.testing.assert_allclose(full.scores, exact.scores, rtol=1e-6)
    reference = maxsim_scores(queries, pages)
    np.testing.assert_allclose(exact.scores, np.sort(reference, axis=1)[:, ::-1][:, :10], rtol=1e-6)
    assert all(t in row for t, row in zip(targets, exact.indices, strict=True))  # the source page is found
    # the first stage alone already puts the source page among its best 30 of 300 candidates
    first = index.first_stage_scores(queries)
    assert all(t in np.argsort(-row)[:30] for t, row in zip(targets, first, strict=True))
    few = index.search(queries, k=10, candidates=30)
    assert all(t in row for t, row in zip(targets, few.indices, strict=True))


def test_muvera_encoding_shape_and_determinism(data):
    pages, queries, _ = data
    muvera = Muvera(repetitions=4, bits=2, projection=8, seed=3)
    fde = muvera.encode_pages(pages, chunk=64)  # chunked encoding equals one pass
    np.testing.assert_allclose(fde, muvera.encode_pages(pages, chunk=1000), rtol=1e-6, atol=1e-6)
    assert fde.shape == (len(pages), 4 * 4 * 8) and not np.isnan(fde).any()
    np.testing.assert_array_equal(muvera.encode_queries(queries), muvera.encode_queries(queries))


def test_save_load_round_trip_and_storage_record(data, tmp_path):
    pages, queries, _ = data
    index = MultiVectorIndex.build(
        pages, first_stage="muvera", muvera=Muvera(repetitions=2, bits=2, projection=8)
    )
    index.save(tmp_path / "idx")
    loaded = MultiVectorIndex.load(tmp_path / "idx")
    assert isinstance(loaded.pages.vectors, np.memmap) and loaded.pages.vectors.dtype == np.float16
    a, b = index.search(queries, candidates=40), loaded.search(queries, candidates=40)
    np.testing.assert_array_equal(a.indices, b.indices)
    meta = json.loads((tmp_path / "idx" / "multivector_index.json").read_text())
    expected = pages.vectors_per_page() * 32 * 2 + 2 * 4 * 8 * 4  # float16 tokens + float32 FDE
    assert meta["bytes_per_page"] == pytest.approx(expected, abs=0.1) and meta["pages"] == 300
    with pytest.raises(PagefitError, match="not a multi-vector index"):
        MultiVectorIndex.load(tmp_path)


def test_token_pooling_as_an_index_option(data):
    pages, queries, _ = data
    pages = pages.select(range(40))
    pooled = MultiVectorIndex.build(pages, token_pooling=HierarchicalTokenPooling(pool_factor=2))
    assert pooled.pooling["vectors_per_page_after"] < 0.7 * pooled.pooling["vectors_per_page_before"]
    assert pooled.vectors_per_page == pytest.approx(pooled.pooling["vectors_per_page_after"], abs=0.01)

    def first_two(embedding: torch.Tensor) -> torch.Tensor:
        return embedding[:2]

    kept = MultiVectorIndex.build(pages, token_pooling=LambdaTokenPooling(first_two))
    assert kept.vectors_per_page == 2.0 and len(kept.search(queries, k=3).indices[0]) == 3


# ---------------------------------------------------------------------------------------------------
# `pagefit index` / `search` / `serve` / `eval` with a multi-vector model (the built-in ocr-colminilm)
# ---------------------------------------------------------------------------------------------------

SEARCH_FIELDS = {"rank", "page_id", "score", "source", "page_number", "image", "snippet"}


def _cli(*args: object):
    from typer.testing import CliRunner

    import pagefit.cli

    return CliRunner().invoke(pagefit.cli.app, [str(a) for a in args], env={"COLUMNS": "400"})


def _small_corpus(root):
    """20 pages of 4 documents whose text is in the (current) OCR cache, and one query per 3rd page."""
    from pagefit.ocr import PageTextCache
    from test_evaluate import _build_corpus

    rows = _build_corpus(root, PageTextCache())
    return rows, [(row["text"].split(": ")[1], row["page_id"]) for row in rows[::3]]


@pytest.fixture(scope="module")
def colminilm():
    from pagefit.models import load_model

    return load_model("ocr-colminilm", device="cpu")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`pagefit index CORPUS --model ocr-colminilm --out INDEX --hybrid` run through the CLI."""
    root = tmp_path_factory.mktemp("mv-index")
    rows, queries = _small_corpus(root / "corpus")
    result = _cli("index", root / "corpus", "--model", "ocr-colminilm", "--out", root / "idx", "--hybrid",
                  "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    return root / "corpus", root / "idx", rows, queries


def _exhaustive(model, corpus, queries):
    """Every page's exact MaxSim (float32 page vectors from the model) and the page ids, corpus order."""
    from pagefit.corpus import corpus_image_paths, load_corpus
    from pagefit.multivector_embeddings import encode_multivector_pages, encode_multivector_queries

    pages = load_corpus(corpus)
    vectors = encode_multivector_pages(
        model, corpus_image_paths(corpus, pages), cache=False, show_progress=False
    )
    return list(pages["page_id"]), maxsim_scores(encode_multivector_queries(model, queries), vectors), vectors


def test_cli_multi_vector_index_search_equals_exhaustive_maxsim(built, colminilm):
    from pagefit.corpus import load_corpus
    from pagefit.evaluation.fusion import FusionConfig, fuse, sparse_as_retrieved
    from pagefit.index import open_index
    from pagefit.index.keyword import KeywordIndex
    from pagefit.index.manifest import read_manifest

    corpus, out, rows, queries = built
    manifest = read_manifest(out)
    assert manifest.complete and manifest.pages == len(rows) and manifest.similarity == "maxsim"
    assert manifest.multivector.first_stage == "mean" and manifest.multivector.token_pooling is None
    assert {"lancedb", "bm25", "multivector", "manifest.json"} <= {p.name for p in out.iterdir()}
    stored = MultiVectorIndex.load(out / "multivector")
    assert stored.pages.vectors.dtype == np.float16 and len(stored) == len(rows)
    assert manifest.multivector.bytes_per_page == pytest.approx(stored.bytes_per_page, abs=0.1)

    texts = [q for q, _ in queries]
    page_ids, exact, _ = _exhaustive(colminilm, corpus, texts)
    result = _cli(
        "search", out, texts[0], "-k", 5, "--json", "--hybrid", "none"
    )  # loads ocr-colminilm by name
    assert result.exit_code == 0, result.output
    response = json.loads(result.stdout)
    assert all(set(r) == SEARCH_FIELDS for r in response["results"]) and response["k"] == 5
    expected = np.argsort(-exact[0], kind="stable")[:5]
    assert [r["page_id"] for r in response["results"]] == [page_ids[i] for i in expected]
    assert response["results"][0]["page_id"] == queries[0][1]
    # float16 stored vectors: MaxSim within a few thousandths of the float32 reference
    np.testing.assert_allclose([r["score"] for r in response["results"]], exact[0][expected], atol=2e-2)

    opened = open_index(out, model=colminilm)
    keyword = KeywordIndex.build(list(load_corpus(corpus)["text"]))
    order = np.empty(len(page_ids), dtype=np.int64)
    order[np.argsort(np.asarray(page_ids, dtype=object), kind="stable")] = np.arange(len(page_ids))
    for (text, target), row in zip(queries, exact, strict=True):
        dense = opened.search(text, k=10, hybrid="none")["results"]
        top = np.argsort(-row, kind="stable")[:10]
        assert [r["page_id"] for r in dense] == [page_ids[i] for i in top] and dense[0]["page_id"] == target
        for method in ("rrf", "weighted"):  # search's fusion of MaxSim with BM25, as eval fuses them
            fused = fuse([row[None], sparse_as_retrieved(keyword.scores([text]))], FusionConfig(method=method),
                         tie_order=order, queries=[text])[0]  # fmt: skip
            want = sorted(range(len(page_ids)), key=lambda i: (-fused[i], page_ids[i]))[:5]
            got = opened.search(text, k=5, hybrid=method)["results"]
            assert [r["page_id"] for r in got] == [page_ids[i] for i in want]
            np.testing.assert_allclose(
                [r["score"] for r in got], fused[want], atol=1e-3 if method == "weighted" else 1e-6
            )


def test_multi_vector_index_refuses_single_vector_options(built, tmp_path):
    corpus = built[0]
    for flags, message in ((["--quantize", "int8"], "--quantize"), (["--dim", "64"], "--dim"),
                           (["--ann"], "--ann"), (["--rescore-multiplier", "3"], "--rescore-multiplier")):  # fmt: skip
        result = _cli(
            "index", corpus, "--model", "ocr-colminilm", "--out", tmp_path / "x", "--no-progress", *flags
        )
        said = str(result.exception)  # the PagefitError the CLI's entry point prints
        assert result.exit_code != 0 and message in said and "multi-vector" in said
    single = _cli("index", corpus, "--model", "ocr-minilm", "--out", tmp_path / "y", "--token-pooling", 2)
    assert single.exit_code != 0 and "for multi-vector models only" in str(single.exception)


def test_multi_vector_index_exports_to_qdrant_maxsim(built, colminilm, tmp_path):
    from qdrant_client import QdrantClient

    from pagefit.index import open_index
    from pagefit.index.qdrant import export_qdrant
    from pagefit.multivector_embeddings import encode_multivector_queries

    _, out, rows, queries = built
    assert export_qdrant(out, tmp_path / "qdrant", collection="pages") == len(rows)
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    opened = open_index(out, model=colminilm)
    for text, _ in queries[:3]:  # Qdrant's MaxSim over the exported token vectors ranks as `search` does
        query = encode_multivector_queries(colminilm, [text])[0]
        hits = client.query_points("pages", query=query.tolist(), limit=5).points
        ours = opened.search(text, k=5, hybrid="none")["results"]
        assert [h.payload["page_id"] for h in hits] == [r["page_id"] for r in ours]
        np.testing.assert_allclose([h.score for h in hits], [r["score"] for r in ours], atol=1e-3)
    client.close()


def test_serve_api_and_reranker_on_a_multi_vector_index(built, colminilm, minilm_path):
    from fastapi.testclient import TestClient
    from sentence_transformers import CrossEncoder

    from pagefit.index import open_index
    from pagefit.serve import build_app

    _, out, _, queries = built
    client = TestClient(
        build_app(out), base_url="http://127.0.0.1"
    )  # `pagefit serve INDEX`: ocr-colminilm by name
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["indexes"]["main"]["pages"] == 20
    text, target = queries[1]
    body = client.get("/api/search", params={"q": text, "k": 4}).json()
    opened = open_index(out, model=colminilm)
    direct = opened.search(text, k=4)["results"]  # the index's default: rrf with BM25
    assert [(r["page_id"], r["score"]) for r in body["results"]] == [
        (r["page_id"], r["score"]) for r in direct
    ]
    assert all(set(r) >= SEARCH_FIELDS for r in body["results"])
    assert body["results"][0]["page_id"] == target
    assert client.get(body["results"][0]["image"]).status_code == 200

    reranker = CrossEncoder(str(minilm_path), num_labels=1)
    plain = opened.search(text, k=6, hybrid="none")["results"]
    reranked = opened.search(text, k=6, hybrid="none", reranker=reranker, rerank_top_k=4)["results"]
    assert sorted(r["page_id"] for r in reranked[:4]) == sorted(r["page_id"] for r in plain[:4])
    assert [r["page_id"] for r in reranked[4:]] == [r["page_id"] for r in plain[4:]]
    scores = reranker.predict(
        [(text, opened.meta["text"][opened.row_of[r["page_id"]]]) for r in reranked[:4]]
    )
    np.testing.assert_allclose([r["score"] for r in reranked[:4]], scores, rtol=1e-5)


def test_multi_vector_index_resumes_updates_and_refuses_another_model(
    tmp_path, own_cache, colminilm, monkeypatch
):
    import copy
    import shutil

    from pagefit.corpus import load_corpus
    from pagefit.index import index, open_index
    from pagefit.index.manifest import read_manifest
    from pagefit.index.store import PageTable

    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    rows, _ = _small_corpus(corpus)
    encoded: list[int] = []
    import pagefit.multivector_embeddings as mv

    real_encode = mv._encode
    monkeypatch.setattr(
        mv, "_encode", lambda model, images, *a: encoded.append(len(images)) or real_encode(model, images, *a)
    )
    real_add, adds = PageTable.add, []

    def dying_add(self, page_rows, vectors):
        adds.append(len(page_rows))
        if len(adds) == 3:
            raise KeyboardInterrupt  # dies with its third chunk embedded (and cached) but not committed
        real_add(self, page_rows, vectors)

    monkeypatch.setattr(PageTable, "add", dying_add)
    with pytest.raises(KeyboardInterrupt):
        index(corpus, colminilm, out, commit_every=4, show_progress=False)
    assert not read_manifest(out).complete and sum(encoded) == 12
    with pytest.raises(PagefitError, match="half-built"):
        open_index(out, model=colminilm)
    monkeypatch.setattr(PageTable, "add", real_add)
    encoded.clear()
    resumed = index(corpus, colminilm, out, commit_every=4, show_progress=False)
    assert resumed.complete and resumed.last_run == {"added": 12, "removed": 0, "kept": 8}
    assert sum(encoded) == 8  # committed pages are not re-added, cached ones not re-embedded

    smaller = tmp_path / "smaller"
    shutil.copytree(corpus, smaller, ignore=shutil.ignore_patterns("pages"))
    load_corpus(corpus).filter(lambda row: row["doc_id"] != "doc0").save_to_disk(str(smaller / "pages"))
    second = index(smaller, colminilm, out, show_progress=False)  # a document left the corpus
    assert second.last_run == {"added": 0, "removed": 5, "kept": 15}
    opened = open_index(out, model=colminilm)
    assert len(opened) == 15 and len(opened.searcher.index) == 15
    assert not any(
        r["page_id"].startswith("doc0#") for r in opened.search("figures section", k=15)["results"]
    )

    shutil.rmtree(own_cache / "multivector")  # force real encoding of what comes back
    encoded.clear()
    third = index(corpus, colminilm, out, show_progress=False)
    assert third.last_run == {"added": 5, "removed": 0, "kept": 15} and sum(encoded) == 5
    assert sorted(open_index(out, model=colminilm).searcher.page_ids) == sorted(r["page_id"] for r in rows)

    with pytest.raises(PagefitError, match="new --out"):
        index(corpus, colminilm, out, token_pooling=2, show_progress=False)
    other = copy.deepcopy(colminilm)
    with torch.no_grad():
        other[1].linear.weight.mul_(-1.0)  # another multi-vector model (e.g. trained further)
    with pytest.raises(PagefitError, match="another model"):
        index(corpus, other, out, show_progress=False)
    assert read_manifest(out).model_fingerprint == resumed.model_fingerprint


def test_token_pooled_index_and_eval_agree_and_eval_fuses_multi_vector_with_bm25(built, colminilm, tmp_path):
    import copy

    from pagefit.corpus import corpus_image_paths, load_corpus
    from pagefit.evaluation import evaluate
    from pagefit.evaluation.bm25 import bm25_scores
    from pagefit.evaluation.fusion import FusionConfig, fuse, sparse_as_retrieved
    from pagefit.evaluation.metrics import query_metrics, rank_pages
    from pagefit.index import index, open_index
    from pagefit.index.manifest import read_manifest
    from pagefit.multivector_embeddings import (
        encode_multivector_pages,
        encode_multivector_queries,
        pool_token_vectors,
    )
    from test_evaluate import _write_queries

    corpus, plain_out, _, queries = built
    pooled = index(corpus, colminilm, tmp_path / "pooled", token_pooling=2, first_stage="muvera", candidates=4,
                   show_progress=False)  # fmt: skip
    plain = read_manifest(plain_out).multivector
    assert (pooled.multivector.token_pooling, pooled.multivector.first_stage) == (2, "muvera")
    assert pooled.multivector.vectors_per_page < 0.75 * plain.vectors_per_page
    opened = open_index(tmp_path / "pooled", model=colminilm)
    for text, _ in queries:  # the first stage's best 4 pages, ranked by exact MaxSim
        results = opened.search(text, k=3, hybrid="none")["results"]
        query = encode_multivector_queries(colminilm, [text])
        first = np.argsort(-opened.searcher.index.first_stage_scores(query)[0], kind="stable")[:4]
        exact = maxsim_scores(query, opened.searcher.index.pages, indices=first)[0]
        assert [r["page_id"] for r in results] == [opened.page_ids[first[i]] for i in np.argsort(-exact)[:3]]

    from sentence_transformers.multi_vector_encoder.modules import HierarchicalTokenPooling

    baked = copy.deepcopy(colminilm)
    baked.append(
        HierarchicalTokenPooling(pool_factor=2)
    )  # as `train --set token_pooling=hierarchical` saves it
    with pytest.raises(PagefitError, match="already pools"):
        index(corpus, baked, tmp_path / "baked", token_pooling=2, show_progress=False)

    queries_file = _write_queries(tmp_path / "q.jsonl", [{"query": q, "page_id": p} for q, p in queries])
    report = evaluate(corpus, queries_file, [("colminilm", colminilm)], hybrid="rrf", token_pooling=2,
                      n_resamples=200, show_progress=False)  # fmt: skip
    names = [m.name for m in report.models]
    assert names == ["colminilm", "bm25", "hybrid(bm25+colminilm)"]
    multi = report.models[0]
    assert multi.vectors_per_page == pytest.approx(pooled.multivector.vectors_per_page, abs=0.01)
    stored = multi.vectors_per_page * 128 * 2  # token vectors at float16, as the index stores them
    assert multi.bytes_per_page == pytest.approx(stored, abs=0.5)

    # the hybrid entry is the default (weighted) fusion of MaxSim over the pooled pages and BM25, ranked as eval ranks
    pages = load_corpus(corpus)
    page_ids = list(pages["page_id"])
    vectors = pool_token_vectors(encode_multivector_pages(colminilm, corpus_image_paths(corpus, pages)), 2)
    texts = [q for q, _ in queries]
    dense = maxsim_scores(encode_multivector_queries(colminilm, texts), vectors)
    fused = fuse([dense, sparse_as_retrieved(bm25_scores(list(pages["text"]), texts))], FusionConfig(), queries=texts,
                 tie_order=(order := np.argsort(np.argsort(np.asarray(page_ids, dtype=object), kind="stable"))))  # fmt: skip
    expected = np.mean([query_metrics([page_ids[i] for i in row], [p])["ndcg@10"]
                        for (_, p), row in zip(queries, rank_pages(fused, order), strict=True)])  # fmt: skip
    assert report.models[2].metrics["ndcg@10"] == pytest.approx(expected, abs=1e-6)
