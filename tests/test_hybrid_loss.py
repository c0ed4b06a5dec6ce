"""`hybrid_loss`: the ranking loss on the fused score (BM25's share as a fixed logit offset), checked
against a hand computation, against Sentence Transformers' own loss when BM25 has no share, and through
`pagefit train` (train-split pages only, weights moved, recorded in the summary)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from pagefit.train.hybrid_loss import HybridRankingLoss, bm25_offsets, fusion_beta
from test_train_heldout import pairs_dir  # noqa: F401 (fixture)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))


PAGES = ["harbor cranes lift containers", "orchard pruning in winter", "harbor ferry routes", "library fines"]
QUERIES = ["container cranes", "ferry", "unrelated words"]


def test_bm25_offsets_are_the_min_max_scores_fusion_uses():
    from pagefit.evaluation.bm25 import bm25_scores

    top, values = bm25_offsets(QUERIES, PAGES, depth=3)
    scores = bm25_scores(PAGES, QUERIES)
    for q in range(len(QUERIES)):
        retrieved = scores[q][scores[q] > 0]
        for page, value in zip(top[q], values[q], strict=True):
            if page < 0:
                assert value == 0
                continue
            if retrieved.max() - retrieved.min() <= 1e-12:
                assert value == 1.0
            else:
                expected = (scores[q, page] - retrieved.min()) / (retrieved.max() - retrieved.min())
                assert value == pytest.approx(expected, abs=1e-6)
    assert (top[2] == -1).all()  # a query matching no page gets no offset
    assert fusion_beta(0.3, 0.5, 20.0) == pytest.approx(6.0) and fusion_beta(0.3, 1.0, 20.0) == 0.0


def test_offsets_follow_the_order_the_loss_concatenates_pages(minilm_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path), device="cpu")
    # rows: positive page, one negative page (indices into PAGES); each row's query is QUERIES[row]
    row_pages = np.array([[0, 2], [2, 1], [3, 0]])
    top, values = bm25_offsets(QUERIES, PAGES, depth=4)
    loss = HybridRankingLoss(model, row_pages, top, values, beta=2.5)
    rows = torch.tensor([1, 0])  # a batch of rows 1 and 0
    got = loss.offsets(rows, columns=2).numpy()
    order = [2, 0, 1, 2]  # positives of rows 1, 0, then their negatives
    norm = {(q, p): v for q in range(3) for p, v in zip(top[q], values[q], strict=True) if p >= 0}
    expected = np.array([[2.5 * norm.get((int(r), p), 0.0) for p in order] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_without_a_bm25_share_it_is_sentence_transformers_ranking_loss(minilm_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = SentenceTransformer(str(minilm_path), device="cpu")
    embeddings = [torch.randn(3, 8), torch.randn(3, 8), torch.randn(3, 8)]
    top, values = bm25_offsets(QUERIES, PAGES)
    row_pages = np.array([[0, 1], [2, 3], [1, 0]])
    ours = HybridRankingLoss(model, row_pages, top, values, beta=0.0)
    theirs = MultipleNegativesRankingLoss(model, scale=20.0)
    labels = torch.tensor([0, 1, 2])
    assert float(ours.loss_from_embeddings(embeddings, labels)) == pytest.approx(
        float(theirs.compute_loss_from_embeddings(embeddings, labels)), abs=1e-5
    )
    # with a share, a row whose positive BM25 ranks first loses less than without it
    shared = HybridRankingLoss(model, row_pages, top, values, beta=5.0)
    assert float(shared.loss_from_embeddings(embeddings, labels)) < float(
        ours.loss_from_embeddings(embeddings, labels)
    )


def test_train_with_the_hybrid_loss_reads_train_pages_only(pairs_dir, tmp_path):  # noqa: F811
    from pagefit.cli import app
    from pagefit.train.config import resolve_train_config
    from pagefit.train.data import load_train_data

    _, folder = pairs_dir
    meta = json.loads((folder / "pagefit_pairs.json").read_text())
    data = load_train_data(resolve_train_config(overrides={"data": str(folder), "hybrid_loss": True}))
    assert data.train_texts and {p.split("#")[0] for p in data.train_texts} == set(meta["train_docs"])
    held_out = set(meta["eval_docs"]) | set(meta["validation_docs"])
    assert not {p.split("#")[0] for p in data.train_texts} & held_out
    assert len(data.train_page_ids) == len(data.train)

    out = tmp_path / "m"
    res = CliRunner().invoke(app, ["train", str(folder), "--out", str(out), "--max-steps", "2", "--batch-size", "2",
                                   "--set", "hybrid_loss=true", "--set", "save_every=2", "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "train_summary.json").read_text())
    record = summary["data"]["hybrid_loss"]
    assert record["train_pages"] == len(data.train_texts) and record["beta"] > 0
    from pagefit.models import load_model

    before = load_model("ocr-minilm", device="cpu").encode_query(["container cranes"])
    after = load_model(out, device="cpu").encode_query(["container cranes"])
    assert np.abs(before - after).max() > 1e-5  # the weights moved
