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
