"""`pagefit eval` end to end: the CLI, agreement with Sentence Transformers, encode-once, BM25, rerankers."""

from __future__ import annotations

import itertools
import json
import logging
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

import pagefit.cli
from _reference import bootstrap_ci_reference, sign_flip_p_value  # tests/ is on sys.path (conftest)
from _tiny_models import QWEN3VL_IMAGE_SIZE
from pagefit._io import image_key
from pagefit.evaluation import Report, evaluate
from pagefit.ocr import PageTextCache

WORDS = ["harbor", "orchard", "reactor", "library", "invoice", "budget", "turbine", "glacier", "violin", "pepper",
         "lantern", "copper", "falcon", "marble", "quartz", "saffron", "tundra", "walnut", "zephyr", "cobalt"]  # fmt: skip
DOCS, PAGES_PER_DOC = 4, 5
DESIGN_METRICS = ["ndcg@10", "ndcg@5", "map@100", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100"]


# ----------------------------------------------------------------------------------------------
# The report schema exactly as ../shared/DESIGN.md writes it (independent of pagefit's own models)
# ----------------------------------------------------------------------------------------------


class DesignVsFirst(BaseModel):
    model_config = ConfigDict(extra="allow")
    ndcg_at_10_diff: float = Field(alias="ndcg@10_diff")
    ci95: tuple[float, float]
    p_value: float = Field(ge=0, le=1)


class DesignModel(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    model: str
    params: int | None
    metrics: dict[str, float]
    by_dim: dict[str, dict[str, float]]
    vs_first: DesignVsFirst | None


class DesignReport(BaseModel):
    model_config = ConfigDict(extra="allow")
    corpus: str
    queries: int
    models: list[DesignModel]
    per_query: dict


def validate_design(report_json: Path) -> DesignReport:
    raw = json.loads(report_json.read_text())
    report = DesignReport.model_validate(raw)
    for entry in report.models:
        assert set(DESIGN_METRICS) <= set(entry.metrics), entry.name
        assert all(0.0 <= v <= 1.0 for v in entry.metrics.values())
    assert report.models[0].vs_first is None and all(m.vs_first for m in report.models[1:])
    Report.model_validate(raw)  # and pagefit's own, stricter model
    return report


# ----------------------------------------------------------------------------------------------
# A small corpus (as `pagefit ingest` lays it out), queries and tiny models, built once per module
# ----------------------------------------------------------------------------------------------


SHARED = {(0, 1), (1, 1)}  # the two pages relevant to the query "zebra"


def _page_text(doc: int, page: int) -> str:
    i = doc * PAGES_PER_DOC + page
    extra = " zebra" if (doc, page) in SHARED else ""
    return f"{WORDS[doc]} section {page}: {WORDS[(i * 7) % len(WORDS)]} ref{doc}{page}x figures{extra}"


def _build_corpus(root: Path, text_cache: PageTextCache) -> list[dict]:
    import datasets
    from PIL import Image, ImageDraw

    rows = []
    for doc in range(DOCS):
        for page in range(1, PAGES_PER_DOC + 1):
            text = _page_text(doc, page)
            image = Image.new("RGB", (160, 200), (255 - 20 * doc, 255 - 15 * page, 235))
            draw = ImageDraw.Draw(image)
            for line in range(4):
                draw.text((8, 20 + 40 * line), text[line * 15 : (line + 1) * 15], fill=(0, 0, 0))
            rel = f"images/doc{doc}/p{page}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            image.save(root / rel)
            key = image_key(image)
            text_cache.put(key, text, "pdf")  # as ingest does: ocr-minilm reads it instead of running OCR
            rows.append(
                {
                    "page_id": f"doc{doc}#p{page}",
                    "doc_id": f"doc{doc}",
                    "source": f"doc{doc}.pdf",
                    "page_number": page,
                    "image": rel,
                    "width": 160,
                    "height": 200,
                    "text": text,
                    "text_source": "pdf",
                    "image_hash": key,
                }
            )
    datasets.Dataset.from_list(rows).save_to_disk(str(root / "pages"))
    (root / "manifest.json").write_text("{}")
    return rows


def _write_queries(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_clip_source) -> SimpleNamespace:
    """The corpus, its queries (with kinds, one with two relevant pages) and the (read-only) tiny CLIP."""
    root = tmp_path_factory.mktemp("eval")
    rows = _build_corpus(root / "corpus", PageTextCache())  # the session's text cache
    queries = [
        {
            "query_id": f"q{i}",
            "query": row["text"].split(": ")[1],
            "page_id": row["page_id"],
            "kind": "table" if i % 2 else "prose",
        }
        for i, row in enumerate(rows[::2])
    ]
    queries.append({"query_id": "both", "query": "zebra", "page_ids": ["doc0#p1", "doc1#p1"]})
    return SimpleNamespace(
        corpus=root / "corpus",
        rows=rows,
        queries=_write_queries(root / "queries.jsonl", queries),
        clip=tiny_clip_source,
    )


def _cli(args: list[str]):
    return CliRunner().invoke(pagefit.cli.app, ["eval", "--no-progress", *map(str, args)])


# ----------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------


def test_cli_on_an_ingested_corpus_writes_the_report(
    sample_corpus, sample_queries, tiny_clip_source, tmp_path
):
    out = tmp_path / "report"
    args = ["--corpus", sample_corpus, "--queries", sample_queries, "--out", out]
    models = ["--model", "ocr-minilm", "--model", f"clip={tiny_clip_source}", "--bm25", "--dims", "128,32"]
    result = _cli([*args, *models])
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.output and "report.html" in result.output

    report = validate_design(out / "report.json")
    report_model = Report.model_validate_json((out / "report.json").read_text())
    assert [m.name for m in report.models] == ["ocr-minilm", "clip", "bm25"]
    assert report.queries == len(sample_queries.read_text().splitlines())
    minilm, clip, bm25 = report.models
    assert (minilm.model, clip.model, bm25.model) == ("ocr-minilm", str(tiny_clip_source), "bm25")
    assert set(minilm.by_dim) == {"128", "32"} and set(clip.by_dim) == {"32"} and bm25.by_dim == {}
    assert minilm.params > clip.params > 0 and bm25.params is None
    # The comparison, recomputed from the report's own per-query scores with scipy / exact enumeration.
    diffs = np.array(
        [r.results["clip"].metrics["ndcg@10"] - r.results["ocr-minilm"].metrics["ndcg@10"]
         for r in report_model.per_query.values()]
    )  # fmt: skip
    assert clip.vs_first.ndcg_at_10_diff == pytest.approx(diffs.mean())
    if diffs.any():
        assert clip.vs_first.ci95 == pytest.approx(bootstrap_ci_reference(diffs), abs=0.03)
        assert clip.vs_first.p_value == pytest.approx(sign_flip_p_value(diffs), abs=0.02)
    kinds = {json.loads(line).get("kind") for line in sample_queries.read_text().splitlines()} - {None}
    assert set(Report.model_validate_json((out / "report.json").read_text()).model("bm25").per_kind) == kinds

    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4  # size, dims, wins/losses, NDCG@10 vs bytes per page
    assert "data:image/jpeg;base64," in html  # page thumbnails
    assert not re.findall(r'(?:src|href)="(?!data:)', html)  # self-contained
    md = (out / "report.md").read_text()
    assert "| clip |" in md and "Matryoshka" in md and "By query kind" in md


def test_metrics_agree_with_information_retrieval_evaluator_and_truncate_dim(ws):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from pagefit.models import load_model
    from pagefit.queries import read_queries

    sweep = evaluate(ws.corpus, ws.queries, [ws.clip], dims=[16], show_progress=False).models[0]
    truncated = evaluate(
        ws.corpus, ws.queries, {"t16": load_model(ws.clip, truncate_dim=16)}, show_progress=False
    ).models[0]
    assert truncated.dim == 16
    assert sweep.by_dim["16"] == pytest.approx(truncated.metrics, abs=1e-12)

    queries = read_queries(ws.queries)
    pages = {row["page_id"]: str(ws.corpus / row["image"]) for row in ws.rows}
    for dim, ours in ((None, sweep.metrics), (16, sweep.by_dim["16"])):
        evaluator = InformationRetrievalEvaluator(
            queries={q.query_id: q.query for q in queries},
            corpus=pages,
            relevant_docs={q.query_id: set(q.page_ids) for q in queries},
            ndcg_at_k=[1, 5, 10],
            mrr_at_k=[10],
            map_at_k=[100],
            precision_recall_at_k=[1, 5, 10, 100],
            accuracy_at_k=[1],
            truncate_dim=dim,
        )
        theirs = evaluator(load_model(ws.clip))
        for name, value in ours.items():
            assert value == pytest.approx(theirs[f"cosine_{name}"], abs=1e-6), (dim, name)


def test_each_page_is_encoded_once_across_a_sweep_and_a_second_eval(ws, tmp_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "fresh-cache"))
    encoded: list[str] = []
    original = SentenceTransformer.encode_document

    def counting(self, inputs, *args, **kwargs):
        encoded.extend(inputs if isinstance(inputs, list) else [inputs])
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode_document", counting)
    first = evaluate(ws.corpus, ws.queries, [ws.clip], dims=[16, 8, 4, 2], show_progress=False)
    assert len(encoded) == len(ws.rows) and len(set(map(str, encoded))) == len(ws.rows)
    second = evaluate(ws.corpus, ws.queries, [ws.clip], dims=[16, 8, 4, 2], show_progress=False)
    assert len(encoded) == len(ws.rows), "the second eval encoded pages again"
    assert second.models[0].metrics == first.models[0].metrics
    assert second.models[0].by_dim == first.models[0].by_dim and set(first.models[0].by_dim) == {
        "16",
        "8",
        "4",
        "2",
    }


def test_bm25_alone_matches_bm25s(ws):
    import bm25s

    report = evaluate(ws.corpus, ws.queries, [], bm25=True, show_progress=False)
    assert [m.name for m in report.models] == ["bm25"]
    # Each query names its page's rare words: BM25 over the page text finds every one first.
    assert report.models[0].metrics["mrr@10"] == 1.0
    assert set(report.per_query["both"].results["bm25"].top[:2]) == {"doc0#p1", "doc1#p1"}
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize([r["text"] for r in ws.rows], stopwords="en", show_progress=False), show_progress=False
    )
    for qid, record in report.per_query.items():
        docs, scores = retriever.retrieve(
            bm25s.tokenize([record.query], stopwords="en", show_progress=False), k=3
        )
        if scores[0, 0] > scores[0, 1]:  # no tie at the top: the same first page
            assert record.results["bm25"].top[0] == ws.rows[int(docs[0, 0])]["page_id"], qid


