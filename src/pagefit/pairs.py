"""`pagefit pairs`: (query, page image) training pairs from a corpus, split by document.

Queries come from the user (`queries`: the queries format of docs/formats.md, or records naming a source
file and page number instead of a page id) and/or from a generator (`generate`: "text", "openai",
"local" or a `QueryGenerator`). Synthetic queries pass the model-free filters of
`pagefit.querygen.filters` (both splits). Documents, not queries, are split: the eval share of queries
is the closest to `eval_fraction` that whole documents allow; documents linked by a query, by a
pixel-identical page or by being a copy of another document's pages stay on one side
(`pagefit.duplicates`). After the split, a train query whose text is also an eval query goes, and the
optional round trip through a retrieval model keeps only the synthetic *train* queries whose page that
model ranks in its top k among the train pages: no eval query is ever selected by a model.

Output folder (`DatasetDict.save_to_disk`)::

    PAIRS/
      dataset_dict.json, train/, eval/   columns: query, image, page_id, doc_id (image relative to the corpus)
      pagefit_pairs.json                 {"corpus": abs path, config, counts, kinds, filtered, ...}
      eval_queries.jsonl                 the eval split in the queries format (for `pagefit eval`)
      queries.jsonl                      every query with its kind and split
      generation_failures.jsonl          pages a generator could not write queries for (when any)
      dropped_queries.jsonl              every query a filter dropped: query, page_id, kind, reason, split
      report.html                        page thumbnails with their queries, counts per kind and split
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from pagefit import __version__
from pagefit._io import (
    atomic_write_json,
    atomic_write_text,
    prepare_out,
    publish,
    quiet_datasets,
    read_jsonl,
    shards,
)
from pagefit.errors import PagefitError
from pagefit.models import model_name
from pagefit.queries import Query, check_page_ids, read_queries, write_queries
from pagefit.splits import (
    doc_groups,
    duplicate_links,
    eval_documents,
    near_copy_links,
    split_by_document,
    validation_documents,
)

if TYPE_CHECKING:
    import datasets
    from sentence_transformers import SentenceTransformer

    from pagefit.querygen import Page, QueryGenerator

__all__ = [
    "DROPPED",
    "EVAL_QUERIES",
    "FAILURES",
    "PAIRS_META",
    "VALIDATION_QUERIES",
    "PairsConfig",
    "PairsResult",
    "duplicate_links",
    "eval_documents",
    "load_pairs",
    "load_pairs_meta",
    "pairs",
    "split_by_document",
    "split_queries",
]

logger = logging.getLogger(__name__)

PAIRS_META = "pagefit_pairs.json"
EVAL_QUERIES = "eval_queries.jsonl"
VALIDATION_QUERIES = "validation_queries.jsonl"
SPLITS = ("train", "validation", "eval")
ALL_QUERIES = "queries.jsonl"
FAILURES = "generation_failures.jsonl"
DROPPED = "dropped_queries.jsonl"
PAIR_COLUMNS = ["query", "image", "page_id", "doc_id"]

GeneratorName = Literal["text", "openai", "local"]
_SOURCE_KEYS = ("source", "file", "filename", "path", "document")
_PAGE_KEYS = ("page_number", "page", "page_no")


class PairsConfig(BaseModel):
    """The settings of one `pairs` run, saved in `pagefit_pairs.json`."""

    corpus: str
    queries: str | None = None
    generate: str | None = None
    per_page: int = 3
    eval_fraction: float = 0.2
    validation_fraction: float = 0.2
    eval_copy_kinds: bool = False
    seed: int = 0
    filter_model: str | None = None
    filter_top_k: int = 10
    generator: dict[str, Any] = Field(default_factory=dict)


@dataclass
class PairsResult:
    """What `pairs` wrote: row and query counts per split, query kinds, filter drops, failures."""

    out: Path
    train_rows: int
    eval_rows: int
    train_queries: int
    eval_queries: int
    train_docs: list[str]
    eval_docs: list[str]
    pages: int
    pages_with_queries: int
    kinds: dict[str, int]
    filtered: dict[str, int]
    failures: int
    seconds: float
    eval_fraction_achieved: float = 0.0  # share of the queries in the eval split
    validation_rows: int = 0
    validation_queries: int = 0
    validation_docs: list[str] = field(default_factory=list)
    near_copy_links: list[list[str]] = field(default_factory=list)  # documents linked by near-copy pages

    @property
    def queries_per_page(self) -> float:
        """Queries per page that got any."""
        queries = self.train_queries + self.validation_queries + self.eval_queries
        return queries / max(1, self.pages_with_queries)


# ---------------------------------------------------------------------------------------------
# User queries
# ---------------------------------------------------------------------------------------------


def _lookup_key(row: dict[str, Any]) -> tuple[str, str] | None:
    """(source, page) of a record that names a file and page instead of a page id."""
    if "page_id" in row or "page_ids" in row:
        return None
    source = next((str(row[k]) for k in _SOURCE_KEYS if row.get(k) not in (None, "")), None)
    if source is None:
        return None
    page = next((str(row[k]) for k in _PAGE_KEYS if row.get(k) not in (None, "")), "1")
    return source, page


def _page_index(pages: datasets.Dataset) -> dict[tuple[str, int], str]:
    """(source path or doc id or unique file name, page number) -> page id."""
    index: dict[tuple[str, int], str] = {}
    by_name: defaultdict[tuple[str, int], set[str]] = defaultdict(set)
    for pid, doc, source, number in zip(
        pages["page_id"], pages["doc_id"], pages["source"], pages["page_number"], strict=True
    ):
        for name in {source, source.replace("\\", "/"), doc}:
            index[(name, int(number))] = pid
        by_name[(Path(source).name, int(number))].add(pid)
        by_name[(Path(doc).name, int(number))].add(pid)
    for key, ids in by_name.items():
        if len(ids) == 1:
            index.setdefault(key, next(iter(ids)))
    return index


def _resolve_sources(path: Path, pages: datasets.Dataset, tmp: Path) -> Path:
    """Rewrite records that give (source file, page number) with the page id; the rest unchanged."""
    import json

    from pagefit.queries import _rows

    rows = list(_rows(path))
    if not any(_lookup_key(row) for _, row in rows):
        return path
    index = _page_index(pages)
    unknown, out = [], []
    for line, row in rows:
        row = {"query_id": f"q{line}", **row}  # the id read_queries would give the original line
        key = _lookup_key(row)
        if key is not None:
            source, page = key
            pid = (
                index.get((source.replace("\\", "/").removeprefix("./"), int(page)))
                if page.isdigit()
                else None
            )
            if pid is None:
                unknown.append(f"{source} page {page} (line {line})")
                continue
            row["page_id"] = pid
        out.append(json.dumps(row, ensure_ascii=False, default=str))
    if unknown:
        shown = "; ".join(unknown[:10]) + (f"; and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise PagefitError(
            f"{path}: {len(unknown)} record(s) name a file/page that is not in the corpus: {shown} "
            "(use the file path relative to the ingested folder and 1-based page numbers)"
        )
    resolved = tmp / "queries.jsonl"
    atomic_write_text(resolved, "\n".join(out) + "\n")
    return resolved


def read_user_queries(path: str | os.PathLike[str], pages: datasets.Dataset) -> list[Query]:
    """Read a queries file (page ids, or source file + page number) and check every page exists."""
    path = Path(path)
    if not path.is_file():
        raise PagefitError(f"queries file {path} does not exist")
    with tempfile.TemporaryDirectory(prefix="pagefit-queries-") as tmp:
        queries = read_queries(_resolve_sources(path, pages, Path(tmp)))
    check_page_ids(queries, pages["page_id"], source=str(path))
    return [q.model_copy(update={"origin": "user"}) for q in queries]


# ---------------------------------------------------------------------------------------------
# Synthetic queries
# ---------------------------------------------------------------------------------------------


def _generated_queries(
    generator: QueryGenerator, pages: list[Page], per_page: int, show_progress: bool
) -> tuple[list[Query], dict[str, int], list[dict[str, Any]], list[dict[str, Any]]]:
    """Generated queries that pass the model-free filters, drop counts, failures, and the dropped queries."""
    from pagefit.querygen.filters import FilterReport, QueryFilterConfig, filter_queries

    result = generator.generate(pages, per_page, show_progress=show_progress)
    report = FilterReport()
    config = QueryFilterConfig(max_copied_words=getattr(generator, "max_copied_words", None),
                               copying_kinds=getattr(generator, "copying_kinds", frozenset()))  # fmt: skip
    kept = filter_queries(result.queries, {p.page_id: p for p in pages}, config, report)
    per_page_count: Counter[str] = Counter()
    queries = []
    for q in kept:
        per_page_count[q.page_id] += 1
        queries.append(Query(query_id=f"{q.page_id}:q{per_page_count[q.page_id]}", query=q.query,
                             page_ids=[q.page_id], kind=q.kind, origin=generator.name))  # fmt: skip
    dropped = [
        {"query": q.query, "page_id": q.page_id, "kind": q.kind, "reason": why} for q, why in report.rejected
    ]
    return queries, report.as_dict(), result.failures, dropped


def _roundtrip(
    queries: list[Query], pages: list[Page], model: str | SentenceTransformer, top_k: int, show_progress: bool
) -> tuple[list[Query], list[Query]]:
    """(kept, dropped): a query is kept when `model` ranks its page in the top `top_k` of `pages`."""
    from pagefit.models import load_model, require_modality
    from pagefit.querygen.filters import roundtrip_filter

    if not queries:
        return [], []
    if isinstance(model, str | os.PathLike):
        model = load_model(model)
        require_modality(model, "image", role="the --filter-model (it embeds page images)")
    keep = roundtrip_filter(
        model,
        [q.query for q in queries],
        [q.page_ids for q in queries],
        pages,
        top_k,
        show_progress=show_progress,
    )
    return [q for q, k in zip(queries, keep, strict=True) if k], [
        q for q, k in zip(queries, keep, strict=True) if not k
    ]


def _make_generator(generate: str | QueryGenerator, seed: int) -> QueryGenerator:
    if not isinstance(generate, str):
        return generate
    from pagefit.querygen import make_generator

    return make_generator(generate, seed=seed)


# ---------------------------------------------------------------------------------------------
# Split
# ---------------------------------------------------------------------------------------------


def normal_text(text: str) -> str:
    """A query's text as compared across splits: lower-cased word tokens, single spaces."""
    from pagefit.querygen.filters import words

    return " ".join(words(text))


