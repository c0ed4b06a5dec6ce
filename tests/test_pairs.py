"""`pagefit pairs`: every queries format, unknown pages, synthetic queries, the split, the folder contract."""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from pathlib import Path

import datasets
import pytest

from pagefit.errors import PagefitError
from pagefit.pairs import DROPPED, EVAL_QUERIES, PAIRS_META, load_pairs, pairs, split_by_document
from pagefit.queries import Query, read_queries

# Topics of a small multi-document corpus: every page has a heading, prose with numbers, a responsible
# office and a table, so the text generator has material for every kind of query.
TOPICS = {
    "reports/harbor": ["container cranes", "dredging budget", "ferry routes"],
    "reports/orchard": ["apple scab", "pruning cuts", "pollinator hives"],
    "manuals/reactor": ["coolant pumps", "control rods", "radiation badges"],
    "policy/library": ["late fees", "rare manuscripts", "reading rooms"],
}
TITLES = {
    "reports/harbor": "Harbor Authority",
    "reports/orchard": "Orchard Trust",
    "manuals/reactor": "Reactor Operations",
    "policy/library": "City Library",
}


def page_text(doc: str, topic: str, n: int) -> str:
    """A page in the style of a text layer: running header, numbered heading, prose, a table."""
    title = TITLES[doc]
    return "\n".join([
        f"{title} Annual Report 2023 Page {n} of 3",
        f"{n}. {topic.title()}",
        f"The {topic} budget rose to {17 * n + len(topic)} units in 2023, driven by new equipment.",
        f"The {topic.split()[0]} office in room {100 + n} is responsible for {topic}.",
        f"Table {n}. {topic.capitalize()} by site, 2023",
        "Site 2022 2023",
        f"North {n + 3} {n + 5}",
        f"South {n + 7} {n + 2}",
        f"{title} | 2023",
    ])  # fmt: skip


def make_corpus(root: Path, docs: dict[str, list[str]], *, size: tuple[int, int] = (160, 200)) -> Path:
    """Write a corpus folder in the corpus layout of docs/formats.md for `docs` = {doc_id: [page text, ...]}.

    Page text also goes into the OCR text cache under the image hash, as `pagefit ingest` does, so the
    `ocr-minilm` model reads it without running OCR.
    """
    from PIL import Image, ImageDraw

    from pagefit._io import image_key
    from pagefit.corpus import CORPUS_COLUMNS
    from pagefit.ocr import PageTextCache

    (root / "images").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list] = {c: [] for c in CORPUS_COLUMNS}
    cache = PageTextCache()
    for doc, texts in docs.items():
        for n, text in enumerate(texts, 1):
            image = Image.new("RGB", size, "white")
            draw = ImageDraw.Draw(image)
            for i, line in enumerate(text.splitlines()[:16]):
                draw.text((4, 4 + 11 * i), line[:30], fill="black")
            draw.text((4, size[1] - 12), f"{doc} {n}", fill="gray")
            rel = f"images/{doc.replace('/', '__')}-p{n}.png"
            image.save(root / rel)
            key = image_key(Image.open(root / rel).convert("RGB"))
            cache.put(key, text, "pdf")
            values = [f"{doc}#p{n}", doc, f"{doc}.pdf", n, rel, size[0], size[1], text, "pdf", key]
            for col, value in zip(CORPUS_COLUMNS, values, strict=True):
                rows[col].append(value)
    datasets.Dataset.from_dict(rows).save_to_disk(str(root / "pages"))
    (root / "manifest.json").write_text(
        json.dumps({"pagefit_version": "test", "counts": {"pages": len(rows["page_id"])}})
    )
    (root / "rejects.jsonl").write_text("")
    return root


def topic_docs() -> dict[str, list[str]]:
    return {doc: [page_text(doc, t, n) for n, t in enumerate(topics, 1)] for doc, topics in TOPICS.items()}


@pytest.fixture
def corpus(tmp_path) -> Path:
    return make_corpus(tmp_path / "corpus", topic_docs())


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_table(path: Path, rows: list[dict], delimiter: str) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


