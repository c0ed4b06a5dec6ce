"""Any dense Sentence Transformers text model reads pages through their corpus text (issue #28): eval,
index + search and train through the CLI on tiny text models, prompts on each side, ocr-minilm unchanged,
a saved text model that plain Sentence Transformers loads, and a clear error for a model with no input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from _pages import TOPIC_QUERIES, TOPICS  # tests/ is on sys.path (conftest)
from _tiny_models import _write_bert_checkpoint, minilm_source_dir
from pagefit._io import image_key
from pagefit.cli import app
from pagefit.errors import PagefitError
from pagefit.pagetext import clean_page_text

DOCS, PAGES = 4, 3


def build_text_model(out: Path, *, prompts: dict[str, str] | None = None, seed: int = 0) -> Path:
    """A tiny dense text model (2-layer BERT, MiniLM's tokenizer): Transformer + mean Pooling + Normalize."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    raw = out.parent / f"{out.name}-raw"
    raw.mkdir(parents=True)
    _write_bert_checkpoint(raw, seed=seed)
    text = Transformer(str(raw), max_seq_length=64)
    model = SentenceTransformer(
        modules=[text, Pooling(text.get_embedding_dimension(), "mean"), Normalize()],
        prompts=prompts,
        device="cpu",
    )
    model.save(str(out))
    return out


def build_corpus(root: Path) -> list[dict]:
    """A corpus as `pagefit ingest` lays it out; the page text is only in the corpus (no text cache)."""
    rows = []
    for i, topic in enumerate(TOPICS):
        doc, page = divmod(i, PAGES)
        image = Image.new("RGB", (64, 80), (255, 250 - 15 * i, 230))
        ImageDraw.Draw(image).rectangle((4 + 4 * i, 10, 12 + 4 * i, 30), fill=(10 * i, 40, 90))
        rel = f"images/doc{doc}/p{page + 1}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / rel)
        text = f"Report {doc}, page {page + 1}\n{topic}. Ef\ufb01ciency of the de-\npartment."
        rows.append(
            {"page_id": f"doc{doc}#p{page + 1}", "doc_id": f"doc{doc}", "source": f"doc{doc}.pdf",
             "page_number": page + 1, "image": rel, "width": 64, "height": 80, "text": text,
             "text_source": "pdf", "image_hash": image_key(image)}
        )  # fmt: skip
    datasets.Dataset.from_list(rows).save_to_disk(str(root / "pages"))
    (root / "manifest.json").write_text("{}")
    return rows


@pytest.fixture
def no_ocr(monkeypatch):
    """Reading any page text from OCR or the machine-wide text cache fails the test: the corpus holds it."""
    import pagefit.ocr

    def refuse(*args, **kwargs):
        raise AssertionError("page text read outside the corpus")

    monkeypatch.setattr(pagefit.ocr, "page_text", refuse)
    monkeypatch.setattr(pagefit.ocr.PageTextCache, "get", refuse)


def topic_corpus(root: Path) -> tuple[list[dict], Path]:
    """The topic corpus under `root/corpus` (its rows) and `root/queries.jsonl`, one query per topic page."""
    rows = build_corpus(root / "corpus")
    queries = root / "queries.jsonl"
    queries.write_text(
        "".join(json.dumps({"query_id": f"q{i}", "query": q, "page_id": rows[i]["page_id"]}) + "\n"
                for i, q in enumerate(TOPIC_QUERIES))
    )  # fmt: skip
    return rows, queries


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("text-route")
    rows, queries = topic_corpus(root)
    text_model = build_text_model(root / "tiny-text")
    prompted = build_text_model(root / "tiny-prompted", prompts={"query": "query: ", "passage": "passage: "})
    return type("WS", (), {"root": root, "corpus": root / "corpus", "rows": rows, "queries": queries,
                           "text_model": text_model, "prompted": prompted})  # fmt: skip


def plain_ndcg10(model_dir: Path, rows: list[dict]) -> float:
    """NDCG@10 of the model by plain Sentence Transformers over the cleaned corpus text (one relevant page each)."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu")
    q = st.encode_query(list(TOPIC_QUERIES))
    d = st.encode_document([clean_page_text(r["text"]) for r in rows])
    total = 0.0
    for i, row in enumerate(q @ d.T):
        rank = int(np.where(np.argsort(-row, kind="stable") == i)[0][0])
        total += 1 / math.log2(rank + 2) if rank < 10 else 0.0
    return total / len(q)


def test_eval_reads_page_text_of_a_text_model(ws, tmp_path, no_ocr):
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["eval", "--corpus", str(ws.corpus), "--queries", str(ws.queries), "-o", str(out),
                                   "-m", str(ws.text_model), "--bm25", "--no-progress", "--resamples", "200"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "reads pages through their text" in res.output
    entry = json.loads((out / "report.json").read_text())["models"][0]
    assert entry["metrics"]["ndcg@10"] == pytest.approx(plain_ndcg10(ws.text_model, ws.rows), abs=1e-6)


def test_prompts_reach_each_side(ws, no_ocr):
    from sentence_transformers import SentenceTransformer

    from pagefit.embeddings import encode_pages, encode_queries
    from pagefit.models import load_model

    model = load_model(ws.prompted, device="cpu")
    paths = [str(ws.corpus / r["image"]) for r in ws.rows[:3]]
    pages = encode_pages(model, paths, keys=[r["image_hash"] for r in ws.rows[:3]], cache=False)
    queries = encode_queries(model, TOPIC_QUERIES[:3])
    st = SentenceTransformer(str(ws.prompted), device="cpu")
    texts = [clean_page_text(r["text"]) for r in ws.rows[:3]]
    # the model's own prompts, on each side
    np.testing.assert_allclose(pages, st.encode(texts, prompt="passage: "), atol=1e-6)
    np.testing.assert_allclose(queries, st.encode_query(TOPIC_QUERIES[:3]), atol=1e-6)
    assert np.abs(pages - st.encode(texts)).max() > 1e-3  # the prompt changes the embedding
    # overridden prompts win on each side, and the model keeps them
    custom = load_model(
        ws.prompted, device="cpu", query_prompt="search_query: ", document_prompt="search_document: "
    )
    st.prompts = {"query": "search_query: ", "document": "search_document: "}
    np.testing.assert_allclose(encode_pages(custom, paths, cache=False), st.encode_document(texts), atol=1e-6)
    np.testing.assert_allclose(encode_queries(custom, TOPIC_QUERIES[:3]), st.encode_query(TOPIC_QUERIES[:3]),
                               atol=1e-6)  # fmt: skip
    assert np.abs(encode_pages(custom, paths, cache=False) - pages).max() > 1e-3


def test_training_batches_get_the_prompt_of_their_side(ws, no_ocr):
    """The trainer's collator passes no prompt: pages get the document prompt, queries the query prompt."""
    from sentence_transformers import SentenceTransformer

    from pagefit.models import load_model

    model = load_model(ws.prompted, device="cpu")
    st = SentenceTransformer(str(ws.prompted), device="cpu")
    page = str(ws.corpus / ws.rows[0]["image"])
    got = model.preprocess([page])
    want = st.preprocess([clean_page_text(ws.rows[0]["text"])], prompt="passage: ")
    assert torch.equal(got["input_ids"], want["input_ids"]) and got["prompt_length"] == want["prompt_length"]
    got = model.preprocess(["bridge projects"])
    want = st.preprocess(["bridge projects"], prompt="query: ")
    assert torch.equal(got["input_ids"], want["input_ids"]) and got["prompt_length"] == want["prompt_length"]


def test_index_and_search_with_a_text_model(ws, tmp_path, no_ocr):
    index = tmp_path / "index"
    runner = CliRunner()
    res = runner.invoke(app, ["index", str(ws.corpus), "--model", str(ws.text_model), "--out", str(index),
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["search", str(index), TOPIC_QUERIES[4], "--json", "-k", "3", "--hybrid", "none"]
    )
    assert res.exit_code == 0, res.output
    results = json.loads(res.stdout)["results"]  # the route line goes to stderr

    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(ws.text_model), device="cpu")
    scores = st.encode_document([clean_page_text(r["text"]) for r in ws.rows]) @ st.encode_query(
        TOPIC_QUERIES[4]
    )
    top = [ws.rows[i]["page_id"] for i in np.argsort(-scores, kind="stable")[:3]]
    assert [r["page_id"] for r in results] == top
    assert results[0]["score"] == pytest.approx(float(scores.max()), abs=1e-5)


def write_pairs(ws, root: Path) -> Path:
    rel = [r["image"] for r in ws.rows]
    ids = [r["page_id"] for r in ws.rows]

    def split(idx: range) -> datasets.Dataset:
        rows = {"query": [TOPIC_QUERIES[i] for i in idx], "image": [rel[i] for i in idx],
                "negative_0": [rel[(i + 1) % len(rel)] for i in idx], "page_id": [ids[i] for i in idx],
                "doc_id": [ids[i].split("#")[0] for i in idx],
                "negative_0_page_id": [ids[(i + 1) % len(rel)] for i in idx]}  # fmt: skip
        return datasets.Dataset.from_dict(rows)

    out = root / "mined"
    datasets.DatasetDict({"train": split(range(0, 9)), "eval": split(range(9, 12))}).save_to_disk(str(out))
    (out / "pagefit_pairs.json").write_text(json.dumps({"corpus": str(ws.corpus.resolve())}))
    return out


def test_train_a_text_model_saves_a_plain_sentence_transformer(ws, tmp_path, no_ocr):
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer

    from pagefit.embeddings import encode_pages
    from pagefit.models import load_model

    mined, out = write_pairs(ws, tmp_path), tmp_path / "model"
    res = CliRunner().invoke(app, ["train", str(mined), "--model", str(ws.prompted), "--out", str(out),
                                   "--max-steps", "3", "--batch-size", "4", "--lr", "1e-3",
                                   "--matryoshka-dims", "48,32", "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    before = load_file(str(next(ws.prompted.rglob("model.safetensors"))))
    after = load_file(str(next(out.rglob("model.safetensors"))))
    assert any(not torch.allclose(before[k], after[k]) for k in before)
    modules = json.loads((out / "modules.json").read_text())
    assert all(m["type"].startswith("sentence_transformers.") for m in modules)
    plain = SentenceTransformer(str(out), device="cpu")  # no pagefit module, no remote code
    assert plain.prompts["query"] == "query: " and plain.prompts["document"] == "passage: "
    paths = [str(ws.corpus / r["image"]) for r in ws.rows[:3]]
    ours = encode_pages(load_model(out, device="cpu"), paths, cache=False)
    theirs = plain.encode_document([clean_page_text(r["text"]) for r in ws.rows[:3]])
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_ocr_minilm_scores_equal_the_text_route_of_minilm(ws, tmp_path, no_ocr):
    """ocr-minilm (OCR route, reading the corpus text) and `text:` MiniLM embed pages and queries alike."""
    from pagefit.embeddings import encode_pages, encode_queries
    from pagefit.models import load_model

    ocr = load_model("ocr-minilm", device="cpu")
    text = load_model(f"text:{minilm_source_dir()}", device="cpu")
    paths = [str(ws.corpus / r["image"]) for r in ws.rows]
    np.testing.assert_allclose(encode_pages(ocr, paths, cache=False), encode_pages(text, paths, cache=False),
                               atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(
        encode_queries(ocr, TOPIC_QUERIES), encode_queries(text, TOPIC_QUERIES), atol=1e-5
    )
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["eval", "--corpus", str(ws.corpus), "--queries", str(ws.queries), "-o", str(out),
                                   "-m", "ocr-minilm", "-m", f"text:{minilm_source_dir()}", "--no-progress",
                                   "--resamples", "200"])  # fmt: skip
    assert res.exit_code == 0, res.output
    first, second = json.loads((out / "report.json").read_text())["models"]
    assert first["metrics"] == pytest.approx(second["metrics"], abs=1e-6)


def test_a_model_with_neither_text_nor_image_input_is_refused(ws):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import InputModule

    class AudioOnly(InputModule):
        @property
        def modalities(self):
            return ["audio"]

        def preprocess(self, inputs, prompt=None, **kwargs):
            raise NotImplementedError

        def forward(self, features, **kwargs):
            return features

        def save(self, *args, **kwargs):
            pass

    from pagefit.evaluation import evaluate

    model = SentenceTransformer(modules=[AudioOnly()], device="cpu")
    with pytest.raises(PagefitError, match="reads neither text nor images"):
        evaluate(ws.corpus, ws.queries, models=[model], out=ws.root / "never", show_progress=False)
