"""`pagefit train`'s held-out metric: every page of the eval-split documents (or a given corpus), twins
relevant, checked against a reference computation; the best step is kept and a run that does not beat
the base model says so."""

from __future__ import annotations

import json
import math
from pathlib import Path

import datasets
import numpy as np
import pytest
from typer.testing import CliRunner

from pagefit.pairs import pairs
from test_pairs import _add_copy, make_corpus, topic_docs, write_jsonl


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))


def _ndcg10_single(scores: np.ndarray, relevant: set[int]) -> float:
    """NDCG@10 with binary relevance, by the textbook formula (ties: pages in index order)."""
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], j))[:10]
    dcg = sum(1 / math.log2(r + 2) for r, j in enumerate(order) if j in relevant)
    ideal = sum(1 / math.log2(r + 2) for r in range(min(10, len(relevant))))
    return dcg / ideal


@pytest.fixture
def pairs_dir(tmp_path) -> tuple[Path, Path]:
    corpus = make_corpus(tmp_path / "corpus", topic_docs())
    _add_copy(corpus, {"reports/harbor#p4": "reports/harbor#p1"})  # a twin inside one document
    # queries only on some pages: the held-out corpus must still hold every page of the eval documents
    rows = [
        {"query": "dredging budget of the harbor", "page_id": "reports/harbor#p2"},
        {"query": "container cranes", "page_id": "reports/harbor#p1"},
        {"query": "ferry routes", "page_id": "reports/harbor#p3"},
        {"query": "pruning cuts in the orchard", "page_id": "reports/orchard#p2"},
        {"query": "coolant pumps", "page_id": "manuals/reactor#p1"},
        {"query": "control rods", "page_id": "manuals/reactor#p2"},
        {"query": "late fees for books", "page_id": "policy/library#p1"},
        {"query": "reading rooms hours", "page_id": "policy/library#p3"},
    ]
    result = pairs(corpus, tmp_path / "pairs", queries=write_jsonl(tmp_path / "q.jsonl", rows), eval_fraction=0.4,
                   validation_fraction=0.4, seed=0, show_progress=False)  # fmt: skip
    assert "reports/harbor" in result.eval_docs  # the twin case is in the held-out split
    assert len(result.validation_docs) == 1 and result.validation_queries == 2
    return corpus, tmp_path / "pairs"


def test_heldout_task_is_every_page_of_the_eval_documents(pairs_dir):
    """The evaluator `train` uses: eval queries over every page of the eval-split documents (with or
    without queries), twins relevant; its NDCG@10 equals a reference computed here by hand."""
    from pagefit.models import load_model
    from pagefit.train.config import resolve_train_config
    from pagefit.train.data import build_evaluator, load_train_data

    corpus, folder = pairs_dir
    meta = json.loads((folder / "pagefit_pairs.json").read_text())
    table = datasets.load_from_disk(str(corpus / "pages"))
    eval_rows = [i for i, d in enumerate(table["doc_id"]) if d in set(meta["eval_docs"])]
    data = load_train_data(resolve_train_config(overrides={"data": str(folder)}))
    assert sorted(data.heldout.corpus) == sorted(table["page_id"][i] for i in eval_rows)
    assert "eval-split document" in data.heldout.description and data.heldout.twins_added == 1

    model = load_model("ocr-minilm")
    metrics = build_evaluator(data.eval, batch_size=8, heldout=data.heldout, name="check")(model)
    eval_queries = [json.loads(x) for x in (folder / "eval_queries.jsonl").read_text().splitlines()]
    ids, hashes = [table["page_id"][i] for i in eval_rows], [table["image_hash"][i] for i in eval_rows]
    q = model.encode_query([x["query"] for x in eval_queries], normalize_embeddings=True)
    p = model.encode_document([str(corpus / table["image"][i]) for i in eval_rows], normalize_embeddings=True)
    ndcgs = []
    for x, row in zip(eval_queries, q @ p.T, strict=True):
        wanted = {hashes[ids.index(pid)] for pid in x["page_ids"]}
        ndcgs.append(_ndcg10_single(row, {j for j, h in enumerate(hashes) if h in wanted}))
    assert metrics["check_cosine_ndcg@10"] == pytest.approx(float(np.mean(ndcgs)), abs=1e-4)

    # --eval-corpus: every page of the given corpus
    given = load_train_data(resolve_train_config(overrides={"data": str(folder), "eval_corpus": str(corpus)}))
    assert len(given.heldout.corpus) == len(table) and str(corpus) in given.heldout.description


