"""The model layer: the built-in ocr-minilm, safe folder loading, fingerprints, modality checks."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import pagefit.ocr
from _pages import make_cached_pages
from pagefit._io import image_key
from pagefit.errors import PagefitError
from pagefit.models import (
    can_mix_modalities,
    load_model,
    model_fingerprint,
    model_name,
    require_modality,
)
from pagefit.models.ocr_minilm import MAX_SEQ_LENGTH, minilm_path
from pagefit.models.ocr_text import OcrText
from pagefit.ocr import PageTextCache

TOPICS = [
    "invoice total amount due in march",
    "quarterly revenue growth chart",
    "employee vacation policy and holidays",
    "server maintenance schedule for the data center",
]


@pytest.fixture(autouse=True)
def _own_cache(own_cache):
    """Each test gets empty OCR text and embedding caches."""
    return own_cache


@pytest.fixture(scope="session")
def saved_ocr_minilm(ocr_minilm, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("saved") / "ocr-minilm"
    ocr_minilm.save(str(folder))
    return folder


def count_ocr(monkeypatch, text: str = "unused") -> list[int]:
    calls: list[int] = []

    def fake_ocr(image):
        calls.append(1)
        return text

    monkeypatch.setattr(pagefit.ocr, "ocr_image", fake_ocr)
    return calls


def test_ocr_minilm_text_route_is_all_minilm(ocr_minilm):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(minilm_path(), device="cpu")
    ours = ocr_minilm.encode_query(TOPICS)
    assert ours.shape == (len(TOPICS), 384)
    np.testing.assert_allclose(ours, reference.encode(TOPICS), atol=1e-5)
    assert ocr_minilm.max_seq_length == MAX_SEQ_LENGTH
    assert sorted(ocr_minilm.modalities) == ["image", "text"]


def test_page_route_reads_cached_text(ocr_minilm, tmp_path, monkeypatch):
    calls = count_ocr(monkeypatch)
    paths = make_cached_pages(tmp_path / "pages", TOPICS)
    pil = [Image.open(p) for p in paths]

    from_paths = ocr_minilm.encode_document(paths)
    from_pil = ocr_minilm.encode_document(pil)

    np.testing.assert_allclose(from_paths, ocr_minilm.encode_query(TOPICS), atol=1e-5)
    np.testing.assert_allclose(from_pil, from_paths, atol=1e-6)
    assert calls == []  # ingest had stored the text: no OCR at all


def test_page_route_reads_a_page_once(ocr_minilm, monkeypatch):
    calls = count_ocr(monkeypatch, "a page about tax returns")
    page = Image.new("RGB", (40, 40), "white")
    first = ocr_minilm.encode_document([page])
    second = ocr_minilm.encode_document([page.copy()])
    assert len(calls) == 1
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert PageTextCache().get(image_key(page)) == ("a page about tax returns", "ocr")


def test_real_ocr_on_a_generated_page(ocr_minilm, monkeypatch):
    page = Image.new("RGB", (640, 160), "white")
    ImageDraw.Draw(page).text(
        (20, 40), "INVOICE TOTAL 4200", fill="black", font=ImageFont.load_default(size=56)
    )
    calls: list[int] = []
    real_ocr = pagefit.ocr.ocr_image
    monkeypatch.setattr(pagefit.ocr, "ocr_image", lambda image: calls.append(1) or real_ocr(image))

    embedding = ocr_minilm.encode_document([page])
    text, source = PageTextCache().get(image_key(page))
    assert source == "ocr" and "INVOICE" in text.upper()
    np.testing.assert_allclose(embedding, ocr_minilm.encode_query([text]), atol=1e-5)
    ocr_minilm.encode_document([page])
    assert len(calls) == 1


def test_training_moves_the_shared_encoder(ocr_minilm, tmp_path):
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
    )

    model = copy.deepcopy(ocr_minilm)
    paths = make_cached_pages(tmp_path / "pages", TOPICS)
    data = Dataset.from_dict(
        {"query": [f"what about {t}?" for t in TOPICS], "image": paths, "negative_0": paths[1:] + paths[:1]}
    )
    text_encoder = model[0].sub_modules["text"][0]
    before = {k: v.clone() for k, v in text_encoder.state_dict().items()}
    fingerprint = model_fingerprint(model)
    loss = MatryoshkaLoss(model, CachedMultipleNegativesRankingLoss(model, mini_batch_size=2), [384, 64])
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        dataloader_num_workers=0,
        router_mapping={"query": "query", "image": "document", "negative_0": "document"},
        report_to="none",
        save_strategy="no",
        use_cpu=True,
    )
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss).train()

    after = text_encoder.state_dict()
    assert any(not torch_equal(before[k], after[k]) for k in before)
    assert model[0].sub_modules["image"][1] is text_encoder
    assert model[0].sub_modules["image"][0].text_module is text_encoder
    np.testing.assert_allclose(model.encode_document(paths), model.encode_query(TOPICS), atol=1e-5)
    assert model_fingerprint(model) != fingerprint


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_save_then_load_without_trusting_remote_code(ocr_minilm, saved_ocr_minilm, tmp_path):
    paths = make_cached_pages(tmp_path / "pages", TOPICS)
    modules = json.loads((saved_ocr_minilm / "router_config.json").read_text())["types"].values()
    assert "pagefit.models.ocr_text.OcrText" in modules

    loaded = load_model(saved_ocr_minilm)

    assert isinstance(loaded[0].sub_modules["image"][0], OcrText)
    assert loaded[0].sub_modules["image"][1] is loaded[0].sub_modules["text"][0]
    assert not loaded.trust_remote_code
    np.testing.assert_array_equal(loaded.encode_document(paths), ocr_minilm.encode_document(paths))
    np.testing.assert_array_equal(loaded.encode_query(TOPICS), ocr_minilm.encode_query(TOPICS))
    assert model_fingerprint(loaded) == model_fingerprint(ocr_minilm)
    assert model_name(loaded) == str(saved_ocr_minilm)


def test_explicit_trust_loads_as_sentence_transformers_would(saved_ocr_minilm):
    loaded = load_model(saved_ocr_minilm, trust_remote_code=True)
    assert isinstance(loaded[0].sub_modules["image"][0], OcrText)


def _copy_with_router_type(saved: Path, dest: Path, class_ref: str) -> Path:
    shutil.copytree(saved, dest)
    config_path = dest / "router_config.json"
    config = json.loads(config_path.read_text())
    config["types"]["image_0_OcrText"] = class_ref
    config_path.write_text(json.dumps(config))
    return dest


@pytest.mark.parametrize("class_ref", ["evil_package.modules.Evil", "modeling_evil.Evil"])
def test_folder_naming_a_foreign_class_is_refused(saved_ocr_minilm, tmp_path, class_ref):
    folder = _copy_with_router_type(saved_ocr_minilm, tmp_path / "model", class_ref)
    with pytest.raises(PagefitError, match=r"--trust-remote-code") as info:
        load_model(folder)
    assert class_ref in str(info.value)


@pytest.mark.parametrize(
    "class_ref", ["pagefit.errors.PagefitError", "pagefit.nothing.Here", "pagefit.ocr.os"]
)
def test_folder_naming_an_unknown_pagefit_class_is_refused(saved_ocr_minilm, tmp_path, class_ref):
    folder = _copy_with_router_type(saved_ocr_minilm, tmp_path / "model", class_ref)
    with pytest.raises(PagefitError, match=rf"names '{class_ref}', which is not a module class"):
        load_model(folder)


def test_folder_with_code_is_refused(saved_ocr_minilm, tmp_path):
    # ST's dynamic loader would read "pagefit.Evil" as the folder's own pagefit.py
    folder = _copy_with_router_type(saved_ocr_minilm, tmp_path / "model", "pagefit.Evil")
    (folder / "pagefit.py").write_text("raise SystemExit('folder code ran')\n")
    with pytest.raises(PagefitError, match=r"holds code \(pagefit.py\).*--trust-remote-code"):
        load_model(folder)


def test_top_level_foreign_module_is_refused(saved_ocr_minilm, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(saved_ocr_minilm, folder)
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["type"] = "custom_pooling.MyPooling"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(PagefitError, match=r"custom_pooling\.MyPooling.*--trust-remote-code"):
        load_model(folder)


def test_without_the_loading_hook_a_pagefit_folder_is_refused_not_trusted(saved_ocr_minilm, monkeypatch):
    """A Sentence Transformers without the private hook: refuse, never fall back to trusting the folder."""
    from sentence_transformers import SentenceTransformer

    for owner in SentenceTransformer.__mro__:  # the hook is defined on a base class
        if "_load_with_module_classes" in vars(owner):
            monkeypatch.delattr(owner, "_load_with_module_classes")
    assert not hasattr(SentenceTransformer, "_load_with_module_classes")
    trusted: list[object] = []
    original_init = SentenceTransformer.__init__

    def spy(self, *args, **kwargs):
        trusted.append(kwargs.get("trust_remote_code"))
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "__init__", spy)
    with pytest.raises(
        PagefitError, match=r"lacks the hook.*sentence-transformers==6\.2\.0.*--trust-remote-code"
    ):
        load_model(saved_ocr_minilm)
    assert True not in trusted  # nothing was loaded with remote code trusted
    assert isinstance(
        load_model(saved_ocr_minilm, trust_remote_code=True)[0].sub_modules["image"][0], OcrText
    )


def test_plain_sentence_transformers_folder_loads(tmp_path):
    folder = tmp_path / "minilm"
    shutil.copytree(minilm_path(), folder)
    model = load_model(folder, truncate_dim=64)
    assert model.encode_query(["hello"]).shape == (1, 64)


def test_missing_folder_and_unknown_hub_name(tmp_path):
    with pytest.raises(PagefitError, match="does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(PagefitError, match="ocr-minilm"):
        load_model("pagefit-test/no-such-model-anywhere")


def test_fingerprint_is_stable_and_tracks_weights(ocr_minilm):
    import torch

    model = copy.deepcopy(ocr_minilm)
    fingerprint = model_fingerprint(model)
    assert fingerprint == model_fingerprint(ocr_minilm) == model_fingerprint(model)
    model.truncate_dim = 64  # the cache keeps full embeddings: truncation is not part of the identity
    assert model_fingerprint(model) == fingerprint
    model.max_seq_length = 128
    assert model_fingerprint(model) != fingerprint
    model.max_seq_length = MAX_SEQ_LENGTH
    assert model_fingerprint(model) == fingerprint
    with torch.no_grad():
        next(model.parameters())[0, 0] += 1e-3
    assert model_fingerprint(model) != fingerprint


def test_require_modality(ocr_minilm):
    from sentence_transformers import SentenceTransformer

    text_only = SentenceTransformer(minilm_path(), device="cpu")
    require_modality(ocr_minilm, "image", role="the page encoder")
    require_modality(text_only, "text", role="the query encoder")
    require_modality(text_only, "image", role="the page encoder")  # the text route: pages read as text
    assert text_only.preprocess.__class__.__name__ == "PageTextRoute"
    with pytest.raises(PagefitError, match=r"cannot embed videos \(it supports: text\)"):
        require_modality(text_only, "video", role="the video encoder")
    assert not can_mix_modalities(ocr_minilm)
    assert not can_mix_modalities(text_only)