def test_report_records_the_bm25_settings(ws, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(
        pagefit.cli.app,
        ["eval", "--corpus", str(ws.corpus), "--queries", str(ws.queries), "--bm25", "--language", "de",
         "--out", str(out), "--resamples", "100", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "report.json").read_text())["models"][0]
    settings = entry["settings"]
    assert {k: settings[k] for k in ("method", "k1", "b", "stemmer", "stopwords", "language")} == {
        "method": "lucene", "k1": 1.5, "b": 0.75, "stemmer": "german", "stopwords": "de", "language": "de",
    }  # fmt: skip
    assert json.loads((out / "report.json").read_text())["settings"]["language"] == "de"
    markdown = (out / "report.md").read_text()
    assert "k1 `1.5`" in markdown and "b `0.75`" in markdown and "stemmer `german`" in markdown


def _tiny_image_reranker(base: Path, out: Path) -> Path:
    from sentence_transformers import CrossEncoder
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.cross_encoder.modules.logit_score import LogitScore

    transformer = Transformer(
        str(base), transformer_task="any-to-any", processor_kwargs={"size": QWEN3VL_IMAGE_SIZE}
    )
    tokens = transformer.tokenizer.convert_tokens_to_ids(["1", "0"])
    CrossEncoder(modules=[transformer, LogitScore(*tokens)]).save(str(out))
    return out


def test_reranker_reorders_each_top_k_with_page_images(ws, tmp_path, tiny_qwen3vl_base_source):
    from PIL import Image
    from sentence_transformers import CrossEncoder

    reranker = _tiny_image_reranker(tiny_qwen3vl_base_source, tmp_path / "reranker")
    out = tmp_path / "report"
    result = _cli(
        [
            *("--corpus", ws.corpus, "--queries", ws.queries, "--model", ws.clip, "--bm25"),
            *("--reranker", reranker, "--rerank-top-k", "4", "--out", out),
        ]
    )
    assert result.exit_code == 0, result.output
    report = Report.model_validate_json((out / "report.json").read_text())
    validate_design(out / "report.json")
    assert [m.name for m in report.models] == ["clip", "clip+rerank", "bm25", "bm25+rerank"]
    entry = report.model("clip+rerank")
    assert entry.reranks == "clip" and entry.params > report.model("clip").params
    ce = CrossEncoder(str(reranker))
    changed = 0
    for record in report.per_query.values():
        before, after = record.results["clip"].top, record.results["clip+rerank"].top
        assert set(after[:4]) == set(before[:4]) and after[4:] == before[4:]
        images = []
        for page_id in before[:4]:
            with Image.open(
                ws.corpus / next(r["image"] for r in ws.rows if r["page_id"] == page_id)
            ) as image:
                images.append(image.convert("RGB"))
        score = dict(zip(before[:4], ce.predict([(record.query, image) for image in images]), strict=True))
        assert all(score[a] >= score[b] - 1e-5 for a, b in itertools.pairwise(after[:4])), record.query
        changed += after != before
    assert changed, "the reranker never changed an order"


def test_text_only_reranker_reads_page_text(ws, caplog, tmp_path):
    from sentence_transformers import CrossEncoder

    from _tiny_models import _write_bert_checkpoint

    _write_bert_checkpoint(tmp_path / "bert", seed=0)
    reranker = CrossEncoder(str(tmp_path / "bert"), num_labels=1)  # a tiny BERT with a fresh score head
    with caplog.at_level(logging.WARNING, logger="pagefit.evaluation"):
        report = evaluate(
            ws.corpus, ws.queries, [], bm25=True, reranker=reranker, rerank_top_k=3, show_progress=False
        )
    assert "reranks on the corpus page text" in caplog.text
    assert [m.name for m in report.models] == ["bm25", "bm25+rerank"]
    assert report.model("bm25+rerank").vs_first is not None


def _main(monkeypatch, capsys, args: list) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["pagefit", "eval", "--no-progress", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        pagefit.cli.main()
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown", "2 page id(s) not in the corpus: doc0#p99, nowhere#p1"),
        ("empty", "is empty"),
        ("duplicate", "duplicate query_id 'q1'"),
    ],
)
def test_cli_errors_are_one_clear_line(ws, tmp_path, monkeypatch, capsys, case: str, message: str):
    records = {
        "unknown": [
            {"query": "a", "page_id": "doc0#p99"},
            {"query": "b", "page_ids": ["doc0#p1", "nowhere#p1"]},
        ],
        "empty": [],
        "duplicate": [{"query_id": "q1", "query": "a", "page_id": "doc0#p1"}] * 2,
    }[case]
    queries = _write_queries(tmp_path / "queries.jsonl", records)
    model = ws.clip
    code, err = _main(
        monkeypatch,
        capsys,
        ["--corpus", ws.corpus, "--queries", queries, "--model", model, "--out", tmp_path / "r"],
    )
    assert code == 1
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r" / "report.json").exists()


