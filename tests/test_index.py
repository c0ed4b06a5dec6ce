"""`pagefit index` / `search`: round trips, resume after kill -9, incremental updates, quantization, Qdrant."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import pagefit.cli
from pagefit.errors import PagefitError
from pagefit.index import index, open_index
from pagefit.index.manifest import read_manifest
from pagefit.index.vectors import VectorSearcher, exact_search

SEARCH_FIELDS = {"rank", "page_id", "score", "source", "page_number", "image", "snippet"}


def _cli(*args: object):
    return CliRunner().invoke(pagefit.cli.app, [str(a) for a in args], env={"COLUMNS": "400"})


def _count_encoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pages the model actually encodes (cache misses), per call."""
    import pagefit.embeddings as embeddings

    calls: list[int] = []
    real = embeddings._encode_documents

    def counting(model, images, batch_size, show_progress):
        calls.append(len(images))
        return real(model, images, batch_size, show_progress)

    monkeypatch.setattr(embeddings, "_encode_documents", counting)
    return calls


def _subset_corpus(corpus: Path, out: Path, drop_doc: str) -> Path:
    """A copy of ``corpus`` without the pages of one document (as if it left the sources)."""
    from pagefit.corpus import load_corpus

    shutil.copytree(corpus, out, ignore=shutil.ignore_patterns("pages"))
    pages = load_corpus(corpus).filter(lambda row: row["doc_id"] != drop_doc)
    pages.save_to_disk(str(out / "pages"))
    return out


def test_cli_round_trip_matches_exact_search_on_cached_embeddings(
    sample_corpus, tiny_clip_path, tmp_path, own_cache, monkeypatch
):
    from pagefit.embeddings import encode_corpus, encode_queries, truncate_embeddings
    from pagefit.models import load_model

    model = load_model(tiny_clip_path)
    page_ids, full = encode_corpus(model, sample_corpus, show_progress=False)  # what eval would have cached
    encoded = _count_encoded(monkeypatch)
    out = tmp_path / "idx"
    result = _cli(
        "index", sample_corpus, "--model", tiny_clip_path, "--out", out, "--dim", 16, "--no-progress"
    )
    assert result.exit_code == 0, result.output
    assert sum(encoded) == 0, "pages already embedded by eval/mine must come from the cache"
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("pagefit_version", "corpus", "model", "model_fingerprint", "dim", "quantization", "hybrid"):
        assert key in manifest
    assert manifest["dim"] == 16 and manifest["pages"] == len(page_ids) and manifest["complete"]

    result = _cli("search", out, "budget report", "-k", 5, "--json")
    assert result.exit_code == 0, result.output
    response = json.loads(result.stdout)
    assert response["query"] == "budget report" and response["k"] == 5
    assert [r["rank"] for r in response["results"]] == [1, 2, 3, 4, 5]
    assert all(set(r) == SEARCH_FIELDS for r in response["results"])
    assert all(Path(r["image"]).is_file() for r in response["results"])
    # Same order and scores as brute force on the Matryoshka-truncated cached embeddings.
    pages16 = truncate_embeddings(full, 16)
    query16 = truncate_embeddings(encode_queries(model, ["budget report"]), 16)
    rows, scores = exact_search(pages16, query16, 5)
    assert [r["page_id"] for r in response["results"]] == [page_ids[i] for i in rows[0]]
    np.testing.assert_allclose([r["score"] for r in response["results"]], scores[0], atol=1e-5)

    table = _cli("search", out, "budget report", "-k", 3)
    assert table.exit_code == 0 and response["results"][0]["page_id"] in table.output


def test_cli_rescore_multiplier_reaches_the_quantized_search(
    sample_corpus, tiny_clip_path, tmp_path, own_cache
):
    """--rescore-multiplier sets how many int8 candidates per result are rescored: kept in the manifest,
    used by search (with 1, only k candidates are rescored; with the whole corpus, search is exact)."""
    out = tmp_path / "idx"
    args = ("index", sample_corpus, "--model", tiny_clip_path, "--quantize", "int8", "--no-progress")
    result = _cli(*args, "--out", out, "--rescore-multiplier", 7)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["rescore_multiplier"] == 7
    assert open_index(out).searcher.rescore_multiplier == 7
    assert _cli(*args, "--out", tmp_path / "bad", "--rescore-multiplier", 0).exit_code != 0


