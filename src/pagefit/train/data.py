"""Training data for `pagefit train`: load, validate, trim to the training columns, build the evaluator.

Accepted sources (all with the columns `query`, `image`, `negative_0..n-1`):

- a pairs/mined folder written by `pagefit pairs` / `pagefit mine` (read with `pagefit.pairs.load_pairs`);
- a folder written by `datasets` `save_to_disk` (a DatasetDict, or one Dataset used for training);
- anything `datasets.load_dataset` reads: a hub name such as
  `tomaarsen/llamaindex-vdr-en-train-preprocessed` (config `train` / `eval`), or a local data folder.

Image columns hold PIL images (a `datasets.Image` feature) or image file paths. Sentence Transformers reads
a string as an image only when it names an existing image file and silently embeds it as *text*
otherwise, so every path is checked here.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    import datasets
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from pagefit.evaluation.fusion import FusionConfig
    from pagefit.passages import PassageConfig
    from pagefit.train.config import TrainConfig

__all__ = [
    "EVALUATOR_NAME",
    "VALIDATION_NAME",
    "HeldOut",
    "TrainData",
    "build_evaluator",
    "describe_eval_corpus",
    "describe_scoring",
    "load_heldout",
    "load_train_data",
    "training_columns",
]

logger = logging.getLogger(__name__)

EVALUATOR_NAME = "pagefit-eval"
VALIDATION_NAME = "pagefit-validation"
PAIRS_MARKER = "pagefit_pairs.json"
_NEGATIVE = re.compile(r"^negative_(\d+)$")
_MISSING_SHOWN = 3


@dataclass
class HeldOut:
    """The held-out retrieval task of a run: eval queries searched over a whole page set.

    `corpus` maps page ids to absolute image paths; `relevant` lists each query's pages, pixel-identical
    twins included (`pagefit.duplicates`); `description` says which pages they are, for the summary and card.
    """

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    description: str
    twins_added: int = 0
    texts: dict[str, str] = field(default_factory=dict)  # page id -> the corpus' page text (for BM25)
    kinds: dict[str, str] = field(default_factory=dict)  # query id -> its kind (question, heading, ...)
    user_queries: int = 0  # how many of the queries the user wrote (the rest: a generator's)


@dataclass
class TrainData:
    """The validated splits, holding only `query`, `image`, `negative_0..` in that order, and their held-out
    tasks (None for data that records no corpus: then the rows' own pages are the corpus). The validation
    split selects the checkpoint and tunes the fusion; the eval split only gives the reported numbers."""

    train: datasets.Dataset
    eval: datasets.Dataset | None
    source: str
    summary: dict[str, Any] = field(default_factory=dict)
    heldout: HeldOut | None = None
    validation: datasets.Dataset | None = None
    validation_heldout: HeldOut | None = None
    # The page ids of each train row's positive and negatives (aligned with `train`), and the text of every
    # train-split page: what `hybrid_loss` scores with BM25. None where the data does not record them.
    train_page_ids: list[list[str]] | None = None
    train_texts: dict[str, str] | None = None


def negative_columns(columns: list[str]) -> list[str]:
    """`negative_<i>` columns sorted by i (bookkeeping columns such as `negative_0_page_id` excluded)."""
    found = sorted((int(m.group(1)), c) for c in columns if (m := _NEGATIVE.match(c)))
    return [c for _, c in found]


def training_columns(columns: list[str]) -> list[str]:
    return ["query", "image", *negative_columns(columns)]


def _is_pairs_folder(path: Path) -> bool:
    return (path / PAIRS_MARKER).is_file()


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _load_source(
    config: TrainConfig,
) -> tuple[datasets.Dataset, datasets.Dataset | None, datasets.Dataset | None, Path | None]:
    """The raw train, validation and eval splits, plus the folder that relative image paths are relative to."""
    import datasets

    path = Path(config.data).expanduser()
    if path.is_dir() and _is_pairs_folder(path):
        from pagefit.pairs import load_pairs

        return *_pick_splits(load_pairs(path), config), None
    if path.is_dir() and _is_saved_dataset(path):
        try:
            loaded = datasets.load_from_disk(str(path))
        except Exception as e:  # e.g. a split saved with no rows cannot be read back
            raise PagefitError(f"cannot read the dataset saved in {path}: {type(e).__name__}: {e}") from e
        if isinstance(loaded, datasets.Dataset):
            return loaded, None, None, path.resolve()
        return *_pick_splits(loaded, config), path.resolve()
    if path.is_dir():
        from pagefit._kinds import detect_kind, wrong_folder

        if detect_kind(path) in {"corpus", "documents", "model", "report", "empty"}:
            raise wrong_folder(path, "pairs", needed_for="`pagefit train`")
    root = path.resolve() if path.is_dir() else None
    train = _load_dataset(config.data, config.data_config, config.train_split)
    eval_ds = None
    if config.eval_split is not None:
        eval_ds = _load_dataset(config.data, config.eval_config or config.data_config, config.eval_split)
    return train, None, eval_ds, root


def _pick_splits(
    splits: datasets.DatasetDict, config: TrainConfig
) -> tuple[datasets.Dataset, datasets.Dataset | None, datasets.Dataset | None]:
    def pick(name: str) -> datasets.Dataset:
        if name not in splits:
            raise PagefitError(
                f"{config.data} has no split '{name}' (it has {', '.join(splits) or 'none'}): "
                "set train_split / eval_split (`--set eval_split=null` trains without evaluation)"
            )
        return splits[name]

    validation = None
    if config.validation_split is not None and config.validation_split in splits:
        validation = splits[config.validation_split]
    elif config.validation_split is not None:
        logger.warning(
            "%s has no '%s' split (re-run `pagefit pairs` to carve one from the train documents): "
            "no checkpoint selection, the last step is kept",
            config.data,
            config.validation_split,
        )
    evaluation = pick(config.eval_split) if config.eval_split is not None else None
    return pick(config.train_split), validation, evaluation


def _load_dataset(name: str, config_name: str | None, split: str) -> datasets.Dataset:
    import datasets

    try:
        loaded = datasets.load_dataset(name, config_name, split=split)
    except ValueError as e:
        # datasets reports unknown configs and splits as ValueError with the choices in its message
        raise PagefitError(
            f"cannot load split '{split}' of dataset '{name}' (config {config_name}): {e}"
        ) from e
    except Exception as e:
        raise PagefitError(
            f"cannot load dataset '{name}' (config {config_name}, split {split}): {type(e).__name__}: {e}. "
            "Pass a pairs/mined folder from `pagefit pairs`/`pagefit mine`, a local dataset folder, "
            "or a hub dataset name where the hub is reachable"
        ) from e
    if isinstance(loaded, datasets.IterableDataset):
        raise PagefitError(f"dataset '{name}' loaded as a stream: pagefit needs a map-style dataset")
    return loaded


def _check_columns(ds: datasets.Dataset, where: str) -> list[str]:
    columns = list(ds.column_names)
    missing = [c for c in ("query", "image") if c not in columns]
    if missing:
        raise PagefitError(
            f"{where} lacks the column(s) {', '.join(missing)} (it has {', '.join(columns)}): "
            "pagefit trains on `query`, `image` (the positive page) and optional `negative_0..n-1`, "
            "as written by `pagefit pairs` / `pagefit mine`"
        )
    negatives = negative_columns(columns)
    expected = [f"negative_{i}" for i in range(len(negatives))]
    if negatives != expected:
        gap = next(e for e, n in zip(expected, negatives, strict=True) if e != n)
        raise PagefitError(
            f"{where} has unequal negative counts: columns {', '.join(negatives)} but no {gap}. "
            "Every row needs negatives negative_0..negative_{n-1}: re-run `pagefit mine`"
        )
    return training_columns(columns)


def _resolve_paths(
    ds: datasets.Dataset, columns: list[str], root: Path | None, where: str
) -> datasets.Dataset:
    """Make image path strings absolute (relative to `root`) and fail on any that is not an image file."""
    from sentence_transformers.base.modality import is_image_url_or_path

    def absolute(value: str) -> str:
        if root is not None and not os.path.isabs(value) and not value.startswith(("http://", "https://")):
            return str(root / value)
        return value

    updates: dict[str, list[str]] = {}
    for column in columns[1:]:
        if not _is_string_column(ds, column):
            _check_no_empty_images(ds, column, where)
            continue
        values = ds[column]
        empty = sum(1 for v in values if not v)
        if empty:
            raise PagefitError(
                f"{where}: {empty} row(s) have no value in '{column}' (unequal negative counts?): "
                "every row needs the same number of negatives; re-run `pagefit mine`"
            )
        paths = [absolute(v) for v in values]
        bad = [p for p in paths if not is_image_url_or_path(p)]
        if bad:
            examples = ", ".join(bad[:_MISSING_SHOWN])
            raise PagefitError(
                f"{where}: {len(bad)} path(s) in column '{column}' are not existing image files "
                f"(e.g. {examples}); Sentence Transformers would silently embed them as text. "
                "Restore the files (or the corpus folder the pairs point to) and run again"
            )
        if paths != values:
            updates[column] = paths
    for column, paths in updates.items():
        ds = ds.remove_columns(column).add_column(column, paths)
    return ds.select_columns(columns)  # the loss reads columns by position: restore the order


def _is_string_column(ds: datasets.Dataset, column: str) -> bool:
    feature = ds.features[column]
    return getattr(feature, "dtype", None) in ("string", "large_string")


def _check_no_empty_images(ds: datasets.Dataset, column: str, where: str) -> None:
    import datasets

    if isinstance(ds.features[column], datasets.Image):
        empty = sum(1 for v in ds.with_format("arrow")[column].to_pylist() if v is None)
        if empty:
            raise PagefitError(
                f"{where}: {empty} row(s) have no image in '{column}' (unequal negative counts?)"
            )
        return
    raise PagefitError(
        f"{where}: column '{column}' holds {ds.features[column]}, not images: "
        "expected image file paths or a datasets.Image column"
    )


def _check_queries(ds: datasets.Dataset, where: str) -> None:
    if not _is_string_column(ds, "query"):
        raise PagefitError(f"{where}: column 'query' must hold text, it holds {ds.features['query']}")
    empty = sum(1 for q in ds["query"] if not q or not q.strip())
    if empty:
        raise PagefitError(
            f"{where}: {empty} row(s) have an empty query: remove them or re-run `pagefit pairs`"
        )


def prepare_split(ds: datasets.Dataset, root: Path | None, where: str, limit: int | None) -> datasets.Dataset:
    """Validate one split and keep only its training columns, in order."""
    if len(ds) == 0:
        raise PagefitError(f"{where} is empty: nothing to train on; check the pairs folder or dataset name")
    columns = _check_columns(ds, where)
    dropped = [c for c in ds.column_names if c not in columns]
    if dropped:
        logger.info("%s: dropping non-training columns %s", where, ", ".join(dropped))
    ds = ds.select_columns(columns)
    if limit is not None and limit < len(ds):
        ds = ds.select(range(limit))
    _check_queries(ds, where)
    return _resolve_paths(ds, columns, root, where)


def _eval_queries(
    folder: Path, raw_eval: datasets.Dataset | None, split: str = "eval"
) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """Held-out query text -> (relevant page ids, queries.jsonl record): the folder's eval_queries.jsonl (validation_queries.jsonl
    for the validation split: every query of the split, also those `mine` dropped for lack of
    negatives), else the split's rows."""
    from pagefit.pairs import EVAL_QUERIES, VALIDATION_QUERIES, split_queries
    from pagefit.queries import read_queries

    found: dict[str, list[str]] = {}
    records = {row["query"]: row for row in split_queries(folder, split)}
    path = folder / (VALIDATION_QUERIES if split == "validation" else EVAL_QUERIES)
    if path.is_file() and path.stat().st_size:
        for q in read_queries(path):
            found.setdefault(q.query, []).extend(q.page_ids)
    elif raw_eval is not None and "page_id" in raw_eval.column_names:
        for text, pid in zip(raw_eval["query"], raw_eval["page_id"], strict=True):
            found.setdefault(text, []).append(pid)
    return {text: (pages, records.get(text, {})) for text, pages in found.items()}


