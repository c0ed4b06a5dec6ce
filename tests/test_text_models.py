"""The rest of issue #28 through the CLI on tiny text models: prompts on index/search, mine and train; a
learned-sparse model (SparseEncoder, SPLADE) and a multi-vector one (MultiVectorEncoder) reading pages
through their corpus text in train, eval (also as the sparse side of a hybrid) and index + search; saved
models reload with the plain Sentence Transformers classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from _pages import TOPIC_QUERIES  # tests/ is on sys.path (conftest)
from _tiny_models import _write_bert_checkpoint, minilm_source_dir
from pagefit.cli import app
from pagefit.pagetext import clean_page_text
from test_text_route import (
    build_text_model,
    no_ocr,  # noqa: F401  (the fixture)
    plain_ndcg10,
    topic_corpus,
    write_pairs,
)

PROMPTS = {"query": "search_query: ", "document": "search_document: "}


def build_sparse_model(out: Path, *, seed: int = 0) -> Path:
    """A tiny SPLADE model: a 2-layer BertForMaskedLM (MiniLM's tokenizer) + SpladePooling("max")."""
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sparse_encoder.modules import SpladePooling
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    raw = out.parent / f"{out.name}-raw"
    raw.mkdir(parents=True)
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_source_dir()), model_max_length=128)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=128)  # fmt: skip
    BertForMaskedLM(config).eval().save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    mlm = Transformer(str(raw), transformer_task="fill-mask", max_seq_length=64)
    SparseEncoder(modules=[mlm, SpladePooling("max")], device="cpu").save(str(out))
    return out


def build_multivector_model(out: Path, *, seed: int = 0) -> Path:
    """A tiny ColBERT-style text model: 2-layer BERT -> token-wise Dense(48 -> 16) -> mask -> Normalize."""
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    raw = out.parent / f"{out.name}-raw"
    raw.mkdir(parents=True)
    _write_bert_checkpoint(raw, seed=seed)
    text = Transformer(str(raw), max_seq_length=64)
    torch.manual_seed(seed)
    head = Dense(text.get_embedding_dimension(), 16, bias=False, activation_function=torch.nn.Identity(),
                 module_input_name="token_embeddings")  # fmt: skip
    MultiVectorEncoder(modules=[text, head, MultiVectorMask(), Normalize(module_input_name="token_embeddings")],
                       similarity_fn_name="maxsim", device="cpu").save(str(out))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("text-models")
    rows, queries = topic_corpus(root)
    ws = type("WS", (), {"root": root, "corpus": root / "corpus", "rows": rows, "queries": queries})()
    ws.dense = build_text_model(root / "tiny-text")
    ws.sparse = build_sparse_model(root / "tiny-splade")
    ws.multi = build_multivector_model(root / "tiny-colbert")
    ws.mined = write_pairs(ws, root)
    return ws


def invoke(*args: str):
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


def texts(ws) -> list[str]:
    return [clean_page_text(r["text"]) for r in ws.rows]


def ndcg10(scores: np.ndarray) -> float:
    """NDCG@10 of (queries x pages) scores where query i's one relevant page is page i (ties: page order,
    which is page-id order in this corpus)."""
    total = 0.0
    for i, row in enumerate(np.asarray(scores)):
        rank = int(np.where(np.argsort(-row, kind="stable") == i)[0][0])
        total += 1 / np.log2(rank + 2) if rank < 10 else 0.0
    return total / len(scores)


def changed(before: Path, after: Path) -> bool:
    from safetensors.torch import load_file

    old = load_file(str(next(before.rglob("model.safetensors"))))
    new = load_file(str(next(after.rglob("model.safetensors"))))
    return any(not torch.allclose(old[k], new[k]) for k in old if k in new)


# ---------------------------------------------------------------------------------------------- prompts