def test_ocr_minilm_hybrid_round_trip_finds_the_queried_pages(
    sample_corpus, sample_queries, ocr_minilm, tmp_path
):
    from pagefit.queries import read_queries

    out = tmp_path / "idx"
    manifest = index(sample_corpus, ocr_minilm, out, hybrid=True, show_progress=False)
    assert manifest.hybrid.enabled and (out / "bm25").is_dir()
    searcher = open_index(out, model=ocr_minilm)
    queries = read_queries(sample_queries)
    found = 0
    for q in queries:
        for mode in ("none", "rrf", "weighted"):
            results = searcher.search(q.query, k=5, hybrid=mode)["results"]
            assert len(results) == 5
            found += any(r["page_id"] in q.page_ids for r in results)
    assert found >= 0.8 * 3 * len(queries)
    with pytest.raises(PagefitError, match="rrf, weighted or none"):
        searcher.search("x", hybrid="bogus")


def test_index_bm25_scores_equal_eval_bm25(sample_corpus, sample_queries):
    from pagefit.corpus import load_corpus
    from pagefit.evaluation.bm25 import bm25_scores
    from pagefit.index.keyword import KeywordIndex
    from pagefit.queries import read_queries

    texts = list(load_corpus(sample_corpus)["text"])
    queries = [q.query for q in read_queries(sample_queries)]
    keyword = KeywordIndex.build(texts)
    keyword.save(sample_corpus.parent)
    loaded = KeywordIndex.load(sample_corpus.parent, texts)
    np.testing.assert_allclose(loaded.scores(queries), bm25_scores(texts, queries), rtol=1e-6)


# Page text as PDF text layers and OCR give it: a soft hyphen inside a word split over two lines, an
# "ﬁ" ligature, a word hyphenated at a line end, and German inflection. Without eval's cleaning (or with
# English settings on German text) these pages score 0 for their query.
_BM25_PAGES = {
    "en": {
        "configuration file": "Before the first start, open the con\u00ad\nﬁguration ﬁle\nand set the port.",
        "transport": "Goods leave the warehouse daily; the trans-\nport is booked a week ahead.",
    },
    "de": {
        "Rechnung": "Die Rechnungen wurden gestern vollständig bezahlt.",
        "Lieferscheine": "Jeder Lieferschein liegt der Sendung bei.",
    },
}
_FILLER = ["Quarterly budget overview.", "Staff list and office hours.", "Unrelated notes about lunch."]