def load_heldout(
    config: TrainConfig, raw_eval: datasets.Dataset | None, split: str = "eval"
) -> HeldOut | None:
    """The held-out task of a pairs/mined folder: the queries of its `split` ("eval" or "validation")
    over every page of that split's documents (the eval split: or over the whole `config.eval_corpus`),
    twins of relevant pages counted relevant, with each page's text (BM25 reads it).

    Raises:
        PagefitError: `eval_corpus` given for data that is not a pairs/mined folder, or no eval query
            whose page is in the eval corpus.
    """
    from pagefit.corpus import corpus_image_paths, load_corpus
    from pagefit.duplicates import expand_with_twins, twins_by_page
    from pagefit.pairs import load_pairs_meta

    folder = Path(config.data).expanduser()
    if not (folder.is_dir() and _is_pairs_folder(folder)):
        if config.eval_corpus:
            raise PagefitError(
                f"eval_corpus needs a pairs/mined folder as DATA (its eval queries are searched in it); "
                f"{config.data} is not one"
            )
        return None
    meta = load_pairs_meta(folder)
    eval_corpus = config.eval_corpus if split == "eval" else None
    corpus_dir = Path(eval_corpus or meta.get("corpus") or "")
    wanted = _eval_queries(folder, raw_eval, split)
    if not wanted or not (eval_corpus or meta.get("corpus")):
        return None
    if not eval_corpus and not (corpus_dir / "pages").is_dir():
        logger.warning(
            "%s records the corpus %s, which is not a corpus folder: evaluating over the eval rows' own pages "
            "(pass --eval-corpus CORPUS to search a whole page set)",
            folder,
            corpus_dir,
        )
        return None
    table = load_corpus(corpus_dir)
    if eval_corpus:
        keep = list(range(len(table)))
        description = f"every page of the corpus {corpus_dir.resolve()}"
        trained_on = set(meta.get("train_docs") or []) & set(table["doc_id"])
        if trained_on:
            logger.warning(
                "the eval corpus %s holds %d document(s) of the train split (e.g. %s): pages the model "
                "trained on compete with the relevant ones",
                corpus_dir,
                len(trained_on),
                sorted(trained_on)[0],
            )
    else:
        from pagefit.mine import split_documents

        docs = split_documents(meta, {split: raw_eval} if raw_eval is not None else {}).get(split, set())
        keep = [i for i, d in enumerate(table["doc_id"]) if d in docs]
        description = f"every page of the {len(docs)} {split}-split document(s) of {corpus_dir.resolve()}"
    paths = corpus_image_paths(corpus_dir, table)
    ids = [table["page_id"][i] for i in keep]
    corpus = {pid: paths[i] for pid, i in zip(ids, keep, strict=True)}
    twins = twins_by_page(ids, [table["image_hash"][i] for i in keep])
    queries, relevant, kinds, added, missing, users = {}, {}, {}, 0, 0, 0
    for n, (text, (pages, record)) in enumerate(wanted.items()):
        known = [p for p in dict.fromkeys(pages) if p in corpus]
        if not known:
            missing += 1
            continue
        expanded = expand_with_twins(known, twins)
        added += len(expanded) - len(known)
        queries[f"q{n}"], relevant[f"q{n}"] = text, set(expanded)
        if record.get("kind"):
            kinds[f"q{n}"] = record["kind"]
        users += record.get("origin", "user") == "user"
    if missing:
        logger.warning(
            "%d eval quer(ies) have no relevant page in %s: left out of evaluation", missing, description
        )
    if not queries:
        raise PagefitError(f"no eval query has its page in {description}: check --eval-corpus")
    if config.max_eval_samples is not None:
        chosen = list(queries)[: config.max_eval_samples]
        queries, relevant = {q: queries[q] for q in chosen}, {q: relevant[q] for q in chosen}
    texts = table["text"] if "text" in table.column_names else [""] * len(table)
    page_texts = {table["page_id"][i]: texts[i] or "" for i in keep}
    return HeldOut(queries, corpus, relevant, description, added, page_texts, kinds, users)


