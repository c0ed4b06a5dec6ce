"""`pagefit train-reranker`: every preset's code path on tiny models, resume after a kill, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image, ImageDraw
from safetensors.torch import load_file
from sentence_transformers import CrossEncoder

from _pages import TOPIC_QUERIES as QUERIES
from _pages import TOPICS
from _tiny_models import _write_bert_checkpoint
from pagefit._io import image_key
from pagefit.errors import PagefitError
from pagefit.ocr import PageTextCache
from pagefit.train_reranker import train_reranker
from pagefit.train_reranker.config import list_presets, resolve_reranker_config
from pagefit.train_reranker.model import build_reranker

PAGEFIT = str(Path(sys.executable).parent / "pagefit")

# Two pages per document; documents 0-3 train, 4-5 eval.
TRAIN, EVAL = range(0, 8), range(8, 12)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))


def write_corpus(corpus: Path, texts: list[str] = TOPICS) -> list[str]:
    """A corpus folder as ingest leaves it (pages dataset, images, page text in the text cache)."""
    (corpus / "images").mkdir(parents=True, exist_ok=True)
    cache = PageTextCache()
    rows: dict[str, list] = {"page_id": [], "doc_id": [], "image": [], "text": []}
    for i, text in enumerate(texts):
        image = Image.new("RGB", (64, 80), (255, 255 - 15 * i, 230))
        ImageDraw.Draw(image).rectangle((4 + 4 * i, 10, 12 + 4 * i, 30), fill=(10 * i, 40, 90))
        image.save(corpus / "images" / f"p{i}.png")
        cache.put(image_key(image), text, "pdf")
        rows["page_id"].append(f"doc{i // 2}#p{i % 2 + 1}")
        rows["doc_id"].append(f"doc{i // 2}")
        rows["image"].append(f"images/p{i}.png")
        rows["text"].append(text)
    datasets.Dataset.from_dict(rows).save_to_disk(str(corpus / "pages"))
    return rows["image"]


def write_mined(root: Path, negatives: int = 2) -> Path:
    """A mined folder as `pagefit mine` writes it; each row's negatives come from its own split."""
    rel = write_corpus(root / "corpus")
    out = root / "mined"

    def rows(idx: range) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {"query": [], "image": []}
        found |= {f"negative_{k}": [] for k in range(negatives)}
        found |= {"page_id": [], "doc_id": []}
        for n, i in enumerate(idx):
            found["query"].append(QUERIES[i])
            found["image"].append(rel[i])
            found["page_id"].append(f"doc{i // 2}#p{i % 2 + 1}")
            found["doc_id"].append(f"doc{i // 2}")
            for k in range(negatives):
                found[f"negative_{k}"].append(rel[idx[(n + 1 + k) % len(idx)]])
        return found

    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(rows(TRAIN)), "eval": datasets.Dataset.from_dict(rows(EVAL))}
    ).save_to_disk(str(out))
    meta = {"corpus": str((root / "corpus").resolve()), "kind": "mined"}
    (out / "pagefit_pairs.json").write_text(json.dumps(meta))
    return out


@pytest.fixture
def mined(tmp_path) -> Path:
    return write_mined(tmp_path / "data")


def pairs(data: Path, document: str) -> list[tuple[str, object]]:
    images = [str(data / "corpus" / "images" / f"p{i}.png") for i in range(4)]
    form = {"image": lambda i: images[i], "text": lambda i: TOPICS[i],
            "both": lambda i: {"image": images[i], "text": TOPICS[i]}}[document]  # fmt: skip
    return [(QUERIES[0], form(i)) for i in range(4)]


def assert_reloads_and_ranks(result, data: Path, document: str) -> np.ndarray:
    """Save/reload gives identical scores; `rank` orders the pages by those scores."""
    test_pairs = pairs(data, document)
    scores = result.model.predict(test_pairs)
    reloaded = CrossEncoder(str(result.output_dir), device="cpu")
    np.testing.assert_allclose(reloaded.predict(test_pairs), scores, atol=1e-5)
    ranked = reloaded.rank(QUERIES[0], [doc for _, doc in test_pairs])
    assert [r["corpus_id"] for r in ranked] == list(np.argsort(-scores, kind="stable"))
    return scores


