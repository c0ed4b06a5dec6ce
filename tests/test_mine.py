"""`pagefit mine`: hard negatives from the whole corpus, the margin, neighbours, duplicates, the cache,
the mined folder contract, and `pagefit train` reading the result."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from typer.testing import CliRunner

from pagefit.errors import PagefitError
from pagefit.mine import STATS_JSON, STATS_PNG, mine
from pagefit.pairs import PAIRS_META, load_pairs, pairs
from test_pairs import make_corpus, topic_docs


@pytest.fixture(scope="module")
def model():
    from pagefit.models import load_model

    return load_model("ocr-minilm")


@pytest.fixture
def corpus_and_pairs(tmp_path) -> tuple[Path, Path]:
    docs = topic_docs()
    docs["reports/harbor-2022"] = [t.replace("2023", "2022") for t in docs["reports/harbor"]]  # near-copies
    corpus = make_corpus(tmp_path / "corpus", docs)
    # eval_fraction 0.4: two documents in eval, so eval rows find negatives within their own split
    pairs(corpus, tmp_path / "pairs", generate="text", per_page=3, eval_fraction=0.4, show_progress=False)
    return corpus, tmp_path / "pairs"


def _scores(model, queries: list[str], images: list[str]) -> np.ndarray:
    """Query x page cosine similarities, computed directly with the model (no pagefit cache)."""
    q = model.encode_query(queries, normalize_embeddings=True, convert_to_numpy=True)
    p = model.encode_document(images, normalize_embeddings=True, convert_to_numpy=True)
    return q @ p.T


def test_mined_negatives_are_the_hardest_valid_pages(corpus_and_pairs, tmp_path, model):
    corpus, pairs_dir = corpus_and_pairs
    out = tmp_path / "mined"
    n, margin = 3, 0.05
    result = mine(pairs_dir, corpus, model, out, num_negatives=n, relative_margin=margin, exclude_neighbors=1,
                  show_progress=False)  # fmt: skip
    negs = [f"negative_{i}" for i in range(n)]
    dsd = datasets.load_from_disk(str(out))
    for split in dsd.values():
        assert split.column_names == [
            "query",
            "image",
            *negs,
            "page_id",
            "doc_id",
            *[f"{c}_page_id" for c in negs],
        ]
    assert result.rows["eval"] > 0 and sum(result.rows.values()) + sum(result.dropped.values()) == sum(
        len(s) for s in datasets.load_from_disk(str(pairs_dir)).values()
    )

    from pagefit.corpus import corpus_image_paths, load_corpus

    table = load_corpus(corpus)
    paths = corpus_image_paths(corpus, table)
    page_of = dict(
        zip(table["page_id"], zip(table["doc_id"], table["page_number"], strict=True), strict=True)
    )
    mined = load_pairs(out)
    split_docs = {
        s: set(json.loads((pairs_dir / PAIRS_META).read_text())[f"{s}_docs"])
        for s in ("train", "validation", "eval")
    }
    assert split_docs["train"] and split_docs["eval"] and not split_docs["train"] & split_docs["eval"]
    assert not split_docs["validation"] & (split_docs["train"] | split_docs["eval"])
    for name, split in mined.items():
        if not len(split):  # e.g. the validation document is too short for 3 negatives beyond +-1 page
            continue
        scores = _scores(model, split["query"], paths)
        for i, row in enumerate(split):
            pos = paths.index(row["image"])
            neg_ids = [row[f"{c}_page_id"] for c in negs]
            assert [row[c] for c in negs] == [paths[table["page_id"].index(p)] for p in neg_ids]
            assert row["page_id"] not in neg_ids and len(set(neg_ids)) == n
            doc, number = page_of[row["page_id"]]
            # Valid negatives: pages of the row's own split, not the positive, not within +-1 page of it,
            # at most pos - |pos| * margin.
            threshold = scores[i, pos] - abs(scores[i, pos]) * margin
            valid = [
                j for j, pid in enumerate(table["page_id"])
                if page_of[pid][0] in split_docs[name]
                and pid != row["page_id"] and not (page_of[pid][0] == doc and abs(page_of[pid][1] - number) <= 1)
                and scores[i, j] <= threshold + 1e-5
            ]  # fmt: skip
            assert all(page_of[p][0] in split_docs[name] for p in neg_ids)
            best = sorted(valid, key=lambda j: -scores[i, j])[:n]
            assert all(scores[i, paths.index(row[c])] <= threshold + 1e-5 for c in negs)
            assert sorted(scores[i, best]) == pytest.approx(
                sorted(scores[i, [paths.index(row[c]) for c in negs]]), abs=1e-4
            )

    stats = json.loads((out / STATS_JSON).read_text())
    assert stats["stats"]["train"]["positive"]["count"] == result.rows["train"]
    assert stats["stats"]["train"]["negative"]["count"] == n * result.rows["train"]
    assert stats["stats"]["train"]["difference"]["min"] >= 0
    assert (out / STATS_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((out / PAIRS_META).read_text())
    assert meta["kind"] == "mined" and meta["corpus"] == str(corpus.resolve())
    assert meta["mine"]["config"]["exclude_neighbors"] == 1
    assert (out / "eval_queries.jsonl").read_text() == (pairs_dir / "eval_queries.jsonl").read_text()


def test_duplicate_pages_are_never_negatives(tmp_path, model):
    corpus = make_corpus(tmp_path / "corpus", topic_docs())
    # The same page in a second document (a report that repeats a page): another file, same pixels and hash.
    import shutil

    table = datasets.load_from_disk(str(corpus / "pages"))
    row = {k: [v] for k, v in table[0].items()}
    shutil.copy(corpus / row["image"][0], corpus / "images" / "copy.png")
    row["page_id"], row["doc_id"], row["source"] = (
        ["copies/harbor#p1"],
        ["copies/harbor"],
        ["copies/harbor.pdf"],
    )
    row["image"] = ["images/copy.png"]
    datasets.concatenate_datasets(
        [table, datasets.Dataset.from_dict(row, features=table.features)]
    ).save_to_disk(str(tmp_path / "pages2"))
    shutil.rmtree(corpus / "pages")
    (tmp_path / "pages2").rename(corpus / "pages")
    queries = [{"query": "container cranes budget", "page_id": "reports/harbor#p1"},
               {"query": "apple scab office", "page_id": "reports/orchard#p1"},
               # two relevant pages: the twin of either is a twin of a positive of this query
               {"query": "cranes and apple scab", "page_ids": ["reports/harbor#p1", "reports/orchard#p1"]}]  # fmt: skip
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    # one split, so that every page of the corpus is a candidate for every row
    pairs(corpus, tmp_path / "pairs", queries=tmp_path / "q.jsonl", eval_fraction=0, show_progress=False)
    mine(
        tmp_path / "pairs",
        None,
        model,
        tmp_path / "mined",
        num_negatives=4,
        relative_margin=None,
        show_progress=False,
    )
    mined = datasets.load_from_disk(str(tmp_path / "mined"))
    rows = [r for s in mined.values() for r in s]
    assert len(rows) == 4
    negatives = {(r["query"], r["page_id"]): {r[f"negative_{i}_page_id"] for i in range(4)} for r in rows}
    assert "copies/harbor#p1" not in negatives[("container cranes budget", "reports/harbor#p1")]
    for pid in ("reports/harbor#p1", "reports/orchard#p1"):  # never the other positive, nor its twin
        assert not negatives[("cranes and apple scab", pid)] & {"copies/harbor#p1", "reports/harbor#p1",
                                                               "reports/orchard#p1"}  # fmt: skip


def test_rows_without_enough_negatives_are_dropped_and_reported(corpus_and_pairs, tmp_path, model):
    corpus, pairs_dir = corpus_and_pairs
    n_pages = len(datasets.load_from_disk(str(corpus / "pages")))
    with pytest.raises(PagefitError, match="no training pair has"):
        mine(pairs_dir, corpus, model, tmp_path / "none", num_negatives=n_pages, show_progress=False)
    # A strict margin leaves some pairs short of negatives: they go, and the count says so.
    result = mine(pairs_dir, corpus, model, tmp_path / "mined", num_negatives=3, range_max=6, relative_margin=0.3,
                  exclude_neighbors=2, show_progress=False)  # fmt: skip
    assert sum(result.dropped.values()) > 0
    total = sum(len(s) for s in datasets.load_from_disk(str(pairs_dir)).values())
    assert sum(result.rows.values()) + sum(result.dropped.values()) == total


def test_page_embeddings_come_from_the_cache(corpus_and_pairs, tmp_path, model):
    corpus, pairs_dir = corpus_and_pairs
    mine(pairs_dir, corpus, model, tmp_path / "m1", num_negatives=2, show_progress=False)
    calls = []
    original = model.encode_document

    def counting(inputs, *args, **kwargs):
        calls.append(len(inputs))
        return original(inputs, *args, **kwargs)

    model.encode_document = counting
    try:
        mine(pairs_dir, corpus, model, tmp_path / "m2", num_negatives=2, show_progress=False)
    finally:
        del model.encode_document
    assert calls == []  # every page embedding was read from the cache
    first, second = (datasets.load_from_disk(str(tmp_path / m)) for m in ("m1", "m2"))
    assert first["train"].to_dict() == second["train"].to_dict()


def test_cli_mine_and_train_accepts_the_result(corpus_and_pairs, tmp_path):
    from pagefit.cli import app

    corpus, pairs_dir = corpus_and_pairs
    out = tmp_path / "mined"
    res = CliRunner().invoke(app, ["mine", str(pairs_dir), "--corpus", str(corpus), "--model", "ocr-minilm",
                                   "--num-negatives", "2", "--exclude-neighbors", "1", "--out", str(out),
                                   "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "positive" in res.output and "mining_stats.json" in res.output
    assert load_pairs(out)["train"].column_names[:4] == ["query", "image", "negative_0", "negative_1"]

    from pagefit.train import train

    result = train(preset="ocr-minilm", data=str(out), output=str(tmp_path / "model"), max_steps=1, batch_size=4,
                   max_eval_samples=4)  # fmt: skip
    assert (tmp_path / "model" / "train_summary.json").is_file()
    data = result.summary["data"]
    assert data["train_rows"] == len(load_pairs(out)["train"]) and 1 <= data["train_negatives"] <= 2
    assert data["eval_negatives"] == 2  # the evaluator's corpus holds the eval split's negatives