def test_the_best_step_is_kept_and_no_gain_is_said_plainly(pairs_dir, tmp_path):
    """A destructive learning rate: every trained step is worse than the base model on the validation
    queries. Selection reads the validation split only; the run says so (console, summary, card), the saved
    model is the best trained step, and the eval split gives the reported before/after numbers."""
    from pagefit.cli import app
    from pagefit.models import load_model
    from pagefit.passages import PassageConfig
    from pagefit.train.config import resolve_train_config
    from pagefit.train.data import build_evaluator, load_train_data

    _, folder = pairs_dir
    out = tmp_path / "m"
    res = CliRunner().invoke(app, ["train", str(folder), "--out", str(out), "--max-steps", "3", "--batch-size", "4",
                                   "--lr", "0.02", "--eval-every", "1", "--set", "save_every=3", "--set", "warmup=0",
                                   "--set", "select_on=model", "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "train_summary.json").read_text())
    selection = summary["selection"]
    history = selection["history"]
    base = selection["validation_base"]["ndcg@10"]
    trained = [h for h in history if h["step"] > 0]
    assert [h["step"] for h in trained] == [1, 2, 3]
    best = max(reversed(trained), key=lambda h: h["ndcg@10"])  # on a tie the later step is kept
    assert best["ndcg@10"] < base  # the setting of this test: nothing beats the base model
    assert summary["improved"] is False and selection["selected_on"] == "validation ndcg@10"
    assert selection["selected_step"] == best["step"]
    assert selection["validation_selected"]["ndcg@10"] == pytest.approx(best["ndcg@10"], abs=1e-6)
    assert "no checkpoint beat the base model" in " ".join(res.output.split())
    card = (out / "README.md").read_text()
    assert "No checkpoint beat the base model" in card
    # the summary and the card say which pages each held-out metric searched
    data = load_train_data(resolve_train_config(overrides={"data": str(folder)}))
    n_pages, n_val = len(data.heldout.corpus), len(data.validation_heldout.corpus)
    assert (
        summary["data"]["eval_corpus"] == n_pages
        and "eval-split document" in summary["data"]["eval_corpus_source"]
    )
    assert summary["data"]["validation_corpus"] == n_val
    assert "validation-split document" in summary["data"]["validation_corpus_source"]
    assert not set(data.validation_heldout.corpus) & set(data.heldout.corpus)
    assert f"against {n_pages} pages" in card
    # ... and how it scored them: as `pagefit eval` scores this text-reading model (passages on), and fused
    scoring = summary["data"]["eval_scoring"]
    assert scoring.startswith("page vector x 0.5 + best 100-word passage") and "fused with BM25" in scoring
    assert f"scoring {scoring}" in card
    # the saved folder really is the selected step: evaluated afresh on the eval split it scores what the
    # summary reports as final (model alone and fused at the saved weight)
    fusion = json.loads((out / "pagefit_fusion.json").read_text())
    assert fusion == summary["fusion"] and "validation split" in fusion["tuned_on"]
    from pagefit.evaluation.fusion import FusionConfig

    evaluator = build_evaluator(data.eval, batch_size=8, heldout=data.heldout, name="check", passages=PassageConfig(),
                                fusion=FusionConfig.model_validate(fusion))  # fmt: skip
    again = evaluator(load_model(out, device="cpu"))
    final = summary["final_metrics"]
    assert again["check_cosine_ndcg@10"] == pytest.approx(final["ndcg@10"], abs=1e-4)
    assert again["check_hybrid_ndcg@10"] == pytest.approx(final["hybrid_ndcg@10"], abs=1e-4)
    assert {"ndcg@10", "hybrid_ndcg@10"} <= set(summary["base_metrics"])


def test_passages_follow_the_flag_and_the_model(ocr_minilm, tiny_clip_path, caplog):
    """Held-out passage scoring is on for a text-reading model unless --no-passages, off for one that
    reads pixels (with a warning when asked for)."""
    from pagefit.models import load_model
    from pagefit.train.config import resolve_train_config
    from pagefit.train.trainer import _heldout_passages

    def config(**kw):
        return resolve_train_config(overrides=kw)

    assert _heldout_passages(config(), ocr_minilm).weight == 0.5
    assert _heldout_passages(config(passage_weight=0.3), ocr_minilm).weight == 0.3
    assert _heldout_passages(config(passages=False), ocr_minilm) is None
    clip = load_model(str(tiny_clip_path), device="cpu")
    assert _heldout_passages(config(), clip) is None
    assert _heldout_passages(config(passages=True), clip) is None
    assert "reads page pixels" in caplog.text


def test_the_eval_split_is_reported_per_query_kind(tmp_path):
    """Per kind (question, heading, ...): the eval split's NDCG@10 of the model alone and fused with BM25, before
    and after training, each equal to a held-out evaluation over that kind's queries alone."""
    from dataclasses import replace

    from pagefit.evaluation.fusion import FusionConfig
    from pagefit.models import load_model
    from pagefit.passages import PassageConfig
    from pagefit.train import train
    from pagefit.train.config import resolve_train_config
    from pagefit.train.data import build_evaluator, load_train_data
    from test_pairs import TOPICS, make_corpus, topic_docs

    corpus = make_corpus(tmp_path / "corpus", topic_docs())
    pairs(
        corpus,
        tmp_path / "pairs",
        generate="text",
        per_page=4,
        eval_fraction=0.3,
        seed=1,
        show_progress=False,
    )
    result = train(data=str(tmp_path / "pairs"), output=str(tmp_path / "m"), max_steps=1, batch_size=4,
                   eval_every=1, save_every=1, show_progress=False)  # fmt: skip
    by_kind = result.summary["selection"]["eval_by_kind"]
    data = load_train_data(resolve_train_config(overrides={"data": str(tmp_path / "pairs")}))
    assert set(by_kind["final"]) == set(data.heldout.kinds.values()) and len(TOPICS) > 1
    fusion = FusionConfig.model_validate(result.summary["fusion"])
    # synthetic validation queries are made of page text: the weights are not tuned on them, the defaults are saved
    assert fusion == FusionConfig()
    for stage, model in (("base", load_model("ocr-minilm", device="cpu")), ("final", result.model)):
        for kind, numbers in by_kind[stage].items():
            ids = {q for q, k in data.heldout.kinds.items() if k == kind}
            only = replace(data.heldout, queries={q: t for q, t in data.heldout.queries.items() if q in ids},
                           relevant={q: r for q, r in data.heldout.relevant.items() if q in ids})  # fmt: skip
            check = build_evaluator(None, batch_size=8, heldout=only, name="k", passages=PassageConfig(),
                                    fusion=fusion if stage == "final" else FusionConfig())  # fmt: skip
            got = check(model)
            assert numbers["queries"] == len(ids)
            assert numbers["ndcg@10"] == pytest.approx(got["k_cosine_ndcg@10"], abs=1e-4)
            assert numbers["hybrid_ndcg@10"] == pytest.approx(got["k_hybrid_ndcg@10"], abs=1e-4)