def assert_records(out: Path, preset: str) -> dict:
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["preset"] == preset and summary["kind"] == "reranker"
    assert "retriever_ndcg@10" in summary["final_metrics"] and "ndcg@10" in summary["base_metrics"]
    assert summary["data"]["eval_pages"] == 4 and summary["data"]["eval_queries"] == 4
    assert "## Training with pagefit" in (out / "README.md").read_text()
    saved = resolve_reranker_config(config_file=out / "train_config.yaml")
    assert saved.preset == preset and saved.resume is False
    return summary


def test_presets_are_listed_and_flags_win(tmp_path):
    presets = list_presets()
    assert {"ocr-minilm-reranker", "vlm-logit", "vlm-features"} <= set(presets)
    config_file = tmp_path / "c.yaml"
    config_file.write_text("preset: vlm-logit\nlr: 0.5\nbatch_size: 3\n")
    config = resolve_reranker_config(config_file=config_file, overrides={"batch_size": 5})
    assert (config.architecture, config.lr, config.batch_size) == ("logit", 0.5, 5)


def vlm_overrides(model: Path, mined: Path, out: Path, document: str) -> dict:
    return dict(data=str(mined), output=str(out), model=str(model), document=document, precision="fp32",
                attn_implementation=None, min_pixels=None, max_pixels=None, max_steps=3, batch_size=4,
                lr=1e-3, retriever=None, eval_every=3, save_every=3, show_progress=False)  # fmt: skip


@pytest.mark.parametrize(("preset", "document"), [("vlm-logit", "both"), ("vlm-features", "image")])
def test_vlm_presets_train_save_and_reload(
    preset, document, mined, tmp_path, tiny_qwen3vl_base_path, tiny_qwen3vl_path
):
    overrides = vlm_overrides(tiny_qwen3vl_base_path, mined, tmp_path / "out", document)
    overrides["retriever"] = str(tiny_qwen3vl_path)
    before = build_reranker(resolve_reranker_config(preset, overrides=overrides), "fp32").predict(
        pairs(mined.parent, document)
    )
    result = train_reranker(preset=preset, **overrides)
    assert result.summary["steps"] == 3
    after = assert_reloads_and_ranks(result, mined.parent, document)
    assert not np.allclose(before, after, atol=1e-4), "training did not change the scores"
    assert_records(result.output_dir, preset)


def test_features_head_starts_as_the_logit_difference(tiny_qwen3vl_base_path, mined, tmp_path):
    overrides = vlm_overrides(tiny_qwen3vl_base_path, mined, tmp_path / "out", "image")
    model = build_reranker(resolve_reranker_config("vlm-features", overrides=overrides), "fp32")
    transformer, dense = model[0], model[-1]
    embed = transformer.model.get_input_embeddings().weight
    one, zero = (transformer.tokenizer.encode(t, add_special_tokens=False)[0] for t in ("1", "0"))
    np.testing.assert_allclose(
        dense.linear.weight.detach()[0].numpy(), (embed[one] - embed[zero]).detach().numpy(), atol=1e-6
    )