# ---------------------------------------------------------------------------------------------
# Writing and reading the pairs folder
# ---------------------------------------------------------------------------------------------


def _split_dataset(queries: Sequence[Query], page_rows: dict[str, tuple[str, str]]) -> datasets.Dataset:
    import datasets

    data: dict[str, list[str]] = {c: [] for c in PAIR_COLUMNS}
    seen: set[tuple[str, str]] = set()
    for q in queries:
        for pid in q.page_ids:
            if (q.query, pid) in seen:
                continue
            seen.add((q.query, pid))
            image, doc = page_rows[pid]
            for col, value in zip(PAIR_COLUMNS, (q.query, image, pid, doc), strict=True):
                data[col].append(value)
    features = datasets.Features({c: datasets.Value("string") for c in PAIR_COLUMNS})
    return datasets.Dataset.from_dict(data, features=features)


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    import json

    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))


def split_queries(path: str | os.PathLike[str], split: str) -> list[dict[str, Any]]:
    """The records of `queries.jsonl` (query, page_ids, kind, origin, split) of one split of a pairs or mined
    folder ([] when it records none)."""
    file = Path(path) / ALL_QUERIES
    return [row for row in read_jsonl(file) if row.get("split") == split] if file.is_file() else []


def load_pairs_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `pagefit_pairs.json` of a pairs or mined folder ({} when absent); a folder that a killed run
    left under its aside name (between the two renames of `publish`) is put back first."""
    import json

    from pagefit._io import recover_out

    try:
        recover_out(Path(path))
    except OSError as e:  # a read-only place: read what is there
        logger.debug("could not recover %s: %s", path, e)
    meta = Path(path) / PAIRS_META
    if not meta.is_file():
        return {}
    with open(meta, encoding="utf-8") as f:
        return json.load(f)


def _image_columns(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c == "image" or (c.startswith("negative_") and not c.endswith("_page_id"))]


def load_pairs(
    path: str | os.PathLike[str], *, corpus: str | os.PathLike[str] | None = None
) -> datasets.DatasetDict:
    """Load a pairs or mined folder with every image column resolved to absolute, existing files.

    Sentence Transformers treats a string as an image only if the file exists (and silently as text
    otherwise), so a missing file is an error here.

    Args:
        path: the `--out` folder of `pagefit pairs` or `pagefit mine`.
        corpus: the corpus folder, when it moved since the pairs were made (default: the recorded one).

    Raises:
        PagefitError: not a pairs folder, or image files missing (listed).
    """
    import datasets

    path = Path(path)
    meta = load_pairs_meta(path)  # (recovers a folder a killed run left aside)
    if not (path / "dataset_dict.json").is_file():
        from pagefit._kinds import wrong_folder

        raise wrong_folder(path, "pairs")
    root = Path(corpus) if corpus is not None else Path(meta.get("corpus") or path)
    with quiet_datasets():
        dsd = datasets.load_from_disk(str(path))
    missing: set[str] = set()
    resolved = {}
    for split, ds in dsd.items():
        cols = _image_columns(ds.column_names)

        def absolute(batch: dict[str, list[str]], cols: list[str] = cols) -> dict[str, list[str]]:
            return {c: [p if os.path.isabs(p) else str((root / p).resolve()) for p in batch[c]] for c in cols}

        with quiet_datasets():
            ds = ds.map(absolute, batched=True, keep_in_memory=True)
        for c in cols:
            missing.update(p for p in set(ds[c]) if not os.path.isfile(p))
        resolved[split] = ds
    if missing:
        shown = ", ".join(sorted(missing)[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        raise PagefitError(
            f"{path}: {len(missing)} image file(s) missing under corpus {root}: {shown} "
            "(was the corpus moved or re-ingested? pass corpus=... / --corpus)"
        )
    return datasets.DatasetDict(resolved)


# ---------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------


def pairs(
    corpus: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    queries: str | os.PathLike[str] | None = None,
    generate: GeneratorName | QueryGenerator | None = None,
    per_page: int = 3,
    eval_fraction: float = 0.2,
    validation_fraction: float = 0.2,
    eval_copy_kinds: bool = False,
    seed: int = 0,
    filter_model: str | SentenceTransformer | None = None,
    filter_top_k: int = 10,
    show_progress: bool = True,
) -> PairsResult:
    """Build the (query, page image) pairs of a corpus and split them by document.

    Args:
        corpus: a corpus folder from `pagefit ingest`.
        out: the pairs folder to write (replaced when it is an earlier pairs folder).
        queries: a queries file (JSONL/CSV/TSV); records may give `source` + `page_number` instead
            of `page_id`.
        generate: a synthetic query generator: "text" (offline, from the page text), "openai" or
            "local" (configured with `pagefit.querygen.make_generator`), or a generator object.
        per_page: synthetic queries per page (before filtering).
        eval_fraction: share of the queries whose documents go to the eval split (the closest whole
            documents allow; a warning when off by more than half).
        validation_fraction: share of the train queries (those a held-out split can hold: no copy kinds)
            whose documents form the validation split
            (whole documents, carved from the train split's): `pagefit train` selects its checkpoint
            and fusion weight on it, never on the eval split. 0: no validation split.
        eval_copy_kinds: keep the generator's copy kinds (crops of the page: spans, keyword bags) in
            the eval and validation splits; by default they only train, so the held-out numbers
            measure queries that people type.
        seed: seed of the split (and of the text generator's choices).
        filter_model: keep a synthetic *train* query only if this retrieval model (a name for
            `load_model` or a loaded model) ranks its page in the top `filter_top_k` of the train
            pages (page embeddings cached); eval queries are never filtered by a model.
        filter_top_k: see `filter_model`.
        show_progress: progress bars on stderr.

    Raises:
        PagefitError: no queries source, unknown pages, nothing left after filtering, or a split
            that cannot keep documents apart.
    """
    from pagefit.corpus import load_corpus

    start = time.perf_counter()
    if queries is None and generate is None:
        raise PagefitError(
            "nothing to pair: give a queries file (--queries FILE) and/or --generate text|openai|local"
        )
    if per_page < 1:
        raise PagefitError(f"--per-page must be at least 1, got {per_page}")
    if not 0 <= eval_fraction < 1:
        raise PagefitError(f"--eval-fraction must be in [0, 1), got {eval_fraction}")
    if not 0 <= validation_fraction < 1:
        raise PagefitError(f"--validation-fraction must be in [0, 1), got {validation_fraction}")
    corpus_dir = Path(corpus).resolve()
    table = load_corpus(corpus_dir)
    if eval_fraction > 0 and len(set(table["doc_id"])) < 2:  # say so before any query is generated
        raise PagefitError(
            f"{corpus_dir} holds one document: a split by document needs at least two; "
            "add documents or pass --eval-fraction 0 (no eval split)"
        )
    out = Path(out)
    generator = _make_generator(generate, seed) if generate is not None else None
    config = PairsConfig(
        corpus=str(corpus_dir), queries=str(Path(queries).resolve()) if queries else None,
        generate=getattr(generator, "name", None), per_page=per_page, eval_fraction=eval_fraction,
        validation_fraction=validation_fraction, eval_copy_kinds=eval_copy_kinds, seed=seed,
        filter_model=None if filter_model is None else model_name(filter_model), filter_top_k=filter_top_k, generator=generator.settings() if generator else {},
    )  # fmt: skip

    all_queries = read_user_queries(queries, table) if queries is not None else []
    filtered: dict[str, int] = {}
    failures: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    pages: list[Page] = []
    if generator is not None:
        from pagefit.corpus import corpus_pages

        pages = corpus_pages(corpus_dir, table)
        made, filtered, failures, dropped = _generated_queries(generator, pages, per_page, show_progress)
        taken = {q.query_id for q in all_queries}
        all_queries += [
            q if q.query_id not in taken else q.model_copy(update={"query_id": f"gen:{q.query_id}"})
            for q in made
        ]
    if not all_queries:
        why = f"; first failure: {failures[0]['error']}" if failures else ""
        raise PagefitError(f"no queries left to pair (filtered: {filtered or 'none'}){why}")

    page_doc = dict(zip(table["page_id"], table["doc_id"], strict=True))
    links = duplicate_links(table["page_id"], table["doc_id"], table["image_hash"], table["text"],
                            targeted={p for q in all_queries for p in q.page_ids})  # fmt: skip
    near_copies = near_copy_links(table["doc_id"], table["text"])
    if near_copies:
        logger.info(
            "%d pair(s) of documents hold near-copy pages: each pair stays in one split", len(near_copies)
        )
    links += near_copies
    # Held-out splits hold no copies of the page (spans, keyword crops), so the shares count the queries they
    # can hold: the eval split gets `eval_fraction` of those, the validation split `validation_fraction` of
    # the rest (all queries count when every one is a copy).
    copy_kinds = frozenset() if eval_copy_kinds else getattr(generator, "copy_kinds", frozenset())
    countable = [q for q in all_queries if not _is_copy(q, copy_kinds)] or all_queries
    eval_docs = eval_documents(countable, page_doc, eval_fraction, seed, links=links)
    train_q = [q for q in all_queries if page_doc[q.page_ids[0]] not in eval_docs]
    eval_q = [q for q in all_queries if page_doc[q.page_ids[0]] in eval_docs]
    n_eval = sum(page_doc[q.page_ids[0]] in eval_docs for q in countable)
    achieved = _achieved_fraction(len(countable) - n_eval, n_eval, eval_fraction)
    train_countable = [q for q in countable if page_doc[q.page_ids[0]] not in eval_docs]
    val_docs = validation_documents(train_countable, page_doc, validation_fraction, seed, links=links)
    val_q = [q for q in train_q if page_doc[q.page_ids[0]] in val_docs]
    train_q = [q for q in train_q if page_doc[q.page_ids[0]] not in val_docs]
    eval_q, eval_copies = _without_copies(eval_q, copy_kinds)
    val_q, val_copies = _without_copies(val_q, copy_kinds)

    # The same text never in two splits: the held-out query stays (it is the yardstick), the train copy goes.
    eval_texts = {normal_text(q.query) for q in eval_q}
    val_q, val_same = _split_off(val_q, eval_texts)
    train_q, same = _split_off(train_q, eval_texts)
    train_q, same_val = _split_off(train_q, {normal_text(q.query) for q in val_q})
    # The round trip runs after the split, on synthetic train queries, against train pages only: no eval
    # or validation query is ever selected by a model, and no held-out page helps choose the training data.
    lost: list[Query] = []
    if filter_model is not None and generator is not None:
        synthetic = [q for q in train_q if getattr(q, "origin", "user") != "user"]
        train_pages = [p for p in pages if p.doc_id not in eval_docs | val_docs]
        _, lost = _roundtrip(synthetic, train_pages, filter_model, filter_top_k, show_progress)
        gone = {id(q) for q in lost}
        train_q = [q for q in train_q if id(q) not in gone]
        filtered["roundtrip"] = len(lost)
    reasons = {"same_text_as_eval": same + val_same, "same_text_as_validation": same_val, "roundtrip": lost,
               "copy_kind_held_out": eval_copies + val_copies}  # fmt: skip
    filtered |= {reason: len(qs) for reason, qs in reasons.items() if qs and reason != "roundtrip"}
    split_of = {
        d: "eval" if d in eval_docs else "validation" if d in val_docs else "train" for d in page_doc.values()
    }
    dropped = [{**r, "split": split_of[page_doc[r["page_id"]]]} for r in dropped]
    dropped += [
        {"query": q.query, "page_id": q.page_ids[0], "kind": q.kind, "reason": reason,
         "split": split_of[page_doc[q.page_ids[0]]]}
        for reason, qs in reasons.items()
        for q in qs
    ]  # fmt: skip
    if not train_q:
        raise PagefitError(f"no training queries left after filtering (filtered: {filtered})")
    # Each split's documents: those with its queries and the documents linked to them; a document no
    # query concerns is in none (its pages are neither training negatives nor evaluated over).
    asked = {page_doc[p] for q in all_queries for p in q.page_ids}
    groups = [set(g) for g in doc_groups(all_queries, page_doc, links) if set(g) & asked]
    held = eval_docs | val_docs
    docs = {"train": sorted(d for g in groups if not g & held for d in g), "validation": sorted(val_docs),
            "eval": sorted(eval_docs)}  # fmt: skip
    splits = {"train": train_q, "validation": val_q, "eval": eval_q}
    return _write(out, config, table, splits, docs, filtered, failures, dropped, start, achieved, near_copies)


def _is_copy(query: Query, copy_kinds: frozenset[str]) -> bool:
    """A synthetic query of a copy kind (a crop of its page): it may train, never stand in a held-out split."""
    return query.kind in copy_kinds and getattr(query, "origin", "user") != "user"


def _without_copies(queries: list[Query], copy_kinds: frozenset[str]) -> tuple[list[Query], list[Query]]:
    """(kept, dropped): synthetic queries of a copy kind (a crop of the page) leave a held-out split."""
    dropped = [q for q in queries if _is_copy(q, copy_kinds)]
    gone = {id(q) for q in dropped}
    return [q for q in queries if id(q) not in gone], dropped


def _split_off(queries: list[Query], texts: set[str]) -> tuple[list[Query], list[Query]]:
    """(kept, dropped): queries whose normalised text is one of `texts` are dropped."""
    return [q for q in queries if normal_text(q.query) not in texts], [
        q for q in queries if normal_text(q.query) in texts
    ]


def _achieved_fraction(n_train: int, n_eval: int, wanted: float) -> float:
    achieved = n_eval / max(1, n_train + n_eval)
    if wanted > 0 and abs(achieved - wanted) > wanted / 2:
        logger.warning(
            "the eval split holds %.1f%% of the queries, not the %.1f%% asked: whole documents allow no closer "
            "split (add documents, or pass another --eval-fraction)",
            100 * achieved,
            100 * wanted,
        )
    return achieved


def _write(
    out: Path,
    config: PairsConfig,
    table: datasets.Dataset,
    splits: dict[str, list[Query]],
    docs: dict[str, list[str]],
    filtered: dict[str, int],
    failures: list[dict[str, Any]],
    dropped: list[dict[str, Any]],
    start: float,
    achieved: float,
    near_copies: list[tuple[str, str]],
) -> PairsResult:
    import datasets

    page_rows = {
        pid: (img, doc)
        for pid, img, doc in zip(table["page_id"], table["image"], table["doc_id"], strict=True)
    }
    train_q, val_q, eval_q = splits["train"], splits["validation"], splits["eval"]
    dsd = datasets.DatasetDict({name: _split_dataset(qs, page_rows) for name, qs in splits.items()})
    # Synthetic queries by kind; the user's own all count as "user" (whatever "kind" their file gives).
    every = train_q + val_q + eval_q
    kinds = Counter(q.kind if getattr(q, "origin", "user") != "user" else "user" for q in every)
    result = PairsResult(
        out=out, train_rows=len(dsd["train"]), eval_rows=len(dsd["eval"]), train_queries=len(train_q),
        eval_queries=len(eval_q), train_docs=docs["train"], eval_docs=docs["eval"], pages=len(table),
        pages_with_queries=len({p for q in every for p in q.page_ids}), kinds=dict(kinds.most_common()),
        filtered=filtered, failures=len(failures), seconds=0.0, eval_fraction_achieved=round(achieved, 4),
        validation_rows=len(dsd["validation"]), validation_queries=len(val_q), validation_docs=docs["validation"],
        near_copy_links=[list(pair) for pair in near_copies],
    )  # fmt: skip
    tmp = prepare_out(out, PAIRS_META, "pairs")
    try:
        with quiet_datasets():
            dsd.save_to_disk(str(tmp), num_shards=shards(dsd))
        for name, qs in ((EVAL_QUERIES, eval_q), (VALIDATION_QUERIES, val_q)):
            write_queries(tmp / name, qs) if qs else atomic_write_text(tmp / name, "")
        rows = [{**q.model_dump(exclude_none=True), "split": s} for s, qs in splits.items() for q in qs]
        _write_jsonl(tmp / ALL_QUERIES, rows)
        if failures:
            _write_jsonl(tmp / FAILURES, failures)
        _write_jsonl(tmp / DROPPED, dropped)
        from pagefit.pairs_report import write_pairs_report

        write_pairs_report(
            tmp, config.corpus, table, train_q, eval_q, filtered=filtered, failures=failures, validation=val_q
        )
        result.seconds = round(time.perf_counter() - start, 2)
        meta = {"pagefit_version": __version__, "kind": "pairs", "corpus": config.corpus, "config": config.model_dump(),
                **{k: v for k, v in asdict(result).items() if k != "out"},
                "queries_per_page": round(result.queries_per_page, 3)}  # fmt: skip
        atomic_write_json(tmp / PAIRS_META, meta)
        publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if failures:
        logger.warning("%d page(s) got no generated queries: see %s", len(failures), out / FAILURES)
    return result


def read_failures(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The generation failures recorded in a pairs folder."""
    f = Path(path) / FAILURES
    return read_jsonl(f) if f.is_file() else []