def load_train_data(config: TrainConfig) -> TrainData:
    """Load, validate and trim the training (and eval) data named by `config.data`."""
    if not config.data:
        raise PagefitError("no training data: pass DATA (a pairs/mined folder or dataset name) or set `data`")
    raw_train, raw_val, raw_eval, root = _load_source(config)
    heldout = load_heldout(config, raw_eval) if config.eval_split is not None else None
    val_heldout = load_heldout(config, raw_val, "validation") if raw_val is not None else None
    train = prepare_split(raw_train, root, f"the train split of {config.data}", config.max_train_samples)
    train = _limit_negatives(train, config.num_negatives, config.data)
    page_ids = _row_page_ids(raw_train, len(train), len(negative_columns(train.column_names)))
    eval_ds = _heldout_rows(raw_eval, heldout, root, "eval", config)
    val_ds = _heldout_rows(raw_val, val_heldout, root, "validation", config)
    summary = {
        "source": str(config.data),
        "train_rows": len(train),
        "train_negatives": len(negative_columns(train.column_names)),
        "validation_rows": len(val_ds) if val_ds is not None else 0,
        "eval_rows": len(eval_ds) if eval_ds is not None else 0,
        "eval_negatives": len(negative_columns(eval_ds.column_names)) if eval_ds is not None else 0,
    }
    texts = _split_texts(config, raw_train, "train") if config.hybrid_loss else None
    return TrainData(train=train, eval=eval_ds, source=str(config.data), summary=summary, heldout=heldout,
                     validation=val_ds, validation_heldout=val_heldout, train_page_ids=page_ids,
                     train_texts=texts)  # fmt: skip


