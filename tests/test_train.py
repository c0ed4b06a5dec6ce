"""`pagefit train`: config precedence, data checks, and every preset's code path on tiny models."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw
from safetensors.torch import load_file
from typer.testing import CliRunner

from _pages import TOPIC_QUERIES as QUERIES
from _pages import TOPICS
from pagefit._io import image_key
from pagefit.cli import app
from pagefit.errors import PagefitError
from pagefit.models import load_model
from pagefit.ocr import PageTextCache
from pagefit.train import train
from pagefit.train.config import list_presets, resolve_train_config
from pagefit.train.data import build_evaluator, load_train_data, prepare_split

DIMS = ["--matryoshka-dims", "64,32", "--truncate-dim", "32"]  # the tiny Qwen3-VL embeds into 64 dims


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))


def write_pages(corpus: Path) -> list[str]:
    """Distinct page images under `corpus/images`, their text in the text cache as ingest leaves it."""
    (corpus / "images").mkdir(parents=True, exist_ok=True)
    cache = PageTextCache()
    rel = []
    for i, text in enumerate(TOPICS):
        image = Image.new("RGB", (64, 80), (255, 255 - 15 * i, 230))
        ImageDraw.Draw(image).rectangle((4 + 4 * i, 10, 12 + 4 * i, 30), fill=(10 * i, 40, 90))
        image.save(corpus / "images" / f"p{i}.png")
        cache.put(image_key(image), text, "pdf")
        rel.append(f"images/p{i}.png")
    return rel


def pair_rows(rel: list[str], idx: range, negatives: int) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {"query": [], "image": []}
    rows |= {f"negative_{k}": [] for k in range(negatives)}
    rows |= {"page_id": [], "doc_id": []}
    rows |= {f"negative_{k}_page_id": [] for k in range(negatives)}
    for i in idx:
        rows["query"].append(QUERIES[i])
        rows["image"].append(rel[i])
        rows["page_id"].append(f"doc{i // 2}#p{i % 2 + 1}")
        rows["doc_id"].append(f"doc{i // 2}")
        for k in range(negatives):
            j = (i + 1 + 3 * k) % len(rel)
            rows[f"negative_{k}"].append(rel[j])
            rows[f"negative_{k}_page_id"].append(f"doc{j // 2}#p{j % 2 + 1}")
    return rows


def write_pairs(root: Path, negatives: int = 2, *, validation: bool = False) -> Path:
    """A mined folder as `pagefit mine` writes it: relative image paths, bookkeeping columns, the corpus recorded;
    with `validation`, rows 8-9 form a validation split (selection reads it) and 10-11 the eval split."""
    rel = write_pages(root / "corpus")
    out = root / "mined"
    splits = {"train": range(0, 8), "eval": range(8, 12)}
    if validation:
        splits = {"train": range(0, 8), "validation": range(8, 10), "eval": range(10, 12)}
    dsd = datasets.DatasetDict(
        {name: datasets.Dataset.from_dict(pair_rows(rel, rows, negatives)) for name, rows in splits.items()}
    )
    dsd.save_to_disk(str(out))
    (out / "pagefit_pairs.json").write_text(json.dumps({"corpus": str((root / "corpus").resolve())}))
    return out


@pytest.fixture
def mined(tmp_path) -> Path:
    return write_pairs(tmp_path / "data")


def embeddings(model, images: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return model.encode_query(QUERIES[:3]), model.encode_document(images)


def assert_reloads_identically(result, images: list[str]) -> None:
    reloaded = load_model(result.output_dir, device="cpu")
    assert reloaded.truncate_dim == result.model.truncate_dim
    for ours, theirs in zip(embeddings(result.model, images), embeddings(reloaded, images), strict=True):
        np.testing.assert_allclose(theirs, ours, atol=1e-5)


def tensors(folder: Path) -> dict:
    """Every weight under `folder`; a raw VLM checkpoint's `model.` prefix dropped to match its ST save."""
    return {
        k.removeprefix("model."): v
        for f in sorted(folder.rglob("*.safetensors"))
        for k, v in load_file(str(f)).items()
    }


def changed(before: dict, after: dict) -> list[str]:
    common = sorted(set(before) & set(after))
    assert common, "no weights in common"
    return [k for k in common if before[k].shape == after[k].shape and not np.allclose(before[k], after[k])]


