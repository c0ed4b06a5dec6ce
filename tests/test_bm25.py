"""The BM25 baseline: tokenisation cases, the Lucene formula against a reference, save/load."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pagefit.evaluation.bm25 import BM25Index, BM25Settings, bm25_scores, bm25_tokenize


def _best(pages: list[str], query: str) -> tuple[int, np.ndarray]:
    scores = bm25_scores(pages, [query])[0]
    return int(np.argmax(scores)), scores


def test_stemming_matches_running_and_runs():
    best, scores = _best(["she was running to the station", "the train stopped at the station"], "runs")
    assert best == 0 and scores[0] > 0 and scores[1] == 0


def test_one_letter_symbol_is_searchable():
    pages = ["the plot of y against x", "the plot of y against z", "an R package for count data"]
    best, scores = _best(pages, "x")
    assert best == 0 and scores[0] > 0 and scores[1] == 0
    best, scores = _best(pages, "R")
    assert best == 2 and scores[2] > 0 and scores[:2].max() == 0


def test_version_digits_are_searchable():
    pages = ["changes in version 2.1 of the library", "changes in version 3.4 of the library"]
    best, scores = _best(pages, "what changed in 2.1")
    assert best == 0 and scores[0] > scores[1]
    assert bm25_tokenize(["Version 2.1, page 7."])[0] == ["version", "2.1", "page", "7"]


def test_stopwords_follow_the_language():
    text = ["the house and the garden", "das Haus und der Garten"]
    english, german = bm25_tokenize(text, "en")[0], bm25_tokenize(text, "de")[1]
    assert "the" not in english and "and" not in english and "hous" in english  # stemmed "house"
    assert "und" not in german and "der" not in german and "haus" in german
    # A language without a stemmer or a stopword list keeps every word as written.
    unknown = BM25Settings.for_language("xx")
    assert (unknown.stemmer, unknown.stopwords) == (None, None)
    assert bm25_tokenize(text, unknown)[0] == ["the", "house", "and", "the", "garden"]
    assert BM25Settings.for_language("de_DE").stemmer == "german"
    assert BM25Settings.for_language(None) == BM25Settings()


def _lucene_reference(docs: list[list[str]], query: list[str], k1: float, b: float) -> np.ndarray:
    """Lucene BM25 written out from its definition (Kamphuis et al. 2020), independent of bm25s."""
    n = len(docs)
    avgdl = sum(map(len, docs)) / n
    scores = np.zeros(n)
    for term in query:
        df = sum(term in doc for doc in docs)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, doc in enumerate(docs):
            tf = doc.count(term)
            scores[i] += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
    return scores


def test_scores_equal_the_lucene_formula():
    pages = [
        "the running of tables and charts, table 2.1 shows x",
        "charts charts charts of counts in R",
        "a long page about regression models for count data and their tables in R with x and y",
        "",
    ]
    queries = ["running charts", "count tables x", "regression R 2.1", "nothing matches zzz"]
    settings = BM25Settings(k1=1.2, b=0.6)
    index = BM25Index.build(pages, settings)
    docs = bm25_tokenize(pages, settings)
    expected = np.stack([_lucene_reference(docs, q, 1.2, 0.6) for q in bm25_tokenize(queries, settings)])
    np.testing.assert_allclose(index.scores(queries), expected, rtol=1e-5, atol=1e-6)
    assert not index.scores(["zzz"]).any()


def test_index_saves_and_loads(tmp_path):
    pages = ["budget tables for 2023", "turbine charts", "the library opens at 9"]
    index = BM25Index.build(pages, BM25Settings.for_language("en", k1=0.9))
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.settings == index.settings and loaded.settings.k1 == 0.9
    queries = ["budget 2023", "charts of turbines", "opens 9"]
    np.testing.assert_array_equal(loaded.scores(queries), index.scores(queries))
    order, _ = loaded.top_k(queries, k=2)
    assert order[:, 0].tolist() == [0, 1, 2]


def test_load_of_a_folder_without_an_index_is_refused(tmp_path):
    from pagefit.errors import PagefitError

    with pytest.raises(PagefitError, match="no readable BM25 index"):
        BM25Index.load(tmp_path)