def test_settings_are_checked_before_any_work(ws):
    from pagefit.errors import PagefitError

    with pytest.raises(PagefitError, match="rerank_top_k"):
        evaluate(ws.corpus, ws.queries, [ws.clip], reranker="any", rerank_top_k=500)
    with pytest.raises(PagefitError, match="nothing to evaluate"):
        evaluate(ws.corpus, ws.queries, [])


def test_cli_parses_dims_and_model_names(ws, tmp_path):
    from pagefit.cli.eval import _parse_dims, _parse_models
    from pagefit.errors import PagefitError

    assert _parse_dims("512, 256,64") == [512, 256, 64] and _parse_dims(None) == []
    with pytest.raises(PagefitError, match="--dims"):
        _parse_dims("512,abc")
    assert _parse_models(["base=ocr-minilm", str(ws.clip), "org/model"]) == [
        ("base", "ocr-minilm"),
        str(ws.clip),
        "org/model",
    ]


def test_report_does_not_depend_on_corpus_order_and_breaks_ties_by_page_id(ws, tmp_path):
    """A shuffled corpus with a duplicate page (tied scores) ranks exactly like the original."""
    import shutil

    import datasets

    shuffled = tmp_path / "shuffled"
    shutil.copytree(ws.corpus / "images", shuffled / "images")
    duplicate = {**ws.rows[0], "page_id": "aaa-copy#p1", "doc_id": "aaa-copy"}
    rows = [*reversed(ws.rows), duplicate]
    datasets.Dataset.from_list(rows).save_to_disk(str(shuffled / "pages"))
    original = evaluate(ws.corpus, ws.queries, [ws.clip], show_progress=False)
    other = evaluate(shuffled, ws.queries, [ws.clip], show_progress=False)
    for qid, record in original.per_query.items():
        top = other.per_query[qid].results["clip"].top
        assert [p for p in top if p != "aaa-copy#p1"] == record.results["clip"].top[
            : len(top) - ("aaa-copy#p1" in top)
        ]
        if (
            "doc0#p1" in top and "aaa-copy#p1" in top
        ):  # identical pages: the smaller id first, next to each other
            assert top.index("aaa-copy#p1") + 1 == top.index("doc0#p1")