def reference_ndcg10(model, eval_ds) -> float:
    """NDCG@10 of `model` on an eval split whose corpus is its rows' pages (positives and negatives, each
    once), by the textbook formula with binary relevance: independent of Sentence Transformers' evaluator."""
    import math

    columns = eval_ds.column_names[1:]
    pages = list(dict.fromkeys(p for c in columns for p in eval_ds[c]))
    relevant: dict[str, set[int]] = {}
    for text, image in zip(eval_ds["query"], eval_ds["image"], strict=True):
        relevant.setdefault(text, set()).add(pages.index(image))
    texts = list(relevant)
    q = model.encode_query(texts, normalize_embeddings=True)
    d = model.encode_document(pages, normalize_embeddings=True)
    total = 0.0
    for text, row in zip(texts, q @ d.T, strict=True):
        order = np.argsort(-row, kind="stable")[:10]
        dcg = sum(1 / math.log2(r + 2) for r, j in enumerate(order) if j in relevant[text])
        total += dcg / sum(1 / math.log2(r + 2) for r in range(min(10, len(relevant[text]))))
    return total / len(texts)


def abs_images(data: Path) -> list[str]:
    return [str(data / "corpus" / "images" / f"p{i}.png") for i in range(3)]


# ------------------------------------------------------------------------------------------------- config


def test_presets_are_listed_and_valid():
    presets = list_presets()
    assert set(presets) == {
        "qwen3-vl-2b-vdr",
        "ocr-minilm",
        "router",
        "fresh-vlm",
        "ocr-colminilm",
        "qwen3-vl-2b-multivector",
        "colqwen2",
        "text-100m",
    }
    assert all(d and "\n" not in d for d in presets.values())
    for name in presets:
        assert resolve_train_config(preset=name).preset == name
    res = CliRunner().invoke(app, ["train", "--list-presets"])
    assert res.exit_code == 0 and all(name in res.output for name in presets)


def test_vdr_preset_builds_the_articles_trainer(tiny_qwen3vl_path, tmp_path):
    """What the trainer receives from the article preset (not what its YAML says): the article's recipe,
    Training and Finetuning Multimodal Embedding & Reranker Models with Sentence Transformers."""
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
    )
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from pagefit.train.trainer import make_loss, training_args

    vdr = resolve_train_config(preset="qwen3-vl-2b-vdr")
    args = training_args(vdr, tmp_path, "fp32", ["query", "image", "negative_0"], router=False, evaluate=True)
    assert (
        args.per_device_train_batch_size == 64 and args.learning_rate == 2e-5 and args.num_train_epochs == 1
    )
    assert args.batch_sampler == BatchSamplers.NO_DUPLICATES and args.warmup_steps == 0.1
    assert (args.eval_steps, args.save_steps, args.save_total_limit) == (0.1, 0.1, 2)
    model = load_model(tiny_qwen3vl_path, device="cpu")
    model.get_embedding_dimension = lambda: None  # the tiny model has 64 dims, the recipe's go to 2048
    loss = make_loss(model, vdr)
    assert isinstance(loss, MatryoshkaLoss) and list(loss.matryoshka_dims) == [
        2048,
        1536,
        1024,
        512,
        256,
        128,
        64,
    ]
    assert isinstance(loss.loss, CachedMultipleNegativesRankingLoss) and loss.loss.mini_batch_size == 1
    # the article trains on (query, image, negative_0) of tomaarsen/llamaindex-vdr-en-train-preprocessed
    assert (vdr.data, vdr.num_negatives, vdr.truncate_dim, vdr.max_pixels) == (
        "tomaarsen/llamaindex-vdr-en-train-preprocessed", 1, 1024, 600 * 600)  # fmt: skip