@pytest.mark.slow
def test_cpu_preset_trains_minilm_on_page_text(mined, tmp_path):
    from pagefit.models.ocr_minilm import minilm_path

    out = tmp_path / "reranker"
    result = train_reranker(data=str(mined), output=str(out), max_steps=3, batch_size=8, show_progress=False)
    assert result.config.preset == "ocr-minilm-reranker" and result.summary["steps"] == 3
    assert_reloads_and_ranks(result, mined.parent, "text")
    summary = assert_records(out, "ocr-minilm-reranker")
    # 8 positives x (1 + 2 mined + 2 BM25 + 1 random) pairs
    assert summary["data"]["train_examples"] == 8 * 6
    final = summary["final_metrics"]
    assert summary["helps"] is (final["ndcg@10"] > final["retriever_ndcg@10"])
    base = load_file(str(Path(minilm_path()) / "model.safetensors"))
    trained = load_file(str(out / "model.safetensors"))
    key = next(k for k in trained if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert not np.allclose(base[key.removeprefix("bert.")].numpy(), trained[key].numpy())


def test_a_reranker_worse_than_the_retriever_says_so_in_the_card_and_the_cli(capsys):
    from pagefit.cli.train_reranker import _report
    from pagefit.train_reranker.card import card_section, rerank_verdict

    summary = {
        "base_model": "minilm", "architecture": "classifier", "preset": "ocr-minilm-reranker", "loss": "bce",
        "document": "text", "steps": 33, "precision": "fp32", "wall_time_s": 280.0, "samples_per_second": 3.7,
        "data": {"source": "mined", "train_rows": 211, "train_examples": 1055, "eval_queries": 16, "eval_top_k": 20,
                 "eval_pages": 25, "retriever": "model", "negatives_per_positive": {"mined": 3, "bm25": 1, "random": 0}},
        "base_metrics": {"ndcg@10": 0.12, "map": 0.09, "mrr@10": 0.05},
        "final_metrics": {"ndcg@10": 0.27, "retriever_ndcg@10": 0.95, "map": 0.30, "retriever_map": 0.94},
    }  # fmt: skip
    verdict = rerank_verdict(summary)
    assert "LOWERS NDCG@10" in verdict and "0.9500 retrieve-only -> 0.2700 reranked" in verdict
    assert f"**Warning:** {verdict}." in card_section(summary)
    helpful = {**summary, "final_metrics": {"ndcg@10": 0.97, "retriever_ndcg@10": 0.95}}
    assert rerank_verdict(helpful) is None and "Warning" not in card_section(helpful)

    class Result:
        output_dir = "reranker"
        final_metrics, base_metrics = summary["final_metrics"], summary["base_metrics"]

    Result.summary = summary
    _report(Result())
    printed = " ".join(capsys.readouterr().err.split())
    assert "warning: reranking the retriever's top 20" in printed and "LOWERS NDCG@10" in printed


def test_negatives_never_come_from_the_eval_split(mined):
    from pagefit.train_reranker.data import load_reranker_data

    config = resolve_reranker_config(
        overrides={"data": str(mined), "bm25_negatives": 3, "random_negatives": 3}
    )
    data = load_reranker_data(config)
    eval_texts = {TOPICS[i] for i in EVAL}
    assert not eval_texts & set(data.train[config.document]["document"])
    assert {s["query"] for s in data.eval_samples} == {QUERIES[i] for i in EVAL}
    assert all(len(s["documents"]) == 4 for s in data.eval_samples)  # every page of the eval documents


# The same long stretch of unrelated text around each eval page's one-line topic: the page vectors look alike,
# the topic's passage tells the pages apart (as on real pages, where a query matches one paragraph).
FILLER = 3 * (
    "the committee notes that minutes of the previous session were approved without amendment and that "
    "the secretary circulated the agenda two weeks in advance as the standing orders require "
)


def test_every_eval_query_counts_and_the_retriever_is_scored_as_eval_scores_it(tmp_path):
    """The miner dropped every eval row of doc5 (its queries and pages are no row of the mined eval split),
    yet the reranker's evaluation holds all four eval queries of the pairs folder over all four eval-split
    pages; the retriever's order is `pagefit eval`'s (passages on): its NDCG@10, computed from the samples,
    equals `eval`'s per query on a corpus of those pages, and differs from page vectors alone."""
    from pagefit.evaluation import evaluate
    from pagefit.models import load_model
    from pagefit.pairs import split_queries
    from pagefit.train_reranker.data import load_reranker_data

    # the topic past the first 256 tokens (all the page vector reads): only a passage finds it
    texts = [t if i < 8 else f"{FILLER * 4}{FILLER[: 40 * i]} {t}. {FILLER}" for i, t in enumerate(TOPICS)]
    mined = write_mined(tmp_path / "data")
    write_corpus(tmp_path / "data" / "corpus", texts)  # the eval pages made long
    dsd = datasets.load_from_disk(str(mined))
    dropped = datasets.DatasetDict({"train": dsd["train"], "eval": dsd["eval"].select([0, 1])})  # doc4 only
    dropped.save_to_disk(str(tmp_path / "kept"))
    records = [
        {"query": QUERIES[i], "page_ids": [f"doc{i // 2}#p{i % 2 + 1}"], "split": "eval"} for i in EVAL
    ]
    (tmp_path / "kept" / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    meta = json.loads((mined / "pagefit_pairs.json").read_text()) | {"eval_docs": ["doc4", "doc5"]}
    (tmp_path / "kept" / "pagefit_pairs.json").write_text(json.dumps(meta))

    data = load_reranker_data(resolve_reranker_config(overrides={"data": str(tmp_path / "kept")}))
    assert [s["query"] for s in data.eval_samples] == [QUERIES[i] for i in EVAL]
    assert data.summary["eval_queries"] == 4 and data.summary["eval_pages"] == 4
    assert data.summary["eval_rows"] == 2

    # `pagefit eval` on the eval-split pages alone, with and without passages
    (tmp_path / "heldout").mkdir()
    write_corpus(tmp_path / "heldout" / "corpus", texts)
    table = datasets.load_from_disk(str(tmp_path / "heldout" / "corpus" / "pages"))
    table.select(list(EVAL)).save_to_disk(str(tmp_path / "heldout" / "pages"))
    (tmp_path / "heldout" / "corpus" / "pages").rename(tmp_path / "heldout" / "all")
    (tmp_path / "heldout" / "pages").rename(tmp_path / "heldout" / "corpus" / "pages")
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"query_id": f"q{n}", **r}) + "\n" for n, r in enumerate(records)))
    model = load_model("ocr-minilm")
    on, off = (evaluate(tmp_path / "heldout" / "corpus", queries, {"m": model}, passages=p, n_resamples=100,
                        show_progress=False).per_query_scores("m") for p in (True, False))  # fmt: skip
    position = {text: i for i, text in enumerate(texts)}
    for n, sample in enumerate(data.eval_samples):
        ranked = [position[d] for d in sample["documents"]]
        relevant = {position[d] for d in sample["positive"]}
        assert sample["positive"] == [texts[EVAL[n]]]
        ndcg = sum(
            1 / np.log2(r + 2) for r, i in enumerate(ranked[:10]) if i in relevant
        )  # one relevant page
        assert ndcg == pytest.approx(on[f"q{n}"], abs=1e-6)
    assert on != off  # passages change the retriever's order
    assert split_queries(tmp_path / "kept", "eval") == records