def _row_page_ids(raw: datasets.Dataset, rows: int, negatives: int) -> list[list[str]] | None:
    """The page ids of the first `rows` rows' positive and first `negatives` negatives (None: not recorded)."""
    columns = ["page_id", *[f"negative_{i}_page_id" for i in range(negatives)]]
    if not set(columns) <= set(raw.column_names):
        return None
    kept = raw.select(range(rows)).select_columns(columns)
    return [[row[c] for c in columns] for row in kept]


def _split_texts(config: TrainConfig, raw: datasets.Dataset, split: str) -> dict[str, str] | None:
    """page id -> text of every page of a split's documents, from the corpus the pairs folder records."""
    from pagefit.corpus import load_corpus
    from pagefit.mine import split_documents
    from pagefit.pairs import load_pairs_meta

    folder = Path(config.data).expanduser()
    meta = load_pairs_meta(folder) if folder.is_dir() else {}
    corpus_dir = Path(meta.get("corpus") or "")
    if not meta.get("corpus") or not (corpus_dir / "pages").is_dir():
        return None
    docs = split_documents(meta, {split: raw}).get(split, set())
    table = load_corpus(corpus_dir)
    texts = table["text"] if "text" in table.column_names else [""] * len(table)
    return {
        pid: t or "" for pid, d, t in zip(table["page_id"], table["doc_id"], texts, strict=True) if d in docs
    }