def test_index_stores_the_prompts_and_search_applies_them(ws, tmp_path, no_ocr):  # noqa: F811
    from sentence_transformers import SentenceTransformer

    index = tmp_path / "index"
    invoke("index", ws.corpus, "--model", ws.dense, "--out", index, "--no-progress", "--no-passages",
           "--query-prompt", PROMPTS["query"], "--document-prompt", PROMPTS["document"])  # fmt: skip
    assert json.loads((index / "manifest.json").read_text())["prompts"] == PROMPTS
    query = TOPIC_QUERIES[4]
    results = json.loads(invoke("search", index, query, "--json", "-k", "3", "--hybrid", "none").stdout)[
        "results"
    ]

    st = SentenceTransformer(str(ws.dense), device="cpu")
    st.prompts = dict(PROMPTS)
    scores = st.encode_document(texts(ws)) @ st.encode_query(query)
    assert [r["page_id"] for r in results] == [
        ws.rows[i]["page_id"] for i in np.argsort(-scores, kind="stable")[:3]
    ]
    assert [r["score"] for r in results] == pytest.approx(np.sort(scores)[::-1][:3].tolist(), abs=1e-5)
    st.prompts = {"query": "", "document": ""}
    plain = st.encode_document(texts(ws)) @ st.encode_query(query)
    assert np.abs(plain - scores).max() > 1e-3  # the prompts change what each side embeds


def test_mine_and_train_take_the_prompts_and_the_saved_model_keeps_them(ws, tmp_path, no_ocr):  # noqa: F811
    from sentence_transformers import SentenceTransformer

    mined = tmp_path / "mined"
    invoke("mine", ws.mined, "--out", mined, "--model", ws.dense, "--num-negatives", "1", "--relative-margin", "0",
           "--no-progress", "--query-prompt", PROMPTS["query"], "--document-prompt", PROMPTS["document"])  # fmt: skip
    stats = json.loads((mined / "mining_stats.json").read_text())
    assert (stats["config"]["query_prompt"], stats["config"]["document_prompt"]) == (
        PROMPTS["query"],
        PROMPTS["document"],
    )
    st = SentenceTransformer(str(ws.dense), device="cpu")
    st.prompts = dict(PROMPTS)
    q, d = st.encode_query(TOPIC_QUERIES[:9]), st.encode_document(texts(ws)[:9])
    assert stats["rows"]["train"] == 9  # every positive scored with the prompts on each side
    assert stats["stats"]["train"]["positive"]["mean"] == pytest.approx(
        float((q * d).sum(axis=1).mean()), abs=1e-4
    )

    out = tmp_path / "model"
    invoke("train", ws.mined, "--model", ws.dense, "--out", out, "--max-steps", "2", "--batch-size", "4",
           "--matryoshka-dims", "none", "--no-progress", "--query-prompt", PROMPTS["query"],
           "--document-prompt", PROMPTS["document"])  # fmt: skip
    saved = SentenceTransformer(str(out), device="cpu")
    assert saved.prompts["query"] == PROMPTS["query"] and saved.prompts["document"] == PROMPTS["document"]
    assert "search_query: " in (out / "train_config.yaml").read_text()


# ------------------------------------------------------------------------------------------ sparse models


def test_sparse_model_evaluates_and_stands_where_bm25_stands_in_a_hybrid(ws, tmp_path, no_ocr):  # noqa: F811
    from sentence_transformers import SparseEncoder

    out = tmp_path / "report"
    raw = (
        ws.sparse.parent / f"{ws.sparse.name}-raw"
    )  # the bare BertForMaskedLM checkpoint: `sparse:` loads it
    res = invoke("eval", "--corpus", ws.corpus, "--queries", ws.queries, "-o", out, "-m", f"splade={ws.sparse}",
                 "-m", f"dense={ws.dense}", "-m", f"splade-raw=sparse:{raw}", "--hybrid", "weighted", "--no-progress",
                 "--resamples", "200")  # fmt: skip
    assert "tiny-splade reads pages through their text" in res.output
    entries = {e["name"]: e for e in json.loads((out / "report.json").read_text())["models"]}
    st = SparseEncoder(str(ws.sparse), device="cpu")
    scores = st.similarity(st.encode_query(list(TOPIC_QUERIES)), st.encode_document(texts(ws))).numpy()
    assert entries["splade"]["metrics"]["ndcg@10"] == pytest.approx(ndcg10(scores), abs=1e-6)
    assert entries["splade"]["settings"]["sparse"]["vocabulary"] == st.encode_document(["a"]).shape[1]
    assert entries["splade"]["bytes_per_page"] > 0
    assert entries["dense"]["metrics"]["ndcg@10"] == pytest.approx(plain_ndcg10(ws.dense, ws.rows), abs=1e-6)
    assert (
        entries["splade-raw"]["metrics"] == entries["splade"]["metrics"]
    )  # SPLADE pooling added by SparseEncoder
    fused = entries["hybrid(splade+dense)"]
    assert fused["settings"]["sparse_side"] == "splade" and "hybrid(bm25+dense)" in entries