USER_QUERIES = [
    {"query": "which cranes handle containers", "page_id": "reports/harbor#p1"},
    {"query": "ferry timetable", "page_id": "reports/harbor#p3"},
    {"query": "fungus on apple leaves", "page_id": "reports/orchard#p1"},
    {"query": "bee hives in the orchard", "page_id": "reports/orchard#p3"},
    {"query": "pump maintenance", "page_id": "manuals/reactor#p1"},
    {"query": "fines for returning books late", "page_id": "policy/library#p1"},
]


# ---------------------------------------------------------------------------------------------
# User queries: every format
# ---------------------------------------------------------------------------------------------


def _pairs_of(out: Path) -> dict[str, set[str]]:
    dsd = datasets.load_from_disk(str(out))
    found: dict[str, set[str]] = {}
    for split in dsd.values():
        for q, pid in zip(split["query"], split["page_id"], strict=True):
            found.setdefault(q, set()).add(pid)
    return found


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_user_queries_every_format(corpus, tmp_path, fmt):
    path = tmp_path / f"queries.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, USER_QUERIES)
    else:
        write_table(path, USER_QUERIES, "," if fmt == "csv" else "\t")
    result = pairs(corpus, tmp_path / "pairs", queries=path, eval_fraction=0.25, show_progress=False)
    assert _pairs_of(tmp_path / "pairs") == {q["query"]: {q["page_id"]} for q in USER_QUERIES}
    assert result.train_queries + result.validation_queries + result.eval_queries == len(USER_QUERIES)
    assert result.kinds == {"user": len(USER_QUERIES)}


def test_several_relevant_pages_become_one_row_each(corpus, tmp_path):
    rows = [
        *USER_QUERIES,
        {"query": "annual budget rises", "page_ids": ["reports/harbor#p2", "reports/harbor#p3"]},
    ]
    write_jsonl(tmp_path / "q.jsonl", rows)
    pairs(corpus, tmp_path / "pairs", queries=tmp_path / "q.jsonl", eval_fraction=0.25, show_progress=False)
    assert _pairs_of(tmp_path / "pairs")["annual budget rises"] == {"reports/harbor#p2", "reports/harbor#p3"}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_queries_by_source_file_and_page_number(corpus, tmp_path, fmt):
    rows = [
        {"query": "cranes for containers", "source": "reports/harbor.pdf", "page_number": 1},
        {"query": "ferry timetable", "file": "harbor.pdf", "page": 3},  # unique file name is enough
        {"query": "apple fungus", "source": "reports/orchard", "page_number": 1},  # doc id works too
        {"query": "pump maintenance", "page_id": "manuals/reactor#p1"},  # mixed with page ids
    ]
    path = tmp_path / f"q.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, rows)
    else:
        fields = ["query", "source", "file", "page_number", "page", "page_id"]
        write_table(path, [{k: r.get(k, "") for k in fields} for r in rows], ",")
    pairs(corpus, tmp_path / "pairs", queries=path, eval_fraction=0.3, show_progress=False)
    assert _pairs_of(tmp_path / "pairs") == {
        "cranes for containers": {"reports/harbor#p1"},
        "ferry timetable": {"reports/harbor#p3"},
        "apple fungus": {"reports/orchard#p1"},
        "pump maintenance": {"manuals/reactor#p1"},
    }


def test_unknown_page_ids_are_listed(corpus, tmp_path):
    rows = [
        *USER_QUERIES,
        {"query": "x y", "page_id": "reports/harbor#p9"},
        {"query": "z w", "page_id": "nope"},
    ]
    write_jsonl(tmp_path / "q.jsonl", rows)
    with pytest.raises(PagefitError, match=r"2 page id\(s\) not in the corpus: nope, reports/harbor#p9"):
        pairs(corpus, tmp_path / "pairs", queries=tmp_path / "q.jsonl", show_progress=False)
    assert not (tmp_path / "pairs").exists()


