"""Multi-vector presets of `pagefit train` on tiny models: weights move, save/reload, MaxSim, pooling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers import MultiVectorEncoder
from sentence_transformers.multi_vector_encoder.scoring import colbert_scores
from typer.testing import CliRunner

from pagefit.cli import app
from pagefit.errors import PagefitError
from pagefit.evaluation.maxsim import maxsim_scores
from pagefit.models import load_model
from pagefit.train import train
from pagefit.train.config import resolve_train_config
from pagefit.train.multivector import freeze_all_but_top, head_parameter_pattern, load_multivector_model
from test_train import QUERIES, abs_images, changed, tensors, write_pairs


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))


def _assert_reload_identical(result, images: list[str]) -> MultiVectorEncoder:
    reloaded = load_model(result.output_dir, device="cpu")
    assert isinstance(reloaded, MultiVectorEncoder)
    for ours, theirs in (
        (result.model.encode_query(QUERIES[:3]), reloaded.encode_query(QUERIES[:3])),
        (result.model.encode_document(images), reloaded.encode_document(images)),
    ):
        assert [len(a) for a in ours] == [len(b) for b in theirs]
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(b.cpu().numpy(), a.cpu().numpy(), atol=1e-5)
    return reloaded


def _assert_maxsim_matches_colbert(model: MultiVectorEncoder, images: list[str]) -> None:
    queries = [q.cpu().numpy() for q in model.encode_query(QUERIES[:3])]
    pages = [p.cpu().numpy() for p in model.encode_document(images)]
    ours = maxsim_scores(queries, pages, page_batch=2)
    padded_q = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(q) for q in queries], batch_first=True)
    padded_p = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(p) for p in pages], batch_first=True)
    reference = colbert_scores(padded_q, padded_p.unsqueeze(1))  # one document per group
    np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-5, atol=1e-5)


def test_ocr_colminilm_preset_trains_pools_saves_and_reloads(tmp_path):
    mined = write_pairs(tmp_path / "data")
    images = abs_images(tmp_path / "data")
    out = tmp_path / "model"
    # evaluated at the last step only: that step is the one handed over, whatever the selection rule
    result = train(preset="ocr-colminilm", data=str(mined), output=str(out), max_steps=2, batch_size=4,
                   eval_every=2, token_pooling="hierarchical", show_progress=False)  # fmt: skip
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["preset"] == "ocr-colminilm"
    assert {"ndcg@10", "map@100"} <= set(summary["final_metrics"]) and summary["base_metrics"]
    pooling = summary["data"]["token_pooling"]
    assert pooling["vectors_per_page_after"] < pooling["vectors_per_page_before"]
    assert result.model.similarity_fn_name == "maxsim"
    reloaded = _assert_reload_identical(result, images)  # pooling included: it is part of the saved model
    _assert_maxsim_matches_colbert(reloaded, images)
    # the fresh projection (built under the run's seed) and the shared MiniLM both moved
    from transformers import set_seed

    set_seed(result.config.seed)
    before = load_model("ocr-colminilm", device="cpu").state_dict()
    after = reloaded.state_dict()
    moved = [k for k in after if k in before and not torch.allclose(before[k], after[k])]
    assert any(k.startswith("1.linear") for k in moved) and any("encoder.layer" in k for k in moved)


def test_cli_trains_a_multivector_preset(tmp_path, tiny_qwen3vl_path):
    mined = write_pairs(tmp_path / "data")
    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app,
        ["train", str(mined), "--out", str(out), "--preset", "qwen3-vl-2b-multivector", "--model",
         str(tiny_qwen3vl_path), "--max-steps", "1", "--batch-size", "4", "--no-progress", "--lora",
         "--set", "precision=fp32", "--set", "attn_implementation=null", "--set", "max_pixels=null",
         "--set", "min_pixels=null", "--set", "encode_batch_size=4"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    saved = load_model(out, device="cpu")  # LoRA adapters merged: loads without peft
    assert isinstance(saved, MultiVectorEncoder) and not any("lora_" in k for k in saved.state_dict())
    assert json.loads((out / "train_summary.json").read_text())["lora"] is True
    res = CliRunner().invoke(
        app,
        [
            "train",
            str(mined),
            "--out",
            str(tmp_path / "x"),
            "--model",
            "ocr-colminilm",
            "--matryoshka-dims",
            "64,32",
        ],
    )
    # Matryoshka dims do not apply to token vectors: an actionable error
    assert isinstance(res.exception, PagefitError) and "--matryoshka-dims none" in str(res.exception)


def test_vlm_multivector_trains_changes_embeddings_and_reloads(tmp_path, tiny_qwen3vl_path):
    mined = write_pairs(tmp_path / "data")
    images = abs_images(tmp_path / "data")
    start = MultiVectorEncoder(str(tiny_qwen3vl_path), device="cpu")
    torch.manual_seed(0)
    result = train(
        preset="qwen3-vl-2b-multivector",
        data=str(mined),
        output=str(tmp_path / "mv"),
        model=str(tiny_qwen3vl_path),
        precision="fp32",
        attn_implementation=None,
        min_pixels=None,
        max_pixels=None,
        batch_size=4,
        eval_batch_size=4,
        encode_batch_size=4,
        max_steps=2,
        show_progress=False,
    )
    assert result.summary["steps"] == 2
    model = result.model
    assert isinstance(model, MultiVectorEncoder) and model.get_embedding_dimension() == 128
    # weights of the backbone moved (the projection is new: compare through the embeddings instead)
    assert changed(tensors(tiny_qwen3vl_path), tensors(result.output_dir))
    after = model.encode_document(images)
    trained_head = {k: v for k, v in model.state_dict().items() if k.startswith("1.")}
    start.load_state_dict(trained_head, strict=False)  # same head: any difference is the backbone's
    for a, b in zip(start.encode_document(images), after, strict=True):
        assert a.shape == b.shape and not torch.allclose(a, b, atol=1e-4)
    _assert_reload_identical(result, images)
    _assert_maxsim_matches_colbert(model, images)


def test_multivector_recipe_knobs_reach_the_trainer(tmp_path, tiny_qwen3vl_path):
    config = resolve_train_config(
        preset="qwen3-vl-2b-multivector",
        overrides={"model": str(tiny_qwen3vl_path), "precision": "fp32", "attn_implementation": None},
    )
    assert (config.head_lr, config.max_grad_norm, config.multi_vector) == (2e-4, 30.0, True)
    model = load_multivector_model(config, {})
    pattern = head_parameter_pattern(model)
    assert pattern and all(
        n.startswith("1.linear") for n, _ in model.named_parameters() if __import__("re").search(pattern, n)
    )
    trainable, total = freeze_all_but_top(model, 1)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert "1.linear.weight" in names and any("layers.1." in n for n in names)
    assert not any("layers.0." in n or "visual" in n for n in names) and 0 < trainable < total
    with pytest.raises(PagefitError, match="only 2 layers"):
        freeze_all_but_top(model, 9)


def test_multivector_refuses_matryoshka_dims():
    with pytest.raises(PagefitError, match="no Matryoshka"):
        resolve_train_config(preset="ocr-colminilm", overrides={"matryoshka_dims": [64]})
    config = resolve_train_config(preset="colqwen2")
    assert (config.unfreeze_top_layers, config.model) == (8, "vidore/colqwen2-v1.0-hf")
