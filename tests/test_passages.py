"""Passage scoring (`pagefit.passages`): windows, the mixed score, eval --passages and index --passages agree,
and a fact past token 256 of a page is found."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from _pages import FACT_QUERIES as QUERIES
from _pages import FACTS, FILLER, make_cached_pages
from pagefit.errors import PagefitError
from pagefit.passages import PassageConfig, encode_windows, page_windows, passage_scores


def test_windows_cover_the_page_at_the_stride():
    words = [f"w{i}" for i in range(230)]
    windows = page_windows(" ".join(words), words=100, stride=75)
    assert [w.split()[0] for w in windows] == ["w0", "w75", "w130"]  # the last window ends at the last word
    assert all(len(w.split()) == 100 for w in windows) and windows[-1].split()[-1] == "w229"
    assert page_windows("a  short\npage", words=100, stride=75) == ["a short page"]
    assert page_windows(" \n ", words=100, stride=75) == []
    assert len(page_windows(" ".join(words[:175]), words=100, stride=75)) == 2  # 0-99, 75-174: no extra
    with pytest.raises(PagefitError, match="stride"):
        PassageConfig(words=50, stride=60)
    with pytest.raises(PagefitError, match=r"\[0, 1\]"):
        PassageConfig(weight=1.5)


def test_mixed_score_equals_a_loop_over_pages_and_their_windows():
    rng = np.random.default_rng(0)
    page, window = rng.normal(size=(4, 6)), rng.normal(size=(4, 11))
    owner = rng.permutation(np.array([0, 0, 1, 1, 1, 2, 2, 4, 4, 4, 4]))  # page 3 has no window
    got = passage_scores(page, window, owner, 0.3)
    for q in range(4):
        for p in range(6):
            mine = window[q, owner == p]
            best = mine.max() if len(mine) else page[q, p]
            assert got[q, p] == pytest.approx(0.3 * page[q, p] + 0.7 * best, abs=1e-6)
    np.testing.assert_allclose(passage_scores(page, window[:, :0], owner[:0], 0.3), page, atol=1e-6)


def _corpus(root: Path) -> tuple[Path, Path]:
    """A corpus folder (as ingest leaves it) of three long pages, the fact of each past token 256."""
    corpus = root / "corpus"
    paths = make_cached_pages(corpus / "images", [FILLER + fact for fact in FACTS])
    rows = {
        "page_id": [f"doc{i}#p1" for i in range(3)],
        "doc_id": [f"doc{i}" for i in range(3)],
        "source": [f"doc{i}.pdf" for i in range(3)],
        "page_number": [1, 1, 1],
        "image": [str(Path(p).relative_to(corpus)) for p in paths],
        "image_hash": ["", "", ""],
        "text": [FILLER + fact for fact in FACTS],
    }
    datasets.Dataset.from_dict(rows).save_to_disk(str(corpus / "pages"))
    queries = root / "queries.jsonl"
    queries.write_text("".join(json.dumps({"query_id": f"q{i}", "query": q, "page_ids": [f"doc{i}#p1"]}) + "\n"
                               for i, q in enumerate(QUERIES)))  # fmt: skip
    return corpus, queries


def test_a_fact_past_token_256_is_found_by_eval_and_index_with_passages(tmp_path, own_cache, ocr_minilm):
    from pagefit.evaluation import evaluate
    from pagefit.index import index, open_index

    corpus, queries = _corpus(tmp_path)
    plain = evaluate(corpus, queries, [("plain", ocr_minilm)], passages=False, n_resamples=100,
                     show_progress=False)  # fmt: skip
    mixed = evaluate(corpus, queries, [("passages", ocr_minilm)], n_resamples=100, show_progress=False)
    # Cut at 256 tokens the three pages are the same filler; their best windows hold the facts.
    assert mixed.models[0].metrics["recall@1"] == 1.0 > plain.models[0].metrics["recall@1"]
    assert mixed.models[0].settings["passages"] == {"words": 100, "stride": 75, "weight": 0.5}
    assert "passages" not in plain.models[0].settings
    assert mixed.models[0].vectors_per_page > 1

    out = tmp_path / "index"
    manifest = index(corpus, ocr_minilm, out, show_progress=False)  # on by default for a text-reading model
    owners = json.loads((out / "passages" / "owners.json").read_text())
    expected = sum(len(page_windows(FILLER + fact)) for fact in FACTS)
    assert manifest.passages is not None and manifest.passages.windows == len(owners) == expected > 3
    searcher = open_index(out, model=ocr_minilm)
    for i, query in enumerate(QUERIES):
        results = searcher.search(query, k=3)["results"]
        # The index ranks the pages exactly as eval --passages does.
        assert [r["page_id"] for r in results] == mixed.per_query[f"q{i}"].results["passages"].top[:3]
        assert results[0]["page_id"] == f"doc{i}#p1"
    # Rebuilt without passages: the window files go, search is page vectors only again.
    manifest = index(corpus, ocr_minilm, out, passages=False, show_progress=False)
    assert manifest.passages is None and not (out / "passages").exists()
    assert open_index(out, model=ocr_minilm).passages is None
    assert index(corpus, ocr_minilm, out, show_progress=False).passages is None  # an update keeps the setting


def test_passages_refused_for_models_that_do_not_read_text(tmp_path, own_cache, tiny_clip_path, ocr_minilm):
    from pagefit.index import index

    corpus, _ = _corpus(tmp_path)
    with pytest.raises(PagefitError, match="reads page pixels"):
        index(corpus, tiny_clip_path, tmp_path / "clip", passages=True, show_progress=False)
    with pytest.raises(PagefitError, match="multi-vector"):
        index(corpus, "ocr-colminilm", tmp_path / "col", passages=True, show_progress=False)
    with pytest.raises(PagefitError, match="reads pixels"):
        from pagefit.models import load_model

        encode_windows(load_model(tiny_clip_path, device="cpu"), [], PassageConfig())


def test_window_embeddings_are_cached_by_their_text(tmp_path, own_cache, ocr_minilm, monkeypatch):
    corpus, _ = _corpus(tmp_path)
    paths = sorted(str(p) for p in (corpus / "images").iterdir())
    first = encode_windows(ocr_minilm, paths, PassageConfig())
    calls = []
    original = type(ocr_minilm).encode_document
    monkeypatch.setattr(type(ocr_minilm), "encode_document",
                        lambda self, texts, **kw: calls.append(len(texts)) or original(self, texts, **kw))  # fmt: skip
    again = encode_windows(ocr_minilm, paths, PassageConfig())
    assert calls == [] and np.array_equal(first.embeddings, again.embeddings)
    assert first.owner.tolist() == sorted(first.owner.tolist()) and set(first.owner.tolist()) == {0, 1, 2}
    # Given the pages' hashes (the corpus image_hash column), their texts come from the text cache
    # without decoding a single image.
    from pagefit._io import image_key
    from pagefit.models import ocr_text

    keys = [image_key(ocr_text.load_page_image(p)) for p in paths]
    monkeypatch.setattr(ocr_text, "load_page_image", lambda image: pytest.fail(f"decoded {image}"))
    keyed = encode_windows(ocr_minilm, paths, PassageConfig(), keys=keys)
    assert np.array_equal(keyed.embeddings, first.embeddings) and keyed.owner.tolist() == first.owner.tolist()


def test_uncached_windows_are_encoded_without_touching_the_cache(
    tmp_path, own_cache, ocr_minilm, monkeypatch
):
    corpus, _ = _corpus(tmp_path)
    paths = sorted(str(p) for p in (corpus / "images").iterdir())
    cached = encode_windows(ocr_minilm, paths, PassageConfig())  # stored: a cache=False call must not read it
    from pagefit import embeddings

    monkeypatch.setattr(embeddings.EmbeddingCache, "get", lambda *a, **k: pytest.fail("cache read"))
    monkeypatch.setattr(embeddings.EmbeddingCache, "put", lambda *a, **k: pytest.fail("cache write"))
    calls = []
    original = type(ocr_minilm).encode_document
    monkeypatch.setattr(type(ocr_minilm), "encode_document",
                        lambda self, texts, **kw: calls.append(len(texts)) or original(self, texts, **kw))  # fmt: skip
    fresh = encode_windows(ocr_minilm, paths, PassageConfig(), cache=False)
    # Every distinct window encoded once, though all were cached (the pages share their filler windows).
    distinct = len(np.unique(cached.embeddings, axis=0))
    assert distinct < len(cached.owner) and sum(calls) == distinct
    np.testing.assert_allclose(fresh.embeddings, cached.embeddings, atol=1e-5)
    assert fresh.owner.tolist() == cached.owner.tolist()


def test_cli_eval_and_index_take_passages(tmp_path, own_cache):
    from typer.testing import CliRunner

    from pagefit.cli._app import app

    corpus, queries = _corpus(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "--corpus", str(corpus), "--queries", str(queries), "-m", "ocr-minilm",
                                 "--passages", "--passage-weight", "0.4", "--out", str(tmp_path / "report"),
                                 "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["settings"]["passages"] is True and report["settings"]["passage_weight"] == 0.4
    assert report["models"][0]["settings"]["passages"]["weight"] == 0.4
    result = runner.invoke(app, ["index", str(corpus), "--model", "ocr-minilm", "--passages", "--out",
                                 str(tmp_path / "index"), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    windows = json.loads((tmp_path / "index" / "manifest.json").read_text())["passages"]["windows"]
    assert windows > 3 and f"passages ({windows} windows)" in " ".join(result.output.split())


def test_a_page_that_fits_in_one_window_keeps_its_page_score(tmp_path, own_cache, ocr_minilm):
    from pagefit.index import index, open_index

    short = make_cached_pages(
        tmp_path / "short", ["orange cats at the lighthouse", "hexagonal basalt columns"], size=(40, 56)
    )  # other pixels than the long pages
    assert len(encode_windows(ocr_minilm, short, PassageConfig()).owner) == 0  # nothing stored for them
    corpus, _ = _corpus(tmp_path / "long")
    rows = datasets.load_from_disk(str(corpus / "pages")).to_dict()
    for i, path in enumerate(short):  # two short pages join the three long ones
        target = corpus / "images" / f"short{i}.png"
        target.write_bytes(Path(path).read_bytes())
        for key, value in {"page_id": f"short{i}#p1", "doc_id": f"short{i}", "source": f"short{i}.pdf",
                           "page_number": 1, "image": f"images/short{i}.png", "image_hash": "",
                           "text": ["orange cats at the lighthouse", "hexagonal basalt columns"][i]}.items():  # fmt: skip
            rows[key].append(value)
    import shutil

    shutil.rmtree(corpus / "pages")
    datasets.Dataset.from_dict(rows).save_to_disk(str(corpus / "pages"))
    manifest = index(corpus, ocr_minilm, tmp_path / "index", show_progress=False)
    owners = json.loads((tmp_path / "index" / "passages" / "owners.json").read_text())
    assert manifest.passages.windows == len(owners) and not any(o.startswith("short") for o in owners)
    with_passages = open_index(tmp_path / "index", model=ocr_minilm)
    plain = open_index(index(corpus, ocr_minilm, tmp_path / "plain", passages=False, show_progress=False) and
                       tmp_path / "plain", model=ocr_minilm)  # fmt: skip
    for query in ["orange cats at the lighthouse", "basalt columns"]:
        mixed = {r["page_id"]: r["score"] for r in with_passages.search(query, k=5)["results"]}
        alone = {r["page_id"]: r["score"] for r in plain.search(query, k=5)["results"]}
        for page in ("short0#p1", "short1#p1"):
            assert mixed[page] == pytest.approx(alone[page], abs=1e-5)  # page score, unchanged


def test_train_heldout_evaluation_scores_pages_as_eval_does(tmp_path, own_cache, ocr_minilm):
    """`pagefit train`'s held-out evaluator ranks a text-reading model's pages as `pagefit eval` does:
    with passages it finds the facts past token 256 and reports eval's numbers; without, page vectors."""
    from pagefit.evaluation import evaluate
    from pagefit.train.data import HeldOut, build_evaluator

    corpus, queries = _corpus(tmp_path)
    rows = datasets.load_from_disk(str(corpus / "pages"))
    heldout = HeldOut(
        queries={f"q{i}": q for i, q in enumerate(QUERIES)},
        corpus={pid: str(corpus / image) for pid, image in zip(rows["page_id"], rows["image"], strict=True)},
        relevant={f"q{i}": {f"doc{i}#p1"} for i in range(len(QUERIES))},
        description="the three long pages",
    )
    build_evaluator(None, batch_size=8, heldout=heldout, passages=PassageConfig())(ocr_minilm)
    stored = [p for p in (own_cache / "embeddings").rglob("*") if p.is_file()]
    assert not stored  # a training step's windows are never read again: nothing is cached
    for passages in (True, False):
        report = evaluate(corpus, queries, [("m", ocr_minilm)], passages=passages, n_resamples=100,
                          show_progress=False)  # fmt: skip
        evaluator = build_evaluator(None, batch_size=8, heldout=heldout, name="check",
                                    passages=PassageConfig() if passages else None)  # fmt: skip
        got = evaluator(ocr_minilm)
        for metric in ("ndcg@10", "recall@1", "mrr@10"):
            assert got[f"check_cosine_{metric}"] == pytest.approx(report.models[0].metrics[metric], abs=1e-6)
        assert (got["check_cosine_recall@1"] == 1.0) is passages  # cut at 256 tokens the pages are alike