def test_unknown_source_pages_are_listed(corpus, tmp_path):
    rows = [
        {"query": "a b", "source": "reports/harbor.pdf", "page_number": 7},
        {"query": "c d", "source": "missing.pdf", "page_number": 1},
        {"query": "e f", "source": "reports/harbor.pdf", "page_number": 1},
    ]
    write_jsonl(tmp_path / "q.jsonl", rows)
    with pytest.raises(PagefitError) as err:
        pairs(corpus, tmp_path / "pairs", queries=tmp_path / "q.jsonl", show_progress=False)
    assert "2 record(s)" in str(err.value)
    assert "reports/harbor.pdf page 7 (line 1)" in str(err.value)
    assert "missing.pdf page 1 (line 2)" in str(err.value)


# ---------------------------------------------------------------------------------------------
# Synthetic queries and the folder contract
# ---------------------------------------------------------------------------------------------


def test_text_generator_pairs_folder_contract(corpus, tmp_path):
    out = tmp_path / "pairs"
    result = pairs(corpus, out, generate="text", per_page=4, eval_fraction=0.25, seed=3, show_progress=False)
    dsd = datasets.load_from_disk(str(out))
    assert list(dsd) == ["train", "validation", "eval"]
    for split in dsd.values():
        assert split.column_names == ["query", "image", "page_id", "doc_id"]
        assert all(not Path(p).is_absolute() and (corpus / p).is_file() for p in split["image"])
    # Whole documents per split, at least one in each, and the eval share close to the fraction.
    docs = {s: set(dsd[s]["doc_id"]) for s in dsd}
    assert not docs["train"] & docs["eval"] and not docs["train"] & docs["validation"]
    assert not docs["validation"] & docs["eval"]
    assert set(result.train_docs) | set(result.validation_docs) | set(result.eval_docs) == set(TOPICS)
    assert len(result.eval_docs) == 1 and len(result.validation_docs) == 1
    # Several kinds per page, recorded with each query, at most per_page per page (and up to 4 spans).
    assert result.pages_with_queries == 12 and 3 + 1 <= result.queries_per_page <= 4 + 4
    assert len(result.kinds) >= 5 and result.kinds["span"] > 0
    all_queries = [json.loads(x) for x in (out / "queries.jsonl").read_text().splitlines()]
    per_page = Counter((q["page_ids"][0], q["kind"] == "span") for q in all_queries)
    assert max(per_page.values()) <= 4
    assert {q["split"] for q in all_queries} == {"train", "validation", "eval"}
    assert all(q["kind"] in result.kinds for q in all_queries)
    # eval_queries.jsonl: the eval split in the queries format.
    eval_queries = read_queries(out / EVAL_QUERIES)
    assert {q.query for q in eval_queries} == set(dsd["eval"]["query"])
    assert {p for q in eval_queries for p in q.page_ids} == set(dsd["eval"]["page_id"])
    meta = json.loads((out / PAIRS_META).read_text())
    assert meta["corpus"] == str(corpus.resolve())
    assert meta["config"]["generate"] == "text" and meta["config"]["per_page"] == 4
    assert meta["config"]["generator"]["spans_per_page"] == 4
    assert meta["kinds"] == result.kinds


def test_same_seed_same_pairs(corpus, tmp_path):
    a = pairs(corpus, tmp_path / "a", generate="text", seed=1, show_progress=False)
    b = pairs(corpus, tmp_path / "b", generate="text", seed=1, show_progress=False)
    assert (tmp_path / "a" / "queries.jsonl").read_text() == (tmp_path / "b" / "queries.jsonl").read_text()
    assert a.eval_docs == b.eval_docs


def test_load_pairs_resolves_images_and_lists_missing(corpus, tmp_path):
    pairs(corpus, tmp_path / "pairs", generate="text", show_progress=False)
    dsd = load_pairs(tmp_path / "pairs")
    assert all(Path(p).is_absolute() and Path(p).is_file() for s in dsd.values() for p in s["image"])
    assert dsd["train"].column_names == ["query", "image", "page_id", "doc_id"]
    moved = tmp_path / "moved"
    corpus.rename(moved)
    with pytest.raises(PagefitError, match=r"12 image file\(s\) missing"):
        load_pairs(tmp_path / "pairs")
    assert len(load_pairs(tmp_path / "pairs", corpus=moved)["train"]) == len(dsd["train"])