def _corpus_with_texts(corpus: Path, texts: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """``corpus`` with its page text replaced: each query's page is one of the last page ids (so no tie
    order puts it first by chance), every other page holds filler text. Returns (corpus, query -> page)."""
    from pagefit.corpus import load_corpus

    pages = load_corpus(corpus)
    ids = sorted(pages["page_id"])
    targets = dict(zip(texts, ids[-len(texts) :], strict=True))
    by_page = {page: texts[query] for query, page in targets.items()}
    new = [by_page.get(pid, _FILLER[i % len(_FILLER)]) for i, pid in enumerate(pages["page_id"])]
    pages = pages.remove_columns("text").add_column("text", new)
    copy = corpus.parent / "bm25-corpus"
    shutil.copytree(corpus, copy, ignore=shutil.ignore_patterns("pages"))
    pages.save_to_disk(str(copy / "pages"))
    return copy, targets


@pytest.mark.parametrize("language", ["en", "de"])
def test_bm25_through_index_and_search_ranks_as_eval_on_hyphenated_ligature_and_german_text(
    sample_corpus, tiny_clip_path, tmp_path, own_cache, language
):
    from pagefit.evaluation.bm25 import BM25Settings, bm25_scores

    corpus, targets = _corpus_with_texts(sample_corpus, _BM25_PAGES[language])
    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"query": q, "page_id": p}) + "\n" for q, p in targets.items()))
    result = _cli("eval", "--corpus", corpus, "--queries", queries, "--bm25", "--language", language,
                  "--out", tmp_path / "report")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    for record in report["per_query"].values():  # eval finds every page first
        assert record["results"]["bm25"]["top"][0] == targets[record["query"]], record
    out = tmp_path / "idx"
    result = _cli("index", corpus, "--model", tiny_clip_path, "--out", out, "--hybrid", "--language", language,
                  "--no-progress")  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest.hybrid.language == language
    assert (
        manifest.hybrid.bm25
        == report["models"][0]["settings"]
        == BM25Settings.for_language(language).describe()
    )
    for query, page in targets.items():  # BM25 alone decides (dense weight 0): the same page first
        result = _cli("search", out, query, "--hybrid", "weighted", "--fusion-weight", 0, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["results"][0]["page_id"] == page, (
            query,
            result.output,
        )  # JSON: stdout
    opened = open_index(out)
    expected = bm25_scores(opened.meta["text"], list(targets), BM25Settings.for_language(language))
    np.testing.assert_array_equal(opened.keyword.scores(list(targets)), expected)
    assert (expected.max(axis=1) > 0).all()


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pagefit.index import index
    from pagefit.index.store import PageTable
    real_add, adds = PageTable.add, []
    def add(self, rows, vectors):
        real_add(self, rows, vectors)
        adds.append(len(rows))
        if len(adds) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 right after the second commit
    PageTable.add = add
    index(sys.argv[1], sys.argv[2], sys.argv[3], commit_every=4, show_progress=False)
    """
)


def test_resume_after_kill_9_embeds_only_the_rest(
    sample_corpus, tiny_clip_path, tmp_path, own_cache, monkeypatch
):
    out = tmp_path / "idx"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", _KILLER, str(sample_corpus), str(tiny_clip_path), str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not read_manifest(out).complete
    with pytest.raises(PagefitError, match="half-built"):
        open_index(out)
    encoded = _count_encoded(monkeypatch)
    manifest = index(sample_corpus, tiny_clip_path, out, commit_every=4, show_progress=False)
    assert manifest.complete and manifest.last_run["kept"] == 8
    assert manifest.last_run["added"] == manifest.pages - 8
    assert sum(encoded) == manifest.pages - 8  # committed pages are neither re-embedded nor re-added
    assert sorted(open_index(out).page_ids) == sorted(open_index(out).row_of)


def test_incremental_removal_and_addition_and_another_model_refused(
    sample_corpus, tiny_clip_path, tiny_siglip_path, tmp_path, own_cache, monkeypatch
):
    from pagefit.corpus import load_corpus

    all_pages = load_corpus(sample_corpus)
    drop = all_pages[0]["doc_id"]
    dropped = sum(1 for d in all_pages["doc_id"] if d == drop)
    smaller = _subset_corpus(sample_corpus, tmp_path / "smaller", drop)
    out = tmp_path / "idx"
    first = index(sample_corpus, tiny_clip_path, out, hybrid=True, show_progress=False)
    assert first.pages == len(all_pages)

    second = index(smaller, tiny_clip_path, out, show_progress=False)  # a document left the corpus
    assert second.last_run == {"added": 0, "removed": dropped, "kept": len(all_pages) - dropped}
    opened = open_index(out)
    assert len(opened) == len(all_pages) - dropped and opened.keyword is not None  # hybrid kept
    assert opened.keyword.n_pages == len(opened)
    assert all(r["page_id"] not in {p for p, d in zip(all_pages["page_id"], all_pages["doc_id"], strict=True) if d == drop}
               for r in opened.search("report", k=20)["results"])  # fmt: skip

    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "empty-cache"))  # force real encoding
    encoded = _count_encoded(monkeypatch)
    third = index(sample_corpus, tiny_clip_path, out, show_progress=False)  # the document came back
    assert third.last_run == {"added": dropped, "removed": 0, "kept": len(all_pages) - dropped}
    assert sum(encoded) == dropped  # only the new pages were embedded

    with pytest.raises(PagefitError, match="another model"):
        index(sample_corpus, tiny_siglip_path, out, show_progress=False)
    assert read_manifest(out).model_fingerprint == first.model_fingerprint
    result = _cli("index", sample_corpus, "--model", tiny_siglip_path, "--out", out, "--no-progress")
    assert result.exit_code != 0


def _random_set(n: int = 50_000, dim: int = 128, n_queries: int = 20):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[rng.choice(n, n_queries, replace=False)] + 0.6 * rng.standard_normal((n_queries, dim))
    return vectors, (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def _recall(rows: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(rows, truth, strict=True)]))


@pytest.mark.parametrize("quantization", ["int8", "binary"])
def test_quantized_search_with_rescoring_on_random_vectors(quantization):
    vectors, queries = _random_set()
    truth, _ = exact_search(vectors, queries, 10)
    rows, scores = VectorSearcher(vectors, quantization).search(queries, 10)
    plain, _ = VectorSearcher(vectors, quantization, rescore_multiplier=1).search(queries, 10)
    if quantization == "int8":
        assert _recall(rows, truth) >= 0.95
    # Binary codes of isotropic random vectors keep little of their geometry (recall ~0.3-0.5 here;
    # benchmarks/search.py measures it): rescoring must still beat no rescoring by a wide margin.
    assert _recall(rows, truth) >= _recall(plain, truth) + (0.0 if quantization == "int8" else 0.1)
    # Scores are full-precision cosine similarities of the returned rows (rescored), best first.
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, vectors[rows]), atol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 1e-7)


def _pages_and_windows(n: int = 4000, dim: int = 64, seed: int = 0):
    """Page vectors of a low intrinsic dimension (as real embeddings are) and 0-5 windows per page near
    their page; queries near windows (a query matches a paragraph) and near pages."""
    rng = np.random.default_rng(seed)

    def unit(x):
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    pages = unit(
        rng.standard_normal((n, 16)) @ rng.standard_normal((16, dim)) + 0.3 * rng.standard_normal((n, dim))
    )
    counts = rng.integers(0, 6, n)
    owners = np.repeat(np.arange(n), counts)
    windows = unit(pages[owners] + 0.8 * rng.standard_normal((len(owners), dim)))
    near = np.concatenate([windows[rng.choice(len(windows), 30)], pages[rng.choice(n, 10)]])
    queries = unit(near + 0.4 * rng.standard_normal(near.shape))
    return pages, windows, owners, queries


def test_passage_search_with_int8_and_hnsw_finds_what_the_exact_scan_finds():
    """A passage-scored index searched with int8 codes and HNSW graphs over page and window vectors: recall@10
    of the exact passage scores >= 0.99, and the scores it returns are the exact ones."""
    from pagefit.index.passage_searcher import PassageSearcher
    from pagefit.passages import passage_scores

    pages, windows, owners, queries = _pages_and_windows()
    id_order = np.arange(len(pages))
    exact = PassageSearcher(VectorSearcher(pages), VectorSearcher(windows), owners, 0.5, id_order)
    fast = PassageSearcher(VectorSearcher(pages, "int8", ann=True), VectorSearcher(windows, "int8", ann=True),
                           owners, 0.5, id_order)  # fmt: skip
    assert exact.exact and not fast.exact
    truth = passage_scores(queries @ pages.T, queries @ windows.T, owners, 0.5)
    found, wanted = [], []
    for q, query in enumerate(queries):
        rows, _ = exact.search(query[None], 10)
        np.testing.assert_array_equal(rows, np.lexsort((id_order, -truth[q]))[:10])  # the exact scan: eval's
        got, got_scores = fast.search(query[None], 10)
        np.testing.assert_allclose(got_scores, truth[q][got], atol=1e-5)  # exact scores of what it returns
        found.append(got)
        wanted.append(rows)
    assert _recall(np.stack(found), np.stack(wanted)) >= 0.99


def test_int8_ann_index_with_passages_searches_windows_through_their_own_graph(
    sample_corpus, sample_queries, ocr_minilm, tmp_path
):
    """`index --quantize int8 --ann` on a text-reading model: the manifest says int8 + ANN with passages, the
    windows get their own int8 codes and HNSW graph, and search returns the exact passage-scored top 10."""
    from pagefit.queries import read_queries

    exact = index(sample_corpus, ocr_minilm, tmp_path / "exact", show_progress=False)
    manifest = index(
        sample_corpus, ocr_minilm, tmp_path / "fast", quantize="int8", ann=True, show_progress=False
    )
    assert exact.passages is not None and manifest.passages is not None and manifest.passages.windows > 0
    assert (manifest.quantization, manifest.ann) == ("int8", True)
    assert {"vectors.usearch", "int8_ranges.npy"} <= {
        p.name for p in (tmp_path / "fast" / "passages").iterdir()
    }
    plain, fast = (
        open_index(tmp_path / "exact", model=ocr_minilm),
        open_index(tmp_path / "fast", model=ocr_minilm),
    )
    assert plain.passages.exact and not fast.passages.exact
    assert fast.passages.windows.index is not None and fast.passages.windows.codes is not None
    for q in read_queries(sample_queries):
        want = plain.search(q.query, k=10, hybrid="none")["results"]
        got = fast.search(q.query, k=10, hybrid="none")["results"]
        assert [r["page_id"] for r in got] == [r["page_id"] for r in want]
        np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in want], atol=1e-5)


def test_saved_searcher_reloads_identically(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for quantization, ann in (("int8", False), ("none", True)):
        searcher = VectorSearcher(vectors, quantization, ann=ann)
        searcher.save(tmp_path)
        loaded = VectorSearcher.load(tmp_path, vectors, quantization, ann=ann)
        a, b = searcher.search(vectors[:5], 10), loaded.search(vectors[:5], 10)
        np.testing.assert_array_equal(a[0], b[0])
        assert loaded.search(vectors[:5], 1)[0][:, 0].tolist() == [0, 1, 2, 3, 4]


def test_qdrant_local_export_round_trip(sample_corpus, tiny_clip_path, tmp_path, own_cache):
    from qdrant_client import QdrantClient

    from pagefit.index.qdrant import point_id

    out = tmp_path / "idx"
    index(sample_corpus, tiny_clip_path, out, show_progress=False)
    result = _cli("index", sample_corpus, "--model", tiny_clip_path, "--out", out, "--no-progress",
                  "--export-qdrant", tmp_path / "qdrant", "--qdrant-collection", "pages")  # fmt: skip
    assert result.exit_code == 0, result.output
    opened = open_index(out)
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    points, _ = client.scroll("pages", limit=1000, with_vectors=True, with_payload=True)
    assert len(points) == len(opened)
    by_id = {p.payload["page_id"]: p for p in points}
    for row, page_id in enumerate(opened.page_ids):
        point = by_id[page_id]
        assert point.id == point_id(page_id)
        assert point.payload["image"] == opened.meta["image"][row]
        assert point.payload["text"] == opened.meta["text"][row]
        np.testing.assert_allclose(point.vector, opened.searcher.vectors[row], atol=1e-6)
    query = opened.searcher.vectors[3]
    hits = client.query_points("pages", query=query.tolist(), limit=5).points
    rows, _ = opened.searcher.search(query[None], 5)
    assert [h.payload["page_id"] for h in hits] == [opened.page_ids[r] for r in rows[0]]
    client.close()


def test_bad_inputs_are_clear_errors(sample_corpus, tiny_clip_path, tmp_path, own_cache):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(PagefitError, match="not a pagefit index folder"):
        index(sample_corpus, tiny_clip_path, tmp_path / "notes", show_progress=False)
    with pytest.raises(PagefitError, match="out of range"):
        index(sample_corpus, tiny_clip_path, tmp_path / "idx", dim=4096, show_progress=False)
    with pytest.raises(PagefitError, match="not a pagefit index"):
        open_index(tmp_path / "nothing")
    index(sample_corpus, tiny_clip_path, tmp_path / "idx", show_progress=False)
    with pytest.raises(PagefitError, match="no BM25 index"):
        open_index(tmp_path / "idx").search("budget", hybrid="rrf")
    result = _cli("search", tmp_path / "idx", "budget", "-k", 1000)
    assert result.exit_code != 0


def test_search_reranker_reorders_the_top_pages_like_eval(
    sample_corpus, tiny_clip_path, minilm_path, tmp_path
):
    from sentence_transformers import CrossEncoder

    reranker = CrossEncoder(str(minilm_path), num_labels=1)
    out = tmp_path / "idx"
    index(sample_corpus, tiny_clip_path, out, show_progress=False)
    opened = open_index(out)
    plain = opened.search("staff costs and revenue", k=8)["results"]
    reranked = opened.search("staff costs and revenue", k=8, reranker=reranker, rerank_top_k=6)["results"]
    top6 = [r["page_id"] for r in plain[:6]]
    assert sorted(r["page_id"] for r in reranked[:6]) == sorted(top6)
    assert [r["page_id"] for r in reranked[6:]] == [r["page_id"] for r in plain[6:8]]
    texts = {pid: opened.meta["text"][opened.row_of[pid]] for pid in top6}
    scores = reranker.predict([("staff costs and revenue", texts[pid]) for pid in top6])
    expected = [pid for _, pid in sorted(zip(-scores, top6, strict=True))]
    assert [r["page_id"] for r in reranked[:6]] == expected
    np.testing.assert_allclose([r["score"] for r in reranked[:6]], sorted(scores, reverse=True), rtol=1e-5)


def test_index_stores_the_fusion_tuned_by_eval(sample_corpus, tiny_clip_path, tmp_path, own_cache):
    report = tmp_path / "report.json"
    tuned = {
        "method": "weighted",
        "rrf_k": 60,
        "weight": 0.3,
        "depth": 100,
        "tuned_on": "pairs",
        "tuning": {"0.30": 0.9},
    }
    report.write_text(json.dumps({"settings": {"fusion": tuned}}))
    out = tmp_path / "idx"
    result = _cli("index", sample_corpus, "--model", tiny_clip_path, "--out", out, "--hybrid", "--no-progress",
                  "--fusion-from", report)  # fmt: skip
    assert result.exit_code == 0, result.output
    fusion = read_manifest(out).hybrid.fusion
    assert (fusion.method, fusion.weight, fusion.tuned_on) == ("weighted", 0.3, "pairs")
    opened = open_index(out)
    assert opened.fusion() == fusion and opened.fusion("rrf").method == "rrf"
    assert opened.fusion("none") is None
    bad = _cli(
        "index",
        sample_corpus,
        "--model",
        tiny_clip_path,
        "--out",
        out,
        "--fusion-from",
        tmp_path / "nope.json",
    )
    assert bad.exit_code != 0


def test_index_and_eval_use_the_fusion_saved_with_the_model(sample_corpus, sample_queries, tiny_clip_path, tmp_path,
                                                            own_cache):  # fmt: skip
    """`pagefit train` saves the fusion weight it tuned beside the model: `index --hybrid` stores it unless a flag
    says otherwise, and `eval --hybrid weighted` fuses each model at its own saved weight (measured = deployed)."""
    from pagefit.evaluation import evaluate
    from pagefit.evaluation.fusion import FusionConfig, save_model_fusion

    model = tmp_path / "model"
    shutil.copytree(tiny_clip_path, model)
    save_model_fusion(
        model, FusionConfig(weight=0.8, keyword_weight=0.2, tuned_on="validation split (5 queries)")
    )
    out = tmp_path / "idx"
    result = _cli("index", sample_corpus, "--model", model, "--out", out, "--hybrid", "--no-progress")
    assert result.exit_code == 0, result.output
    fusion = read_manifest(out).hybrid.fusion
    assert (fusion.method, fusion.weight, fusion.keyword_weight) == ("weighted", 0.8, 0.2)
    assert fusion.tuned_on == "validation split (5 queries)"
    said = " ".join(result.output.split())
    assert (
        "model 0.8, BM25 0.2, tuned on the validation split" in said
        and "keyword-like queries model 0.2" in said
    )
    flagged = _cli("index", sample_corpus, "--model", model, "--out", tmp_path / "idx2", "--hybrid",
                   "--fusion-weight", 0.3, "--no-progress")  # fmt: skip
    flagged_fusion = read_manifest(tmp_path / "idx2").hybrid.fusion
    assert flagged.exit_code == 0 and (flagged_fusion.weight, flagged_fusion.keyword_weight) == (0.3, None)

    report = evaluate(
        sample_corpus, sample_queries, {"m": str(model)}, hybrid="weighted", show_progress=False
    )
    entry = next(m for m in report.models if m.name == "hybrid(bm25+m)")
    assert (entry.settings["fusion"]["weight"], entry.settings["fusion"]["keyword_weight"]) == (0.8, 0.2)
    fixed = evaluate(sample_corpus, sample_queries, {"m": str(model)}, hybrid="weighted", fusion_weight=0.8,
                     keyword_weight=0.2, show_progress=False)  # fmt: skip
    again = next(m for m in fixed.models if m.name == "hybrid(bm25+m)")
    assert again.metrics == entry.metrics  # the saved fusion is exactly these weights
    # what index --hybrid serves ranks as the eval entry: the same pages, query by query
    opened = open_index(out)
    from pagefit.queries import read_queries

    for q, (qid, record) in zip(read_queries(sample_queries), report.per_query.items(), strict=True):
        assert record.query == q.query, qid
        served = [r["page_id"] for r in opened.search(q.query, k=10, hybrid="weighted")["results"]]
        assert served == record.results["hybrid(bm25+m)"].top[: len(served)]