def _heldout_rows(
    raw: datasets.Dataset | None, heldout: HeldOut | None, root: Path | None, split: str, config: TrainConfig
) -> datasets.Dataset | None:
    """A held-out split's validated rows (None when it has none)."""
    if raw is None:
        return None
    if len(raw) == 0:
        if heldout is None:
            logger.warning("the %s split of %s is empty: no %s evaluation", split, config.data, split)
        return None
    return prepare_split(raw, root, f"the {split} split of {config.data}", config.max_eval_samples)


def _limit_negatives(ds: datasets.Dataset, wanted: int | None, source: str) -> datasets.Dataset:
    """Keep the first `wanted` hard negatives of each row (all when None or when fewer exist)."""
    negatives = negative_columns(ds.column_names)
    if not negatives:
        logger.warning(
            "%s has no hard negatives: training with in-batch negatives only (`pagefit mine` adds hard ones)",
            source,
        )
    if wanted is None or wanted >= len(negatives):
        return ds
    return ds.select_columns(["query", "image", *negatives[:wanted]])


def _corpus_by_path(eval_ds: datasets.Dataset) -> tuple[dict, dict, dict]:
    """Queries deduplicated by text; pages deduplicated by path; relevant = every positive of a query."""
    query_ids: dict[str, str] = {}
    corpus: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    image_columns = eval_ds.column_names[1:]
    for row in eval_ds:
        qid = query_ids.setdefault(row["query"], f"q{len(query_ids)}")
        relevant.setdefault(qid, set()).add(row["image"])
        for column in image_columns:
            corpus.setdefault(row[column], row[column])
    queries = {qid: text for text, qid in query_ids.items()}
    return queries, corpus, relevant