def test_sparse_model_trains_indexes_and_searches(ws, tmp_path, no_ocr):  # noqa: F811
    from sentence_transformers import SparseEncoder

    out = tmp_path / "splade-pages"
    invoke("train", ws.mined, "--model", ws.sparse, "--out", out, "--max-steps", "3", "--batch-size", "4",
           "--lr", "1e-3", "--matryoshka-dims", "none", "--no-progress")  # fmt: skip
    assert changed(ws.sparse, out)
    modules = json.loads((out / "modules.json").read_text())
    assert all(m["type"].startswith("sentence_transformers.") for m in modules)
    plain = SparseEncoder(str(out), device="cpu")  # no pagefit module, no remote code
    # the held-out evaluation (the eval split's 3 queries over its document's 3 pages) scored the saved model
    final = json.loads((out / "train_summary.json").read_text())["final_metrics"]
    held_out = plain.similarity(plain.encode_query(TOPIC_QUERIES[9:]), plain.encode_document(texts(ws)[9:]))
    assert final["ndcg@10"] == pytest.approx(ndcg10(held_out.numpy()), abs=1e-6)

    index = tmp_path / "index"
    invoke("index", ws.corpus, "--model", out, "--out", index, "--hybrid", "--no-progress")
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["sparse"]["active_dims_per_page"] > 0 and (index / "sparse" / "pages.npz").is_file()
    query = TOPIC_QUERIES[7]
    results = json.loads(invoke("search", index, query, "--json", "-k", "3", "--hybrid", "none").stdout)[
        "results"
    ]
    scores = plain.similarity(plain.encode_query([query]), plain.encode_document(texts(ws))).numpy()[0]
    assert [r["page_id"] for r in results] == [
        ws.rows[i]["page_id"] for i in np.argsort(-scores, kind="stable")[:3]
    ]
    assert results[0]["score"] == pytest.approx(float(scores.max()), rel=1e-5)
    fused = json.loads(invoke("search", index, query, "--json", "-k", "3").stdout)["results"]  # with BM25
    assert len(fused) == 3


# ------------------------------------------------------------------------------------ multi-vector models


def test_multivector_text_model_evaluates_trains_and_indexes(ws, tmp_path, no_ocr):  # noqa: F811
    from sentence_transformers import MultiVectorEncoder

    out = tmp_path / "report"
    invoke("eval", "--corpus", ws.corpus, "--queries", ws.queries, "-o", out, "-m", ws.multi, "--no-progress",
           "--resamples", "200")  # fmt: skip
    entry = json.loads((out / "report.json").read_text())["models"][0]
    st = MultiVectorEncoder(str(ws.multi), device="cpu")
    q = st.encode_query(list(TOPIC_QUERIES), convert_to_numpy=True)
    d = st.encode_document(texts(ws), convert_to_numpy=True)
    maxsim = np.array([[float((qi @ dj.T).max(axis=1).sum()) for dj in d] for qi in q])
    assert entry["metrics"]["ndcg@10"] == pytest.approx(ndcg10(maxsim), abs=1e-6)

    model = tmp_path / "colbert-pages"
    invoke("train", ws.mined, "--model", ws.multi, "--out", model, "--max-steps", "2", "--batch-size", "4",
           "--lr", "1e-3", "--matryoshka-dims", "none", "--no-progress")  # fmt: skip
    assert changed(ws.multi, model)
    MultiVectorEncoder(str(model), device="cpu")  # plain Sentence Transformers reloads it
    index = tmp_path / "index"
    invoke("index", ws.corpus, "--model", model, "--out", index, "--no-progress")
    results = json.loads(invoke("search", index, TOPIC_QUERIES[2], "--json", "-k", "3").stdout)["results"]
    assert len(results) == 3


def test_a_bare_masked_lm_folder_loads_dense_with_a_hint_to_pass_sparse(ws, caplog):
    from sentence_transformers import SparseEncoder

    from pagefit.models import load_model

    raw = ws.sparse.parent / f"{ws.sparse.name}-raw"
    with caplog.at_level("WARNING", logger="pagefit.models._loading"):
        dense = load_model(raw, device="cpu")
    assert type(dense).__name__ == "SentenceTransformer" and f"sparse:{raw}" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="pagefit.models._loading"):
        assert isinstance(load_model(f"sparse:{raw}", device="cpu"), SparseEncoder)
        load_model(ws.sparse, device="cpu")  # a saved SparseEncoder folder: detected, no hint
    assert "masked-LM" not in caplog.text