def test_two_documents_split_one_each_and_one_document_is_refused(tmp_path):
    docs = topic_docs()
    two = make_corpus(tmp_path / "two", {d: docs[d] for d in list(docs)[:2]})
    result = pairs(two, tmp_path / "p2", generate="text", eval_fraction=0.01, show_progress=False)
    assert len(result.train_docs) == 1 and len(result.eval_docs) == 1
    one = make_corpus(tmp_path / "one", {"reports/harbor": docs["reports/harbor"]})
    with pytest.raises(PagefitError, match="--eval-fraction 0"):
        pairs(one, tmp_path / "p1", generate="text", show_progress=False)
    result = pairs(one, tmp_path / "p1", generate="text", eval_fraction=0, show_progress=False)
    assert result.eval_rows == 0 and result.train_rows > 0
    assert datasets.load_from_disk(str(tmp_path / "p1"))["eval"].column_names == [
        "query",
        "image",
        "page_id",
        "doc_id",
    ]


def test_split_keeps_documents_linked_by_a_query_together():
    page_doc = {f"d{i}#p1": f"d{i}" for i in range(6)}
    queries = [Query(query_id=f"q{i}", query=f"query {i}", page_ids=[f"d{i}#p1"]) for i in range(6)]
    queries.append(Query(query_id="both", query="spans two", page_ids=["d0#p1", "d5#p1"]))
    for seed in range(5):
        train, eval_ = split_by_document(queries, page_doc, 0.3, seed)
        train_docs = {page_doc[p] for q in train for p in q.page_ids}
        eval_docs = {page_doc[p] for q in eval_ for p in q.page_ids}
        assert train_docs and eval_docs and not train_docs & eval_docs
        assert {"d0", "d5"} <= train_docs or {"d0", "d5"} <= eval_docs