def _corpus_by_row(eval_ds: datasets.Dataset) -> tuple[dict, dict, dict]:
    """The article's layout for in-memory images: row d's positive is d, its k-th negative n*(k+1)+d."""
    n = len(eval_ds)
    queries = {str(d): q for d, q in enumerate(eval_ds["query"])}
    corpus: dict[str, Any] = {str(d): image for d, image in enumerate(eval_ds["image"])}
    for k, column in enumerate(eval_ds.column_names[2:]):
        for d, image in enumerate(eval_ds[column]):
            corpus[str(n * (k + 1) + d)] = image
    relevant = {str(d): {str(d)} for d in range(n)}
    return queries, corpus, relevant


def build_evaluator(
    eval_ds: datasets.Dataset | None,
    *,
    batch_size: int,
    truncate_dim: int | None = None,
    name: str = EVALUATOR_NAME,
    heldout: HeldOut | None = None,
    passages: PassageConfig | None = None,
    fusion: FusionConfig | None = None,
    bm25_language: str = "en",
) -> InformationRetrievalEvaluator:
    """An InformationRetrievalEvaluator over the held-out task when there is one (every page of the
    eval-split documents, or the given eval corpus), else over every positive and negative of the split.
    With `passages`, pages given by path are ranked as `pagefit eval` ranks them for a text-reading model
    (page vector mixed with the best window: `PassageRetrievalEvaluator`); with `fusion` and a held-out
    task whose pages have text, the model fused with BM25 is reported too (`hybrid_ndcg@10`)."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    evaluator_class = InformationRetrievalEvaluator
    if heldout is not None:
        queries, corpus, relevant = heldout.queries, heldout.corpus, heldout.relevant
    else:
        by_path = all(_is_string_column(eval_ds, c) for c in eval_ds.column_names[1:])
        queries, corpus, relevant = _corpus_by_path(eval_ds) if by_path else _corpus_by_row(eval_ds)
    kwargs: dict[str, Any] = {}
    texts = (
        [heldout.texts.get(pid, "") for pid in corpus] if heldout is not None and fusion is not None else None
    )
    by_path = all(isinstance(page, (str, os.PathLike)) for page in corpus.values())
    if by_path and (passages is not None or (texts and any(t.strip() for t in texts))):
        from pagefit.train.passage_evaluator import PassageRetrievalEvaluator

        evaluator_class = PassageRetrievalEvaluator
        kwargs = {"passages": passages, "bm25_texts": texts, "fusion": fusion, "bm25_language": bm25_language}
    return evaluator_class(
        queries=queries,
        corpus=corpus,
        relevant_docs=relevant,
        batch_size=batch_size,
        truncate_dim=truncate_dim,
        name=name,
        ndcg_at_k=[5, 10],
        mrr_at_k=[10],
        accuracy_at_k=[1, 5, 10],
        precision_recall_at_k=[1, 5, 10, 100],
        map_at_k=[100],
        **kwargs,
    )


def describe_scoring(passages: PassageConfig | None, fused: bool = False) -> str:
    """How a held-out evaluation scored a page: for the summary and the model card."""
    if passages is None:
        text = "page vectors"
    else:
        text = (
            f"page vector x {passages.weight:g} + best {passages.words}-word passage (stride {passages.stride}) "
            f"x {1 - passages.weight:g}, as pagefit eval and index score this model"
        )
    return text + ("; also fused with BM25 over the page text, as index --hybrid" if fused else "")


def describe_eval_corpus(heldout: HeldOut | None, split: str = "eval") -> dict[str, Any]:
    """What a held-out metric searched: for the summary and the model card."""
    if heldout is not None:
        return {
            f"{split}_corpus_source": heldout.description,
            f"{split}_qrels_twins_added": heldout.twins_added,
        }
    return {
        f"{split}_corpus_source": f"the positives and hard negatives of the {split} split's rows (no corpus recorded)"
    }
