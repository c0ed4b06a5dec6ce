"""Long pages in `ocr-minilm`: a page is read as pooled 256-token windows, so a fact past token 256 counts."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from _pages import FACT_QUERIES as QUERIES
from _pages import FACTS, FILLER, make_cached_pages


@pytest.fixture
def long_pages(tmp_path, own_cache):
    return make_cached_pages(tmp_path / "pages", [FILLER + fact for fact in FACTS])


def _chunked(ocr_minilm, max_chunks: int = 4):
    """The session's untrained ocr-minilm, reading up to `max_chunks` windows per page."""
    model = copy.deepcopy(ocr_minilm)
    model[0].sub_modules["image"][0].max_chunks = max_chunks
    return model


def _ranks(model, pages):
    scores = model.encode_query(QUERIES) @ model.encode_document(pages).T
    return scores.argmax(axis=1).tolist()


def test_fact_past_token_256_is_retrievable(long_pages, ocr_minilm):
    chunked = _chunked(ocr_minilm)
    windows = chunked[0].sub_modules["image"][0].chunks(FILLER + FACTS[0])
    assert len(windows) == 3 and FACTS[0] in windows[-1]  # ~570 tokens: 3 windows, the fact in the last
    assert _ranks(chunked, long_pages) == [0, 1, 2]
    # Cut at 256 tokens, the three pages are the same filler: no query can find its page.
    assert ocr_minilm[0].sub_modules["image"][0].max_chunks == 1
    page_embeddings = ocr_minilm.encode_document(long_pages)
    np.testing.assert_allclose(page_embeddings[0], page_embeddings[1], atol=1e-6)


def test_short_pages_embed_as_before_and_the_setting_survives_save_load(long_pages, ocr_minilm, tmp_path):
    from pagefit.models import load_model
    from pagefit.models._fingerprint import model_fingerprint

    chunked, plain = _chunked(ocr_minilm), ocr_minilm
    short = make_cached_pages(tmp_path / "short", ["hexagonal basalt columns", "orange cats"])
    np.testing.assert_allclose(chunked.encode_document(short), plain.encode_document(short), atol=1e-5)
    assert model_fingerprint(chunked) != model_fingerprint(plain)  # no cached embedding is shared
    chunked.save(str(tmp_path / "saved"))
    again = load_model(str(tmp_path / "saved"), device="cpu")
    assert again[0].sub_modules["image"][0].max_chunks == 4
    np.testing.assert_allclose(
        again.encode_document(long_pages), chunked.encode_document(long_pages), atol=1e-5
    )


def test_training_on_windows_with_gradcache_mini_batches(long_pages, ocr_minilm, tmp_path):
    """CachedMNRL cuts a batch into mini-batches of pages: every page keeps all its windows."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    model = _chunked(ocr_minilm)
    before = model.encode_document(long_pages)
    data = Dataset.from_dict({"query": QUERIES, "image": long_pages})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=3,
        learning_rate=1e-3,
        router_mapping={"query": "query", "image": "document"},
        report_to="none",
        save_strategy="no",
        use_cpu=True,
    )
    loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=2)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss).train()
    after = model.encode_document(long_pages)
    assert after.shape == before.shape == (3, 384) and not np.allclose(after, before, atol=1e-4)
