"""The page embedding cache: encode once per model and page, full dimension, safe across processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _pages import make_cached_pages
from pagefit.embeddings import (
    EmbeddingCache,
    encode_corpus,
    encode_pages,
    encode_queries,
    page_key,
    truncate_embeddings,
)
from pagefit.errors import PagefitError
from pagefit.models import load_model, model_fingerprint
from pagefit.models.ocr_minilm import minilm_path

TEXTS = [
    "annual report revenue table for 2023",
    "safety instructions for the laboratory",
    "network configuration guide for routers",
    "holiday schedule of the support team",
    "chart of monthly energy consumption",
]


@pytest.fixture(autouse=True)
def _own_cache(own_cache):
    return own_cache


@pytest.fixture
def pages(tmp_path) -> list[str]:
    """Page images on disk whose text ingest has put in the text cache."""
    return make_cached_pages(tmp_path / "images", TEXTS)


class CountingEncoder:
    """Wraps `model.encode_document` to count how many pages really get encoded."""

    def __init__(self, model, monkeypatch):
        self.pages = 0
        original = model.encode_document

        def encode_document(inputs, **kwargs):
            self.pages += len(inputs)
            return original(inputs, **kwargs)

        monkeypatch.setattr(model, "encode_document", encode_document)


def test_encode_pages_encodes_each_page_once(ocr_minilm, pages, monkeypatch):
    counter = CountingEncoder(ocr_minilm, monkeypatch)
    expected = ocr_minilm.encode_query(TEXTS)

    first = encode_pages(ocr_minilm, pages[:3], show_progress=False)
    assert counter.pages == 3
    # order follows the input, duplicates are encoded once, only the misses are encoded
    mixed = [pages[4], pages[0], pages[3], pages[4], pages[2]]
    second = encode_pages(ocr_minilm, mixed, keys=[page_key(p) for p in mixed], show_progress=False)
    assert counter.pages == 3 + 2
    assert first.dtype == second.dtype == np.float32
    np.testing.assert_allclose(first, expected[:3], atol=1e-5)
    np.testing.assert_allclose(second, expected[[4, 0, 3, 4, 2]], atol=1e-5)

    again = encode_pages(ocr_minilm, [Image.open(p) for p in pages], show_progress=False)
    assert counter.pages == 5
    np.testing.assert_allclose(again, expected, atol=1e-5)


def test_cache_false_encodes_everything_and_stores_nothing(ocr_minilm, pages, monkeypatch):
    counter = CountingEncoder(ocr_minilm, monkeypatch)
    encode_pages(ocr_minilm, pages, cache=False, show_progress=False)
    encode_pages(ocr_minilm, pages, cache=False, show_progress=False)
    assert counter.pages == 2 * len(pages)
    assert not list(Path(os.environ["PAGEFIT_CACHE_DIR"]).glob("embeddings/*/*.npy"))


_RELOAD_SCRIPT = """
import json, sys
from pagefit.embeddings import encode_pages
from pagefit.models import load_model, model_fingerprint
model = load_model(sys.argv[1], device="cpu")
encoded = []
original = model.encode_document
model.encode_document = lambda inputs, **kw: encoded.append(len(inputs)) or original(inputs, **kw)
rows = encode_pages(model, sys.argv[2:], show_progress=False)
print(json.dumps({"fingerprint": model_fingerprint(model), "encoded": sum(encoded), "rows": rows.tolist()}))
"""


def test_a_reloaded_model_in_another_process_hits_the_cache(ocr_minilm, pages, tmp_path, monkeypatch):
    counter = CountingEncoder(ocr_minilm, monkeypatch)
    here = encode_pages(ocr_minilm, pages, show_progress=False)
    assert counter.pages == len(pages)
    folder = tmp_path / "saved"
    ocr_minilm.save(str(folder))

    result = subprocess.run(
        [sys.executable, "-c", _RELOAD_SCRIPT, str(folder), *pages],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    there = json.loads(result.stdout.strip().splitlines()[-1])

    assert there["fingerprint"] == model_fingerprint(ocr_minilm)
    assert there["encoded"] == 0
    np.testing.assert_array_equal(np.asarray(there["rows"], dtype=np.float32), here)


def test_truncation_cannot_poison_the_cache(ocr_minilm, pages, monkeypatch):
    truncated = load_model("ocr-minilm", device="cpu", truncate_dim=64)
    full = encode_pages(truncated, pages, show_progress=False)
    assert full.shape == (len(pages), 384)
    assert truncated.truncate_dim == 64

    counter = CountingEncoder(ocr_minilm, monkeypatch)
    np.testing.assert_array_equal(encode_pages(ocr_minilm, pages, show_progress=False), full)
    assert counter.pages == 0
    # truncating the cached full rows equals what the model gives at that dimension itself
    np.testing.assert_allclose(
        truncate_embeddings(full, 64), truncated.encode_document(pages, normalize_embeddings=True), atol=1e-5
    )


def test_encode_queries_full_dimension(ocr_minilm):
    truncated = load_model("ocr-minilm", device="cpu", truncate_dim=32)
    queries = encode_queries(truncated, TEXTS[:2])
    assert queries.shape == (2, 384) and queries.dtype == np.float32
    np.testing.assert_allclose(queries, ocr_minilm.encode_query(TEXTS[:2]), atol=1e-5)


def test_a_text_only_model_encodes_pages_through_their_text(pages):
    from sentence_transformers import SentenceTransformer

    text_only = SentenceTransformer(minilm_path(), device="cpu")
    got = encode_pages(text_only, pages, cache=False)  # pages outside a corpus: the text cache's text
    np.testing.assert_allclose(got, text_only.encode_document(TEXTS), atol=1e-5)


def test_missing_page_images_are_refused(ocr_minilm, pages, tmp_path):
    # Sentence Transformers would silently embed these paths as text
    with pytest.raises(PagefitError, match=r"2 page image\(s\) missing.*gone\.png"):
        encode_pages(ocr_minilm, [pages[0], str(tmp_path / "gone.png"), str(tmp_path)], keys=["a", "b", "c"])


def test_encode_corpus(ocr_minilm, pages, tmp_path):
    from datasets import Dataset

    corpus = tmp_path / "corpus"
    rows = {
        "page_id": [f"doc#p{i + 1}" for i in range(len(pages))],
        "image": [os.path.relpath(p, corpus) for p in pages],
        "image_hash": [page_key(p) for p in pages],
    }
    Dataset.from_dict(rows).save_to_disk(str(corpus / "pages"))

    page_ids, embeddings = encode_corpus(ocr_minilm, corpus)
    assert page_ids == rows["page_id"]
    np.testing.assert_allclose(embeddings, ocr_minilm.encode_query(TEXTS), atol=1e-5)


def _put_shard(root: str, start: int) -> None:
    cache = EmbeddingCache("fp", 4, root)
    for i in range(start, start + 20):
        cache.put([f"k{i}"], np.full((1, 4), i, dtype=np.float32))


def test_cache_shards_are_safe_across_processes(tmp_path):
    root = str(tmp_path / "emb")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_put_shard, args=(root, start)) for start in (0, 20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0

    (Path(root) / "half-written.npy").write_bytes(b"\x93NUMPY")  # no keys file: never read
    EmbeddingCache("fp", 8, root).put(["k0"], np.ones((1, 8)))  # another dimension: ignored at dim 4
    keys = [f"k{i}" for i in range(40)] + ["absent"]
    rows, found = EmbeddingCache("fp", 4, root).get(keys)

    assert found.tolist() == [True] * 40 + [False]
    np.testing.assert_array_equal(rows[:40, 0], np.arange(40, dtype=np.float32))
    assert "k39" in EmbeddingCache("fp", 4, root)


def _pdf_with_a_hidden_text_layer(path: Path) -> Path:
    """One page whose text layer holds words OCR cannot see (invisible text), so the routes differ."""
    from reportlab.lib.pagesizes import A6
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A6)
    c.setFont("Helvetica", 22)
    c.drawString(20, 300, "Harbor budget")
    hidden = c.beginText(20, 200)
    hidden.setTextRenderMode(3)  # invisible: in the text layer only
    hidden.textLine("glacier violin saffron quartz")
    c.drawText(hidden)
    c.showPage()
    c.save()
    return path


def test_reingesting_with_another_ocr_mode_never_serves_a_stale_embedding(ocr_minilm, tmp_path):
    """`--ocr never` then `--ocr always`: the page's text changes, and so does the embedding served."""
    from pagefit.corpus import load_corpus
    from pagefit.ingest import ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    _pdf_with_a_hidden_text_layer(docs / "memo.pdf")
    corpus = tmp_path / "corpus"
    served = {}
    for mode in ("never", "always"):
        ingest([docs], corpus, ocr=mode, show_progress=False)
        pages = load_corpus(corpus)
        assert pages["text_source"][0] == ("pdf" if mode == "never" else "ocr")
        text = pages["text"][0]
        _, embedding = encode_corpus(ocr_minilm, corpus, show_progress=False)
        # What the page route must embed now: the text this ingest left, through the text route.
        np.testing.assert_allclose(embedding[0], ocr_minilm.encode_query([text])[0], atol=1e-5)
        served[mode] = (text, embedding[0])
    assert "glacier" in served["never"][0] and "glacier" not in served["always"][0]
    assert not np.allclose(served["never"][1], served["always"][1], atol=1e-3)