def test_a_pairs_folder_without_negatives_is_refused(tmp_path):
    mined = write_mined(tmp_path / "data", negatives=0)
    with pytest.raises(PagefitError, match=r"no hard negatives.*pagefit mine"):
        train_reranker(data=str(mined), output=str(tmp_path / "out"), bm25_negatives=0, random_negatives=0)


def test_a_text_model_cannot_read_page_images(mined, tmp_path):
    from pagefit.models.ocr_minilm import minilm_path

    with pytest.raises(PagefitError, match=r"cannot read page images.*--document text"):
        train_reranker(
            preset="vlm-features", data=str(mined), output=str(tmp_path / "out"), model=minilm_path(),
            document="image", precision="fp32", attn_implementation=None,
        )  # fmt: skip
    with pytest.raises(PagefitError, match="reads page text only"):
        train_reranker(data=str(mined), output=str(tmp_path / "out"), document="image")


def checkpoints(out: Path) -> list[Path]:
    return sorted((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))


@pytest.mark.slow
def test_resume_after_the_process_is_killed(mined, tmp_path):
    bert, out = tmp_path / "bert", tmp_path / "reranker"
    _write_bert_checkpoint(bert, seed=0)  # a tiny text encoder: the CPU preset's code path, fast
    args = [PAGEFIT, "train-reranker", str(mined), "--out", str(out), "--model", str(bert), "--max-steps", "6",
            "--batch-size", "4", "--set", "save_every=1", "--eval-every", "6", "--set", "max_length=64",
            "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not checkpoints(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()  # SIGKILL, as when a machine goes away
    stderr = proc.communicate()[1]
    assert checkpoints(out), f"no checkpoint before the kill: {stderr[-2000:]}"
    assert not (out / "train_summary.json").exists()
    last = checkpoints(out)[-1].parent.name
    refused = subprocess.run(
        [PAGEFIT, "train-reranker", str(mined), "--out", str(out)], capture_output=True, text=True
    )
    assert refused.returncode == 1 and "--resume" in refused.stderr
    resumed = subprocess.run(
        [PAGEFIT, "train-reranker", "--out", str(out), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from"] == last and summary["steps"] == 6


def test_continue_training_an_existing_reranker(mined, tmp_path):
    from typer.testing import CliRunner

    from pagefit.cli import app

    bert, first = tmp_path / "bert", tmp_path / "first"
    _write_bert_checkpoint(bert, seed=0)
    CrossEncoder(str(bert), num_labels=1).save(str(first))  # any CrossEncoder folder
    out = tmp_path / "continued"
    result = CliRunner().invoke(app, ["train-reranker", str(mined), "--model", str(first), "--out", str(out),
                                      "--max-steps", "1", "--batch-size", "4", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["architecture"] == "load" and summary["base_model"] == str(first)
    before, after = load_file(str(first / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before)