def test_config_precedence_preset_then_file_then_flags(tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text(
        yaml.safe_dump({"preset": "qwen3-vl-2b-vdr", "lr": 1e-4, "batch_size": 16, "data": "mine"})
    )
    config = resolve_train_config(config_file=user, overrides={"batch_size": 8, "matryoshka_dims": None})
    assert config.preset == "qwen3-vl-2b-vdr"
    assert config.mini_batch_size == 1  # from the preset
    assert config.lr == 1e-4  # the file beats the preset
    assert config.batch_size == 8  # flags beat the file
    assert config.matryoshka_dims is None  # an explicit None switches Matryoshka off
    # the file names other data: the preset's config/split names of its own dataset do not follow it
    assert (config.data, config.data_config, config.eval_config, config.eval_split) == (
        "mine",
        None,
        None,
        "eval",
    )
    assert resolve_train_config(preset="ocr-minilm", config_file=user).preset == "ocr-minilm"  # --preset wins

    with pytest.raises(PagefitError, match="batch_size"):
        resolve_train_config(overrides={"batch_size": "many"})
    with pytest.raises(PagefitError, match="unknown preset 'nope'"):
        resolve_train_config(preset="nope")
    with pytest.raises(PagefitError, match="lrr"):
        resolve_train_config(overrides={"lrr": 1})
    with pytest.raises(PagefitError, match="truncate_dim"):
        resolve_train_config(preset="qwen3-vl-2b-vdr", overrides={"matryoshka_dims": [64, 32]})


def test_missing_tracker_is_a_clear_error(mined, tmp_path):
    res = CliRunner().invoke(
        app, ["train", str(mined), "--out", str(tmp_path / "m"), "--report-to", "trackio"]
    )
    assert res.exit_code == 1
    assert "trackio" in str(res.exception) and "pip install trackio" in str(res.exception)


# --------------------------------------------------------------------------------------------------- data


def test_bookkeeping_columns_are_dropped_and_paths_resolved(mined, tmp_path):
    config = resolve_train_config(overrides={"data": str(mined), "num_negatives": None})  # all of them
    data = load_train_data(config)
    assert data.train.column_names == ["query", "image", "negative_0", "negative_1"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in data.train["negative_1"])
    assert data.summary | {"source": ""} == {
        "source": "",
        "train_rows": 8,
        "train_negatives": 2,
        "validation_rows": 0,  # no validation split in this folder: nothing is selected
        "eval_rows": 4,
        "eval_negatives": 2,
    }
    # the evaluator's corpus: every positive and negative of the eval split, each page once
    evaluator = build_evaluator(data.eval, batch_size=8)
    pages = {*data.eval["image"], *data.eval["negative_0"], *data.eval["negative_1"]}
    assert sorted(evaluator.corpus) == sorted(pages) and len(evaluator.queries) == 4

    fewer = load_train_data(resolve_train_config(overrides={"data": str(mined)}))  # the preset's one negative
    assert fewer.train.column_names == ["query", "image", "negative_0"]
    assert fewer.eval.column_names[-1] == "negative_1"  # evaluation keeps every negative
    more = load_train_data(resolve_train_config(overrides={"data": str(mined), "num_negatives": 5}))
    assert more.train.column_names[2:] == ["negative_0", "negative_1"]  # at most: what the rows have

    # a `datasets` folder whose image paths are relative to it: resolved, column order kept
    rel = {"query": QUERIES[:4], "image": [f"../data/corpus/images/p{i}.png" for i in range(4)],
           "negative_0": [f"../data/corpus/images/p{i}.png" for i in range(4, 8)]}  # fmt: skip
    datasets.Dataset.from_dict(rel).save_to_disk(str(tmp_path / "ds"))
    data = load_train_data(resolve_train_config(overrides={"data": str(tmp_path / "ds"), "eval_split": None}))
    assert data.train.column_names == ["query", "image", "negative_0"] and data.eval is None
    assert Path(data.train["negative_0"][0]).resolve() == (mined.parent / "corpus/images/p4.png").resolve()

    plain = write_pairs(tmp_path / "plain", negatives=0)  # `pagefit pairs` without `pagefit mine`
    data = load_train_data(resolve_train_config(overrides={"data": str(plain)}))
    assert (
        data.train.column_names == ["query", "image"]
        and len(build_evaluator(data.eval, batch_size=4).corpus) == 4
    )


def saved(tmp_path: Path, splits: dict[str, dict[str, list]]) -> str:
    folder = tmp_path / "ds"
    datasets.DatasetDict({k: datasets.Dataset.from_dict(v) for k, v in splits.items()}).save_to_disk(
        str(folder)
    )
    return str(folder)


def test_data_errors_are_actionable(tmp_path):
    page = [str(tmp_path / r) for r in write_pages(tmp_path)]
    good = {"query": QUERIES[:4], "image": page[:4], "negative_0": page[4:8]}

    def error(splits, **overrides) -> str:
        config = resolve_train_config(overrides={"data": saved(tmp_path, splits), **overrides})
        with pytest.raises(PagefitError) as info:
            load_train_data(config)
        return str(info.value)

    assert "lacks the column(s) image" in error(
        {"train": {"query": QUERIES[:2], "page": page[:2]}}, eval_split=None
    )
    empty = datasets.Dataset.from_dict({"query": [], "image": []})  # (datasets cannot reload an empty save)
    with pytest.raises(PagefitError, match="is empty"):
        prepare_split(empty, None, "the train split", None)
    missing = error(
        {"train": good | {"negative_0": [*page[4:7], str(tmp_path / "gone.png")]}}, eval_split=None
    )
    assert "not existing image files" in missing and "gone.png" in missing and "as text" in missing
    gap = error({"train": good | {"negative_2": page[8:12]}}, eval_split=None)
    assert "unequal negative counts" in gap and "negative_1" in gap
    ragged = error({"train": good | {"negative_1": [page[9], page[10], None, ""]}}, eval_split=None)
    assert "2 row(s) have no value in 'negative_1'" in ragged
    assert "has no split 'eval'" in error({"train": good})
    with pytest.raises(PagefitError, match="no training data"):
        load_train_data(resolve_train_config())
    with pytest.raises(
        PagefitError, match="cannot load dataset 'tomaarsen/llamaindex-vdr-en-train-preprocessed'"
    ):
        load_train_data(resolve_train_config(preset="qwen3-vl-2b-vdr"))  # the hub is out of reach here


def write_hub_layout(folder: Path, source: Path) -> Path:
    """A local copy of the llamaindex-vdr layout: configs `train` and `eval` (split `train`), PIL image columns."""
    images = [Image.open(source / "images" / f"p{i}.png").convert("RGB") for i in range(len(TOPICS))]
    features = datasets.Features(
        {"query": datasets.Value("string")}
        | {c: datasets.Image() for c in ["image", "negative_0", "negative_1", "negative_2", "negative_3"]}
    )

    def split(idx: range) -> datasets.Dataset:
        rows = {"query": [QUERIES[i] for i in idx], "image": [images[i] for i in idx]}
        rows |= {f"negative_{k}": [images[(i + 1 + k) % len(images)] for i in idx] for k in range(4)}
        return datasets.Dataset.from_dict(rows, features=features)

    for name, idx in (("train", range(0, 8)), ("eval", range(8, 12))):
        split(idx).to_parquet(str(folder / name / "train-00000.parquet"))
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: train\n  data_files:\n  - split: train\n    path: train/*.parquet\n"
        "- config_name: eval\n  data_files:\n  - split: train\n    path: eval/*.parquet\n---\n"
    )
    return folder


# ------------------------------------------------------------------------------------------ every preset


def test_vdr_preset_on_tiny_qwen3vl(mined, tiny_qwen3vl_path, tmp_path, caplog):
    """The article's preset, model name overridden: bf16 falls back on CPU, Matryoshka dims adapted by flag."""
    out = tmp_path / "vdr"
    before = tensors(tiny_qwen3vl_path)
    with caplog.at_level(logging.WARNING, logger="pagefit"):
        result = train(preset="qwen3-vl-2b-vdr", data=str(mined), output=str(out), model=str(tiny_qwen3vl_path),
                       matryoshka_dims=[64, 32], truncate_dim=32, max_steps=3, batch_size=4, lr=1e-3,
                       eval_every=3, save_every=3)  # fmt: skip
    assert "bf16 needs a CUDA GPU" in caplog.text
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["precision"] == "fp32" and summary["steps"] == 3 and summary["truncate_dim"] == 32
    # the saved model's held-out NDCG@10 is what the summary says (reference: computed here by hand)
    data = load_train_data(result.config)
    reloaded = load_model(out, device="cpu")
    reloaded.truncate_dim = None
    assert summary["final_metrics"]["ndcg@10"] == pytest.approx(
        reference_ndcg10(reloaded, data.eval), abs=1e-5
    )
    # no validation split: nothing is selected on the eval split, the last step is saved
    assert summary["selection"]["selected_step"] == 3 and summary["selection"]["history"] == []
    assert set(summary["metrics_by_dim"]) == {"64", "32"} and summary["samples_per_second"] > 0
    assert changed(before, tensors(out))
    assert result.model[0].processor.image_processor.size.longest_edge == 600 * 600  # the article's bound
    assert_reloads_identically(result, abs_images(mined.parent))

    saved_config = yaml.safe_load((out / "train_config.yaml").read_text())
    assert saved_config["max_pixels"] == 360000 and saved_config["precision"] == "bf16"  # recorded as asked
    assert saved_config["num_negatives"] == 1 and saved_config["model"] == str(tiny_qwen3vl_path)
    card = (out / "README.md").read_text()
    assert "## Training with pagefit" in card and "| ndcg@10 |" in card and "Matryoshka dimensions" in card

    # per-dimension metrics (corpus encoded once, sliced) equal a fresh evaluation at that dimension
    at_32 = build_evaluator(data.eval, batch_size=4, truncate_dim=32, name="check")(result.model)
    assert at_32["check_cosine_ndcg@10"] == pytest.approx(result.metrics_by_dim[32]["ndcg@10"], abs=1e-6)

    with pytest.raises(PagefitError, match="already holds a trained model"):
        train(preset="qwen3-vl-2b-vdr", data=str(mined), output=str(out), model=str(tiny_qwen3vl_path))


def test_ocr_minilm_preset_learns_and_reloads_without_remote_code(mined, tmp_path):
    out = tmp_path / "ocr"
    result = train(data=str(mined), output=str(out), max_steps=2, batch_size=4, lr=1e-4, eval_every=2,
                   save_every=2, matryoshka_dims=[384, 256, 128, 64])  # fmt: skip
    assert result.config.preset == "ocr-minilm" and result.summary["steps"] == 2
    assert set(result.summary["metrics_by_dim"]) == {"384", "256", "128", "64"}
    untrained = load_model("ocr-minilm", device="cpu")
    for before, after in zip(embeddings(untrained, abs_images(mined.parent)),
                             embeddings(result.model, abs_images(mined.parent)), strict=True):  # fmt: skip
        assert np.abs(before - after).max() > 1e-4  # both routes moved: they share MiniLM's weights
    assert_reloads_identically(result, abs_images(mined.parent))  # pagefit's OcrText, no remote code trusted
    assert "pagefit.load_model(path)" in (out / "README.md").read_text()


def test_router_preset_composes_minilm_and_siglip(mined, minilm_path, tiny_siglip_path, tmp_path):
    out = tmp_path / "router"
    result = train(preset="router", data=str(mined), output=str(out), text_model=str(minilm_path),
                   image_model=str(tiny_siglip_path), max_steps=2, batch_size=4, shared_dim=48, eval_every=2,
                   save_every=2)  # fmt: skip
    model = result.model
    assert model.get_embedding_dimension() == 48
    router = model[0]
    assert sorted(router.sub_modules) == ["document", "query"]
    assert [type(m).__name__ for m in router.sub_modules["document"]][-1] == "Dense"
    assert result.summary["base_model"].endswith("(images)") and result.final_metrics["ndcg@10"] >= 0
    assert changed(tensors(minilm_path), tensors(out / "query_0_Transformer"))
    assert_reloads_identically(result, abs_images(mined.parent))


def test_fresh_vlm_preset_starts_from_a_raw_checkpoint(mined, tiny_qwen3vl_base_path, tmp_path):
    out = tmp_path / "fresh"
    result = train(preset="fresh-vlm", data=str(mined), output=str(out), model=str(tiny_qwen3vl_base_path),
                   matryoshka_dims=[64, 16], truncate_dim=None, max_steps=2, batch_size=4, eval_every=2,
                   save_every=2)  # fmt: skip
    assert sorted(result.model.modalities) == ["image", "message", "text", "video"]  # detected by ST
    assert (out / "modules.json").is_file() and result.summary["steps"] == 2
    assert changed(tensors(tiny_qwen3vl_base_path), tensors(out))
    assert_reloads_identically(result, abs_images(mined.parent))


def test_cli_lora_with_gradient_checkpointing_and_a_config_file(mined, tiny_qwen3vl_path, tmp_path):
    """Preset < --config file < flags through the CLI; LoRA adapters merged into a plain saved model."""
    out, user = tmp_path / "lora", tmp_path / "user.yaml"
    user.write_text(yaml.safe_dump({"preset": "qwen3-vl-2b-vdr", "lr": 0.5, "lora_rank": 4, "save_every": 2}))
    before = tensors(tiny_qwen3vl_path)
    res = CliRunner().invoke(app, ["train", "--data", str(mined), "--config", str(user), "--model", str(tiny_qwen3vl_path),
                                   *DIMS, "--lora", "--gradient-checkpointing", "--lr", "1e-2", "--max-steps", "2",
                                   "--batch-size", "4", "--eval-every", "2", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "NDCG@10" in res.output
    recorded = yaml.safe_load((out / "train_config.yaml").read_text())
    assert (recorded["lr"], recorded["lora_rank"], recorded["mini_batch_size"]) == (0.01, 4, 1)
    checkpoint = out / "checkpoints" / "checkpoint-2"
    assert (checkpoint / "adapter_config.json").is_file() and (
        checkpoint / "pagefit_lora.safetensors"
    ).is_file()
    assert not (out / "adapter_config.json").exists()  # merged: loads without peft
    moved = changed(before, tensors(out))
    assert moved and all("proj" in k or "fc" in k or "qkv" in k for k in moved)  # only adapted linears moved
    reloaded = load_model(out, device="cpu")
    assert reloaded.truncate_dim == 32 and reloaded.encode_query(["x"]).shape == (1, 32)


def test_hub_layout_dataset_with_pil_images(mined, tiny_qwen3vl_path, tmp_path):
    """`load_dataset(name, config, split=...)` as for tomaarsen/llamaindex-vdr-en-train-preprocessed."""
    hub = write_hub_layout(tmp_path / "vdr-local", mined.parent / "corpus")
    config = resolve_train_config(preset="qwen3-vl-2b-vdr", overrides={"data": str(hub), "data_config": "train",
                                  "eval_config": "eval", "eval_split": "train"})  # fmt: skip
    data = load_train_data(config)
    assert data.train.column_names == ["query", "image", "negative_0"]  # the article trains on one negative
    corpus = build_evaluator(data.eval, batch_size=4).corpus
    assert len(corpus) == 4 * 5  # the article's layout: the positive and 4 negatives of each row
    result = train(config, output=str(tmp_path / "out"), model=str(tiny_qwen3vl_path), matryoshka_dims=[64],
                   truncate_dim=64, max_steps=1, batch_size=4, eval_every=1)  # fmt: skip
    assert result.summary["data"]["eval_corpus"] == 20 and "ndcg@10" in result.final_metrics


def test_short_runs_never_spend_every_step_on_warmup() -> None:
    from pagefit.train.config import TrainConfig
    from pagefit.train.trainer import _warmup_steps

    assert _warmup_steps(TrainConfig(max_steps=1, warmup=0.1)) == 0  # the one step trains at full lr
    assert _warmup_steps(TrainConfig(max_steps=3, warmup=5)) == 2
    assert _warmup_steps(TrainConfig(max_steps=100, warmup=0.1)) == 10
    assert _warmup_steps(TrainConfig(warmup=0.1)) == 0.1  # epochs: the trainer takes the fraction


def test_lora_resume_restores_every_trainable_weight(mined, minilm_path, tiny_siglip_path, tmp_path):
    """`--lora --resume` gets back the adapters AND the Router's Dense projections of the checkpoint."""
    import torch

    from pagefit.train.model import LORA_STATE_FILE, add_lora, build_model, load_lora_state

    settings = {"data": str(mined), "text_model": str(minilm_path), "image_model": str(tiny_siglip_path),
                "shared_dim": 48, "lora": True, "lora_rank": 2, "lr": 1e-2, "batch_size": 4,
                "eval_every": 1, "save_every": 1, "max_steps": 1}  # fmt: skip
    out = tmp_path / "router-lora"
    result = train(preset="router", output=str(out), **settings)
    saved = load_file(str(out / "checkpoints" / "checkpoint-1" / LORA_STATE_FILE))
    dense = sorted(k for k in saved if k.endswith("linear.weight") and "lora_" not in k)
    assert len(dense) == 2 and any("lora_" in k for k in saved)  # both projections and the adapters

    # What `--resume` does: build the model again (fresh random projections, fresh adapters), then load.
    config = resolve_train_config(preset="router", overrides={**settings, "output": str(tmp_path / "again")})
    fresh = build_model(config, "fp32")
    add_lora(fresh, config)
    trainable = {name: p for name, p in fresh.named_parameters() if p.requires_grad}
    assert set(trainable) == set(saved)
    assert not all(torch.equal(trainable[k], saved[k]) for k in dense)
    load_lora_state(fresh, str(out / "checkpoints" / "checkpoint-1"))
    for name, param in trainable.items():
        assert torch.equal(param.detach(), saved[name]), name
    # The restored projections are the trained ones (the final model after its single step).
    for route in ("query", "document"):
        trained = result.model[0].sub_modules[route][-1].linear.weight
        assert torch.equal(fresh[0].sub_modules[route][-1].linear.weight, trained), route