def test_out_folder_that_is_not_pairs_is_not_overwritten(corpus, tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("keep me")
    with pytest.raises(PagefitError, match="not a pagefit pairs folder"):
        pairs(corpus, tmp_path / "precious", generate="text", show_progress=False)
    assert (tmp_path / "precious" / "thesis.tex").read_text() == "keep me"
    pairs(corpus, tmp_path / "pairs", generate="text", show_progress=False)
    pairs(
        corpus,
        tmp_path / "pairs",
        queries=write_jsonl(tmp_path / "q.jsonl", USER_QUERIES),
        show_progress=False,
    )
    assert _pairs_of(tmp_path / "pairs").keys() == {q["query"] for q in USER_QUERIES}  # replaced, not merged


def test_user_and_generated_queries_combine(corpus, tmp_path):
    result = pairs(corpus, tmp_path / "pairs", queries=write_jsonl(tmp_path / "q.jsonl", USER_QUERIES),
                   generate="text", per_page=2, show_progress=False)  # fmt: skip
    assert result.kinds["user"] == len(USER_QUERIES) and len(result.kinds) >= 3


@pytest.fixture(scope="module")
def ocr_minilm():
    from pagefit.models import load_model

    return load_model("ocr-minilm")


def test_roundtrip_filter_runs_after_the_split_on_train_queries_only(tmp_path, ocr_minilm):
    """Eval queries are never selected by a model; a train query is kept exactly when the model ranks its
    page first among the *train* pages (oracle: similarities computed here, not by pagefit)."""
    import numpy as np

    docs = topic_docs()
    # A near-copy of one document (another year's edition) makes some queries rank the twin page first; the
    # two are linked (near_copy_links), so they share a split: with one eval document of five, the train one.
    docs["reports/harbor-2022"] = [
        t.replace("Annual Report 2023", "Annual Report 2022") for t in docs["reports/harbor"]
    ]
    corpus = make_corpus(tmp_path / "corpus", docs)
    unfiltered = pairs(corpus, tmp_path / "all", generate="text", per_page=4, eval_fraction=0.2, seed=0,
                       show_progress=False)  # fmt: skip
    assert {"reports/harbor", "reports/harbor-2022"} <= set(
        unfiltered.train_docs
    )  # the filter has work to do
    result = pairs(corpus, tmp_path / "pairs", generate="text", per_page=4, eval_fraction=0.2, seed=0,
                   filter_model=ocr_minilm, filter_top_k=1, show_progress=False)  # fmt: skip
    assert result.eval_docs == unfiltered.eval_docs
    made = [json.loads(x) for x in (tmp_path / "all" / "queries.jsonl").read_text().splitlines()]
    kept = [json.loads(x) for x in (tmp_path / "pairs" / "queries.jsonl").read_text().splitlines()]
    # every eval query survives, whatever the model thinks of it
    assert [q["query"] for q in kept if q["split"] == "eval"] == [
        q["query"] for q in made if q["split"] == "eval"
    ]

    table = datasets.load_from_disk(str(corpus / "pages"))
    train_rows = [i for i, d in enumerate(table["doc_id"]) if d in set(unfiltered.train_docs)]
    images = [str(corpus / table["image"][i]) for i in train_rows]
    index = {table["page_id"][i]: k for k, i in enumerate(train_rows)}
    train = [q for q in made if q["split"] == "train"]
    q_emb = ocr_minilm.encode_query([q["query"] for q in train], normalize_embeddings=True)
    p_emb = ocr_minilm.encode_document(images, normalize_embeddings=True)
    scores = q_emb @ p_emb.T
    expected, decided = [], []
    for q, row in zip(train, scores, strict=True):
        pos = row[index[q["page_ids"][0]]]
        best_other = np.delete(row, index[q["page_ids"][0]]).max()
        expected.append(pos > best_other)
        decided.append(abs(pos - best_other) > 1e-4)
    assert 0 < sum(expected) < len(expected)  # the filter has something to do
    kept_train = {q["query"] for q in kept if q["split"] == "train"}
    for q, keep, sure in zip(train, expected, decided, strict=True):
        if sure:
            assert (q["query"] in kept_train) == keep, q["query"]
    dropped = [json.loads(x) for x in (tmp_path / "pairs" / DROPPED).read_text().splitlines()]
    roundtrip = [d for d in dropped if d["reason"] == "roundtrip"]
    assert len(roundtrip) == result.filtered["roundtrip"] == len(train) - len(kept_train)
    assert {d["split"] for d in roundtrip} == {"train"}
    assert all(d["reason"] != "roundtrip" for d in dropped if d["split"] == "eval")


def _queries_for(sizes: dict[str, int]) -> tuple[list[Query], dict[str, str]]:
    page_doc = {f"{d}#p1": d for d in sizes}
    queries = [Query(query_id=f"{d}-{i}", query=f"{d} question {i}", page_ids=[f"{d}#p1"])
               for d, n in sizes.items() for i in range(n)]  # fmt: skip
    return queries, page_doc


def test_eval_fraction_is_the_closest_whole_documents_allow(caplog):
    # The case: two documents, 0.2 asked. The small one goes to eval, whatever the seed.
    queries, page_doc = _queries_for({"big": 99, "small": 49})
    for seed in range(6):
        train, eval_ = split_by_document(queries, page_doc, 0.2, seed)
        assert (len(train), len(eval_)) == (99, 49), seed
    # Many documents: the eval share is the best any choice of whole documents reaches (brute force).
    import itertools

    sizes = {"a": 17, "b": 11, "c": 9, "d": 7, "e": 5, "f": 3, "g": 2}
    queries, page_doc = _queries_for(sizes)
    total = sum(sizes.values())
    for fraction in (0.1, 0.2, 0.3, 0.45):
        best = min(
            abs(sum(c) - fraction * total)
            for r in range(1, len(sizes))
            for c in itertools.combinations(sizes.values(), r)
        )
        for seed in range(4):
            _, eval_ = split_by_document(queries, page_doc, fraction, seed)
            assert abs(len(eval_) - fraction * total) == pytest.approx(best), (fraction, seed)


def test_achieved_eval_fraction_is_reported_and_warned_when_far(corpus, tmp_path, caplog):
    rows = [{"query": f"harbor question {i}", "page_id": "reports/harbor#p1"} for i in range(9)]
    rows.append({"query": "orchard question", "page_id": "reports/orchard#p1"})
    with caplog.at_level(logging.WARNING, logger="pagefit"):
        result = pairs(corpus, tmp_path / "p", queries=write_jsonl(tmp_path / "q.jsonl", rows), eval_fraction=0.5,
                       show_progress=False)  # fmt: skip
    assert result.eval_fraction_achieved == pytest.approx(0.1)  # the closest whole documents allow
    # documents no query concerns are in neither split (mine draws no negative from them)
    assert (result.train_docs, result.eval_docs) == (["reports/harbor"], ["reports/orchard"])
    assert "10.0% of the queries, not the 50.0% asked" in caplog.text
    assert json.loads((tmp_path / "p" / PAIRS_META).read_text())["eval_fraction_achieved"] == pytest.approx(
        0.1
    )


def _add_copy(corpus: Path, copies: dict[str, str]) -> None:
    """Add pages that are pixel copies of existing ones ({new page id: existing page id})."""
    import shutil

    table = datasets.load_from_disk(str(corpus / "pages"))
    by_id = {r["page_id"]: r for r in table}
    rows = []
    for new, old in copies.items():
        row = dict(by_id[old])
        image = f"images/{new.replace('/', '__').replace('#', '-')}.png"
        shutil.copy(corpus / row["image"], corpus / image)
        doc, _, n = new.partition("#p")
        rows.append(
            row
            | {"page_id": new, "doc_id": doc, "source": f"{doc}.pdf", "page_number": int(n), "image": image}
        )
    extra = datasets.Dataset.from_list(rows, features=table.features)
    datasets.concatenate_datasets([table, extra]).save_to_disk(str(corpus.parent / "pages.tmp"))
    shutil.rmtree(corpus / "pages")
    (corpus.parent / "pages.tmp").rename(corpus / "pages")


def test_twin_pages_and_copied_documents_stay_on_one_side(tmp_path):
    docs = topic_docs()
    corpus = make_corpus(tmp_path / "corpus", docs)
    # copies/harbor repeats every page of reports/harbor; appendix/library shares one page with policy/library
    _add_copy(corpus, {f"copies/harbor#p{n}": f"reports/harbor#p{n}" for n in (1, 2, 3)}
              | {"appendix/library#p1": "policy/library#p2"})  # fmt: skip
    table = datasets.load_from_disk(str(corpus / "pages"))
    queries = [{"query": f"question {i} on {pid}", "page_id": pid} for i, pid in enumerate(table["page_id"])]
    path = write_jsonl(tmp_path / "q.jsonl", queries)
    for seed in range(8):
        result = pairs(
            corpus, tmp_path / f"p{seed}", queries=path, eval_fraction=0.4, seed=seed, show_progress=False
        )
        for a, b in (("reports/harbor", "copies/harbor"), ("policy/library", "appendix/library")):
            assert (a in result.eval_docs) == (b in result.eval_docs), (seed, result.eval_docs)
        for a, b in (("reports/harbor", "copies/harbor"), ("policy/library", "appendix/library")):
            assert (a in result.validation_docs) == (b in result.validation_docs), (
                seed,
                result.validation_docs,
            )
        every = set(result.train_docs) | set(result.validation_docs) | set(result.eval_docs)
        assert every == set(table["doc_id"])  # every doc has queries


def test_near_copy_documents_stay_on_one_side(tmp_path):
    """A re-OCR'd copy of a document (ligatures, a soft hyphen, a misread word: no pixel or text equal to
    the original's) is linked to it by its page text. The queries are counted so that the copy alone is the
    one closest eval split (3 of 23 queries asked, every seed): only the link keeps it beside the original.
    Short pages that every document shares (a blank-page notice) link nothing."""
    from pagefit.splits import near_copy_links

    docs = topic_docs()
    ocr = {
        "fi": "\ufb01",
        "budget": "bud\u00adget",
        "office": "of\ufb01ce",
        "equipment": "equiprnent",
    }
    copy = []
    for text in docs["reports/harbor"]:
        for word, misread in ocr.items():
            text = text.replace(word, misread)
        copy.append(text)
    docs["scans/harbor"] = copy
    for doc in ("manuals/reactor", "policy/library"):
        docs[doc].append("This page is intentionally left blank.")
    corpus = make_corpus(tmp_path / "corpus", docs)
    sizes = {
        "reports/harbor": 5,
        "scans/harbor": 3,
        "reports/orchard": 5,
        "manuals/reactor": 5,
        "policy/library": 5,
    }
    rows = [{"query": f"question {i} on {doc}", "page_id": f"{doc}#p{i % 3 + 1}"}
            for doc, n in sizes.items() for i in range(n)]  # fmt: skip
    table = datasets.load_from_disk(str(corpus / "pages"))
    assert near_copy_links(table["doc_id"], table["text"]) == [("reports/harbor", "scans/harbor")]
    # the split without the link: the copy alone is the closest eval share (3 of 23)
    queries = read_queries(write_jsonl(tmp_path / "q.jsonl", rows))
    page_doc = dict(zip(table["page_id"], table["doc_id"], strict=True))
    assert split_by_document(queries, page_doc, 3 / 23, seed=0)[1] == queries[5:8]

    result = pairs(corpus, tmp_path / "p", queries=tmp_path / "q.jsonl", eval_fraction=3 / 23, seed=0,
                   show_progress=False)  # fmt: skip
    assert "scans/harbor" not in result.eval_docs and len(result.eval_docs) == 1
    assert ("reports/harbor" in result.train_docs) == ("scans/harbor" in result.train_docs)
    assert ("reports/harbor" in result.validation_docs) == ("scans/harbor" in result.validation_docs)
    meta = json.loads((tmp_path / "p" / PAIRS_META).read_text())
    assert meta["near_copy_links"] == [["reports/harbor", "scans/harbor"]]


def test_near_copies_are_told_from_pages_of_one_template():
    """Jaccard of word 3-shingles: a page with one word changed is a near copy; another page written from
    the same template (other topic, other figures) is not, nor are pages under the minimum length."""
    from pagefit.splits import NEAR_COPY_MIN_WORDS, near_copy_links, page_shingles

    harbor, orchard = topic_docs()["reports/harbor"], topic_docs()["reports/orchard"]
    edited = harbor[0].replace("equipment", "machinery")
    a, b = page_shingles(harbor[0])[0], page_shingles(edited)[0]
    assert len(a & b) / len(a | b) >= 0.8
    assert near_copy_links(["x", "y"], [harbor[0], edited]) == [("x", "y")]
    assert near_copy_links(["x", "y"], [harbor[0], harbor[1]]) == []  # same document template, another page
    assert near_copy_links(["x", "y"], [harbor[0], orchard[0]]) == []
    short = " ".join(f"word{i}" for i in range(NEAR_COPY_MIN_WORDS - 1))
    assert near_copy_links(["x", "y", "z"], [short, short, ""]) == []
    assert near_copy_links(["x", "y"], [short + " more", short + " more"]) == [("x", "y")]


def test_the_same_query_text_is_never_in_both_splits(corpus, tmp_path):
    rows = [{"query": "Annual budget overview", "page_id": f"{doc}#p1"} for doc in TOPICS]
    rows += [{"query": f"question {i} about {doc}", "page_id": f"{doc}#p2"} for i, doc in enumerate(TOPICS)]
    result = pairs(corpus, tmp_path / "p", queries=write_jsonl(tmp_path / "q.jsonl", rows), eval_fraction=0.25,
                   show_progress=False)  # fmt: skip
    dsd = datasets.load_from_disk(str(tmp_path / "p"))
    normal = {s: {q.lower() for q in dsd[s]["query"]} for s in dsd}
    assert not normal["train"] & normal["eval"] and not normal["validation"] & normal["eval"]
    assert not normal["train"] & normal["validation"]
    assert "annual budget overview" in normal["eval"]  # the eval copy stays: eval is the yardstick
    dropped = [json.loads(x) for x in (tmp_path / "p" / DROPPED).read_text().splitlines()]
    assert {(d["reason"], d["split"]) for d in dropped} == {("same_text_as_eval", "train"),
                                                            ("same_text_as_eval", "validation")}  # fmt: skip
    held = len(result.train_docs) + len(result.validation_docs)
    assert len(dropped) == result.filtered["same_text_as_eval"] == held


class _ScriptedGenerator:
    """A query generator that writes, for every page, one good query and three a filter must drop."""

    name = "scripted"

    def generate(self, pages, per_page, show_progress=True):
        from pagefit.querygen._base import GeneratedQuery, GenerationResult

        queries = []
        for p in pages:
            queries += [GeneratedQuery(p.page_id, f"{p.doc_id} page {p.page_number} facts", "keyword"),
                        GeneratedQuery(p.page_id, "what does this page show", "question"),
                        GeneratedQuery(p.page_id, "x", "keyword"),
                        GeneratedQuery(p.page_id, "budget overview table", "keyword")]  # fmt: skip
        return GenerationResult(queries=queries)

    def settings(self):
        return {}


def test_model_free_drops_are_recorded_with_their_split(corpus, tmp_path):
    result = pairs(
        corpus, tmp_path / "p", generate=_ScriptedGenerator(), eval_fraction=0.25, show_progress=False
    )
    dropped = [json.loads(x) for x in (tmp_path / "p" / DROPPED).read_text().splitlines()]
    counts: dict[str, int] = {}
    for d in dropped:
        counts[d["reason"]] = counts.get(d["reason"], 0) + 1
        doc = d["page_id"].rsplit("#", 1)[0]
        assert d["split"] == ("eval" if doc in result.eval_docs else "validation" if doc in result.validation_docs
                              else "train")  # fmt: skip
    assert counts == result.filtered == {"mentions_the_page": 12, "too_short": 12, "ambiguous": 12}
    assert {d["split"] for d in dropped} == {"train", "validation", "eval"}
    assert result.train_queries + result.validation_queries + result.eval_queries == 12


def test_held_out_splits_hold_no_copies_of_the_page(corpus, tmp_path):
    """Spans and keyword crops train, but the eval and validation splits measure queries people type: the
    copies of their pages are dropped there (recorded), unless --eval-copy-kinds keeps them."""
    from pagefit.querygen.text import COPY_KINDS

    result = pairs(
        corpus, tmp_path / "p", generate="text", per_page=4, eval_fraction=0.25, seed=3, show_progress=False
    )
    rows = [json.loads(x) for x in (tmp_path / "p" / "queries.jsonl").read_text().splitlines()]
    held = [q for q in rows if q["split"] in ("eval", "validation")]
    assert held and not [q for q in held if q["kind"] in COPY_KINDS]
    assert {q["kind"] for q in rows if q["split"] == "train"} >= COPY_KINDS  # they still train
    dropped = [json.loads(x) for x in (tmp_path / "p" / DROPPED).read_text().splitlines()]
    copies = [d for d in dropped if d["reason"] == "copy_kind_held_out"]
    assert copies and {d["split"] for d in copies} <= {"eval", "validation"}
    assert all(d["kind"] in COPY_KINDS for d in copies) and result.filtered["copy_kind_held_out"] == len(
        copies
    )
    assert {q.query for q in read_queries(tmp_path / "p" / EVAL_QUERIES)} == {q["query"] for q in held
                                                                             if q["split"] == "eval"}  # fmt: skip
    kept = pairs(corpus, tmp_path / "k", generate="text", per_page=4, eval_fraction=0.25, seed=3,
                 eval_copy_kinds=True, show_progress=False)  # fmt: skip
    rows = [json.loads(x) for x in (tmp_path / "k" / "queries.jsonl").read_text().splitlines()]
    assert {
        q["kind"] for q in rows if q["split"] == "eval"
    } & COPY_KINDS and "copy_kind_held_out" not in kept.filtered
