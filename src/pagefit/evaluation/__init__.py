"""`pagefit eval`: retrieval quality of one or more models on a corpus and a queries file.

Each model ranks every corpus page for every query; the rankings give NDCG@1/5/10, MAP@100, MRR@10
and Recall@1/5/10/100 (trec_eval definitions, see `pagefit.evaluation.metrics`) overall, per query and per query
`kind`. Score ties are broken by page id, ascending, so a report never depends on corpus order.

Pages are embedded through `pagefit.embeddings`, whose on-disk cache (model fingerprint + page
content hash) means a page is encoded once per model, across runs and stages. A Matryoshka sweep
(`dims`) truncates those full embeddings and scores them with the model's similarity (cosine
re-normalises), which is exactly what `truncate_dim` does, without encoding again.

Options: a BM25 baseline over the corpus text (entry `bm25`); a `CrossEncoder` reranking each entry's
top k (entries `NAME+rerank`); for every entry but the first, its NDCG@10 difference with the first
(paired bootstrap CI, paired randomization p-value). Writes report.json (schema in docs/formats.md),
report.md and a self-contained report.html when given `out`.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import BaseModel, Field, PositiveInt, ValidationError

from pagefit import __version__
from pagefit.errors import PagefitError
from pagefit.evaluation.metrics import (
    MAX_K,
    METRICS,
    PRIMARY_METRIC,
    mean_metrics,
    metrics_by_group,
    query_metrics,
    rank_pages,
)
from pagefit.evaluation.qrels import expand_qrels
from pagefit.evaluation.report import Comparison, ModelResult, QueryRecord, QueryResult, Report
from pagefit.models import model_name

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from pagefit.queries import Query

__all__ = ["BM25_NAME", "RERANK_SUFFIX", "EvalConfig", "ModelSpec", "Report", "evaluate", "write_report"]

logger = logging.getLogger(__name__)

BM25_NAME = "bm25"
RERANK_SUFFIX = "+rerank"
TOP_SAVED = 10  # page ids kept per query and entry in the report

ModelSpec: TypeAlias = "str | os.PathLike[str] | SentenceTransformer"


class EvalConfig(BaseModel):
    """Settings of one evaluation; saved in the report as `settings`."""

    bm25: bool = Field(False, description="add the BM25 baseline over the corpus text")
    language: str = Field(
        "en", description="language of the page text (ISO 639-1): BM25's stemmer and stopwords"
    )
    dims: list[PositiveInt] = Field(default_factory=list, description="Matryoshka dimensions to sweep")
    reranker: str | None = Field(None, description="CrossEncoder reranking each entry's top k")
    rerank_top_k: int = Field(20, ge=1, le=MAX_K)
    batch_size: int = Field(16, ge=1, description="pages (and rerank pairs) per forward pass")
    n_resamples: int = Field(10_000, ge=100, description="bootstrap resamples and random sign flips")
    seed: int = 0
    trust_remote_code: bool = False
    device: str | None = None
    hybrid: Literal["rrf", "weighted"] | None = Field(None, description="fuse each model with BM25")
    rrf_k: int = Field(60, ge=1)
    fusion_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="the model's weight in weighted fusion (None: its saved weight, else the default)",
    )
    keyword_weight: float | None = Field(
        None, ge=0.0, le=1.0, description="the model's weight for keyword-like queries (None: its saved one)"
    )
    tune_fusion: str | None = Field(None, description="pairs folder whose eval split tunes the weight")
    token_pooling: float | None = Field(
        None, ge=1, description="multi-vector entries: hierarchical token pooling factor of the page vectors"
    )
    passages: bool | None = Field(
        None,
        description="text-reading single-vector entries: mix the page vector with the best passage "
        "(None: on for every model that reads page text)",
    )
    passage_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="the page vector's share in passage scoring"
    )
    query_prompt: str | None = Field(None, description="replaces each model's query prompt")
    document_prompt: str | None = Field(None, description="replaces each model's document prompt")


@dataclass
class _Corpus:
    """What every entry needs from the corpus and the queries, loaded once."""

    path: str
    page_ids: list[str]
    image_paths: list[str]
    keys: list[str] | None
    texts: list[str]
    id_order: np.ndarray
    queries: list[Query]
    twin_qrels: dict[str, int] = field(default_factory=dict)

    @property
    def query_texts(self) -> list[str]:
        return [q.query for q in self.queries]


@dataclass
class _Run:
    """One entry's rankings (page indices, best first) and what it cost."""

    name: str
    model: str
    params: int | None
    ranked: np.ndarray
    dim: int | None = None
    by_dim: dict[str, dict[str, float]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    reranks: str | None = None
    reranker: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    scores: np.ndarray | None = None  # (queries, pages), kept for hybrid fusion
    vectors_per_page: float | None = None
    bytes_per_page: float | None = None


def evaluate(
    corpus: str | os.PathLike[str],
    queries: str | os.PathLike[str] | Sequence[Query],
    models: ModelSpec | Sequence[ModelSpec | tuple[str, ModelSpec]] | Mapping[str, ModelSpec],
    *,
    bm25: bool = False,
    language: str = "en",
    dims: Sequence[int] | None = None,
    reranker: str | os.PathLike[str] | CrossEncoder | None = None,
    rerank_top_k: int = 20,
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
    n_resamples: int = 10_000,
    seed: int = 0,
    trust_remote_code: bool = False,
    device: str | None = None,
    show_progress: bool = True,
    hybrid: str | None = None,
    rrf_k: int = 60,
    fusion_weight: float | None = None,
    keyword_weight: float | None = None,
    tune_fusion: str | os.PathLike[str] | None = None,
    token_pooling: float | None = None,
    passages: bool | None = None,
    passage_weight: float = 0.5,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
) -> Report:
    """Evaluate retrieval models on a corpus and write the report.

    Args:
        corpus: a corpus folder written by `pagefit ingest`.
        queries: a queries file (JSON Lines, CSV or TSV) or already-read `Query` objects.
        models: model names, folders or loaded SentenceTransformers; `(name, model)` tuples or a
            mapping name their entries (else a folder's name or the model name is used). The first is
            the baseline every other entry is compared with.
        bm25: add a BM25 baseline over the corpus `text` column, named `bm25` (after the models).
        language: the page text's language (ISO 639-1 code): BM25's Snowball stemmer and stopwords
            (none for a language without them).
        dims: Matryoshka dimensions to evaluate each model at (from the cached full embeddings).
        reranker: a CrossEncoder (folder, hub name or object) reranking each entry's top
            `rerank_top_k`; adds an entry `NAME+rerank` after each entry.
        rerank_top_k: how many of each entry's top pages the reranker reorders.
        out: folder for report.json, report.md and report.html (nothing is written when None).
        batch_size: pages (and reranked pairs) per forward pass; lower it when a large model runs out
            of memory.
        n_resamples: resamples of the bootstrap and of the randomization test.
        seed: seed of the significance tests.
        trust_remote_code: allow models whose folder or hub repo holds code (see `load_model`).
        device: torch device; None lets Sentence Transformers choose.
        show_progress: show progress bars.
        hybrid: "rrf" or "weighted": add `hybrid(bm25+NAME)` fusing each model with BM25
            (see `pagefit.evaluation.fusion`); implies the `bm25` entry.
        rrf_k: the RRF constant.
        fusion_weight: the dense model's weight in weighted fusion (default: the weight `pagefit train`
            tuned on its validation split and saved with the model, as `index --hybrid` uses it; else 0.5).
        keyword_weight: the model's weight for keyword-like queries (`pagefit.evaluation.fusion.keyword_like`;
            default: the model's saved one, else the fusion default).
        tune_fusion: a `pagefit pairs` folder: pick the weighted-fusion weight on its eval split
            (implies hybrid="weighted"); the choice is recorded in report.json `settings.fusion`.
        token_pooling: multi-vector entries store their page vectors pooled by this hierarchical
            token pooling factor (as `pagefit index --token-pooling` does); their vectors and bytes
            per page follow.
        passages: single-vector entries that read pages as text (`ocr-minilm`) score a page as its page
            vector mixed with its best 100-word window (`pagefit.passages`), as `pagefit index`
            searches them. None (default): on for every model that reads page text; False: page
            vectors only; True: also warn about entries it cannot apply to.
        passage_weight: the page vector's share of that mix (the best window gets the rest).
        query_prompt: replaces every model's query prompt (None: each model's own).
        document_prompt: replaces every model's document prompt (None: each model's own).

    Returns:
        The report (also written to `out`).

    Raises:
        PagefitError: bad corpus or queries (unknown page ids, empty file, duplicate ids), a model that
            cannot embed page images, or one that cannot be loaded.
    """
    try:
        config = EvalConfig(
            bm25=bm25,
            language=language,
            dims=sorted(set(dims or []), reverse=True),
            reranker=None if reranker is None else model_name(reranker),
            rerank_top_k=rerank_top_k,
            batch_size=batch_size,
            n_resamples=n_resamples,
            seed=seed,
            trust_remote_code=trust_remote_code,
            device=device,
            hybrid="weighted" if tune_fusion and not hybrid else hybrid,
            rrf_k=rrf_k,
            fusion_weight=fusion_weight,
            keyword_weight=keyword_weight,
            tune_fusion=None if tune_fusion is None else os.fspath(tune_fusion),
            token_pooling=token_pooling,
            passages=passages,
            passage_weight=passage_weight,
            query_prompt=query_prompt,
            document_prompt=document_prompt,
        )
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise PagefitError(f"eval setting {where}: {error['msg']}") from e
    named = _name_models(models)
    if not named and not bm25:
        raise PagefitError("nothing to evaluate: give at least one --model (or --bm25)")
    data = _load_corpus_and_queries(corpus, queries)
    from pagefit.evaluation.overlap import warn_training_overlap

    overlap = warn_training_overlap(named, data.queries)  # a model measured on what it trained on is said so
    # Load the reranker first: a reranker that cannot load fails the run before any encoding.
    rerank = None if reranker is None else _Reranker.load(reranker, data, config)
    runs: list[_Run] = [_run_model(name, spec, data, config, show_progress) for name, spec in named]
    if bm25 or config.hybrid:
        runs.append(_run_bm25(_unique(BM25_NAME, {r.name for r in runs}), data, config))
    fusion = None
    if config.hybrid:
        from pagefit.evaluation.fusion import hybrid_runs

        fused, fusion = hybrid_runs(runs, named, data, config, show_progress)
        runs += fused
        from pagefit.evaluation.sparse import sparse_hybrid_runs

        runs += sparse_hybrid_runs(runs, named, data, config)  # a sparse model where BM25 stands
    if rerank is not None:
        runs = _add_reranked(runs, rerank, data, config, show_progress)
    report = _build_report(runs, data, config)
    if fusion is not None:
        report.settings["fusion"] = fusion.model_dump()
    if overlap:
        report.settings["training_overlap"] = overlap
    if out is not None:
        write_report(report, out)
    return report


def write_report(report: Report, out: str | os.PathLike[str]) -> Path:
    """Write report.json, report.md and report.html into `out`; returns report.html's path."""
    from pagefit._io import atomic_write_text
    from pagefit.corpus import corpus_image_paths, load_corpus
    from pagefit.evaluation.html import write_html_report
    from pagefit.evaluation.report import markdown_report, write_json_report

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_report(report, folder / "report.json")
    atomic_write_text(folder / "report.md", markdown_report(report))
    pages = load_corpus(report.corpus)
    image_paths = dict(zip(pages["page_id"], corpus_image_paths(report.corpus, pages), strict=True))
    write_html_report(report, folder / "report.html", image_paths)
    logger.info("report written to %s", folder)
    return folder / "report.html"


# ----------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------


def _display_name(spec: Any) -> str:
    text = model_name(spec).rstrip("/\\")
    path = Path(text).expanduser()
    if isinstance(spec, (str, os.PathLike)) and not path.is_dir():
        return text  # a built-in or hub name
    return path.resolve().name if path.exists() else text


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _name_models(models: Any) -> list[tuple[str, Any]]:
    if isinstance(models, Mapping):
        items = list(models.items())
    else:
        if isinstance(models, (str, os.PathLike)) or not isinstance(models, Sequence):
            models = [models]
        items = [item if isinstance(item, tuple) else (None, item) for item in models]
    named: list[tuple[str, Any]] = []
    for name, spec in items:
        named.append((_unique(str(name) if name else _display_name(spec), {n for n, _ in named}), spec))
    return named


def _page_keys(pages: Any) -> list[str] | None:
    """The pages' content hashes (the embedding cache keys) when the corpus records all of them."""
    keys = list(pages["image_hash"]) if "image_hash" in pages.column_names else []
    return keys if keys and all(keys) else None


def _load_corpus_and_queries(corpus: str | os.PathLike[str], queries: Any) -> _Corpus:
    import numpy as np

    from pagefit.corpus import corpus_image_paths, load_corpus
    from pagefit.queries import check_page_ids, read_queries

    pages = load_corpus(corpus)
    if isinstance(queries, (str, os.PathLike)):
        source, query_list = os.fspath(queries), read_queries(queries)
    else:
        source, query_list = "queries", list(queries)
        if not query_list:
            raise PagefitError("no queries to evaluate")
    page_ids = [str(p) for p in pages["page_id"]]
    check_page_ids(query_list, page_ids, source=source)
    # The duplicates rule: a pixel-identical twin of a relevant page is relevant.
    query_list, twin_qrels = expand_qrels(query_list, page_ids, _page_keys(pages))
    if twin_qrels["qrels_added"]:
        logger.info("%d twin page(s) of relevant pages added to %d queries' qrels", twin_qrels["qrels_added"],
                    twin_qrels["queries_expanded"])  # fmt: skip
    id_order = np.empty(len(page_ids), dtype=np.int64)
    id_order[np.argsort(np.asarray(page_ids, dtype=object), kind="stable")] = np.arange(len(page_ids))
    return _Corpus(
        path=str(Path(corpus).resolve()),
        page_ids=page_ids,
        image_paths=corpus_image_paths(corpus, pages),
        keys=_page_keys(pages),
        texts=[t or "" for t in pages["text"]] if "text" in pages.column_names else [""] * len(page_ids),
        id_order=id_order,
        queries=query_list,
        twin_qrels=twin_qrels,
    )


# ----------------------------------------------------------------------------------------------
# Entries
# ----------------------------------------------------------------------------------------------


def _count_params(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def _load_embedding_model(spec: Any, config: EvalConfig) -> SentenceTransformer:
    from pagefit.models import load_model

    if isinstance(spec, (str, os.PathLike)):
        return load_model(
            spec,
            trust_remote_code=config.trust_remote_code,
            device=config.device,
            query_prompt=config.query_prompt,
            document_prompt=config.document_prompt,
        )
    if config.query_prompt is not None or config.document_prompt is not None:
        from pagefit.models.page_text import set_prompts

        set_prompts(spec, query=config.query_prompt, document=config.document_prompt)
    return spec


def _run_model(name: str, spec: Any, data: _Corpus, config: EvalConfig, show_progress: bool) -> _Run:
    from pagefit.embeddings import encode_pages, encode_queries
    from pagefit.models import require_modality

    timing: dict[str, float] = {}
    start = time.perf_counter()
    model = _load_embedding_model(spec, config)
    require_modality(model, "image", role="a page encoder for eval")
    require_modality(model, "text", role="a query encoder for eval")
    timing["load"] = time.perf_counter() - start
    from pagefit.multivector_embeddings import is_multi_vector
    from pagefit.sparse_embeddings import is_sparse

    if is_multi_vector(model):  # token vectors scored by exact MaxSim (pagefit.evaluation.maxsim)
        return _run_multivector(name, spec, model, data, config, show_progress, timing)
    if is_sparse(model):  # learned-sparse vectors (pagefit.evaluation.sparse)
        from pagefit.evaluation.sparse import run_sparse_entry

        return run_sparse_entry(name, spec, model, data, config, show_progress, timing)
    if config.token_pooling:
        logger.warning(
            "%s is a single-vector model: --token-pooling applies to multi-vector entries only", name
        )

    start = time.perf_counter()
    pages = encode_pages(
        model, data.image_paths, keys=data.keys, batch_size=config.batch_size, show_progress=show_progress
    )
    timing["encode_pages"] = time.perf_counter() - start
    start = time.perf_counter()
    queries = encode_queries(model, data.query_texts)
    timing["encode_queries"] = time.perf_counter() - start

    # The cache holds full embeddings; a model loaded with truncate_dim is evaluated at that dim.
    dim = min(pages.shape[1], model.truncate_dim or pages.shape[1])
    windows = _passage_windows(name, model, data, config, timing)
    start = time.perf_counter()
    scores = _scores(model, queries, pages, windows, dim, config)
    ranked = rank_pages(scores, data.id_order)
    timing["search"] = time.perf_counter() - start
    by_dim = _sweep_dims(model, name, queries, pages, dim, data, config, windows)
    vectors = 1.0 + (len(windows.owner) / max(1, len(pages)) if windows is not None else 0.0)
    run = _Run(name, model_name(spec), _count_params(model), ranked, dim=dim, by_dim=by_dim, timing=timing,
               vectors_per_page=vectors, bytes_per_page=float(dim * pages.dtype.itemsize * vectors))  # fmt: skip
    if windows is not None:
        run.settings["passages"] = _passage_config(config).as_dict()
    if config.hybrid:
        run.scores = scores  # kept for hybrid fusion
    del model
    if isinstance(spec, (str, os.PathLike)):  # loaded here: free it before the next model loads
        _free_memory()
    return run


def _run_multivector(
    name: str, spec: Any, model: Any, data: _Corpus, config: EvalConfig, show_progress: bool, timing: dict
) -> _Run:
    from pagefit.evaluation.maxsim import score_multivector_model

    if config.dims:
        logger.warning("%s is a multi-vector model: no Matryoshka dims to sweep", name)
    result = score_multivector_model(model, data.image_paths, data.keys, data.query_texts,
                                     batch_size=config.batch_size, show_progress=show_progress,
                                     token_pooling=config.token_pooling)  # fmt: skip
    start = time.perf_counter()
    ranked = rank_pages(result.scores, data.id_order)
    timing |= result.timing
    timing["search"] += time.perf_counter() - start
    run = _Run(name, model_name(spec), _count_params(model), ranked, dim=result.dim, timing=timing,
               vectors_per_page=result.vectors_per_page, bytes_per_page=result.bytes_per_page)  # fmt: skip
    if config.hybrid:
        run.scores = result.scores  # kept for hybrid fusion, as for a single-vector entry
    del model
    if isinstance(spec, (str, os.PathLike)):
        _free_memory()
    return run


def _free_memory() -> None:
    """Collect a released model now (models hold reference cycles) and return cached GPU memory."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _passage_config(config: EvalConfig) -> Any:
    from pagefit.passages import PassageConfig

    return PassageConfig(weight=config.passage_weight)


def _passage_windows(name: str, model: Any, data: _Corpus, config: EvalConfig, timing: dict) -> Any:
    """The page windows of a text-reading model when passage scoring is on (else None)."""
    if config.passages is False:
        return None
    from pagefit.passages import encode_windows, reads_text

    if not reads_text(model):
        if config.passages:
            logger.warning(
                "%s reads page pixels, not text: --passages applies to text-reading models only", name
            )
        return None
    start = time.perf_counter()
    windows = encode_windows(
        model, data.image_paths, _passage_config(config), keys=data.keys, batch_size=config.batch_size
    )
    timing["encode_windows"] = time.perf_counter() - start
    return windows


def _scores(
    model: SentenceTransformer,
    queries: np.ndarray,
    pages: np.ndarray,
    windows: Any,
    dim: int,
    config: EvalConfig,
) -> np.ndarray:
    """(queries, pages) scores at `dim`: the page vectors', mixed with the best window's when given."""
    from pagefit.passages import score_pages

    return score_pages(model, queries, pages, windows, dim, config.passage_weight)


def _sweep_dims(
    model: SentenceTransformer,
    name: str,
    queries: np.ndarray,
    pages: np.ndarray,
    dim: int,
    data: _Corpus,
    config: EvalConfig,
    windows: Any = None,
) -> dict[str, dict[str, float]]:
    by_dim: dict[str, dict[str, float]] = {}
    dims = config.dims
    skipped = [d for d in dims if d > dim]
    if skipped:
        logger.warning("%s: embeddings have %d dimensions; skipping dims %s", name, dim, skipped)
    for d in (d for d in dims if d <= dim):
        ranked = rank_pages(_scores(model, queries, pages, windows, d, config), data.id_order)
        by_dim[str(d)] = mean_metrics(_per_query_metrics(ranked, data).values())
    return by_dim


def _run_bm25(name: str, data: _Corpus, config: EvalConfig) -> _Run:
    from pagefit.evaluation.bm25 import BM25Settings, bm25_scores

    start = time.perf_counter()
    settings = BM25Settings.for_language(config.language)
    scores = bm25_scores(data.texts, data.query_texts, settings)
    ranked = rank_pages(scores, data.id_order)
    timing = {"search": time.perf_counter() - start}
    from pagefit.evaluation.storage import bm25_bytes_per_page

    return _Run(name, BM25_NAME, None, ranked, timing=timing, settings=settings.describe(), scores=scores,
                bytes_per_page=bm25_bytes_per_page(data.texts))  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Reranking
# ----------------------------------------------------------------------------------------------


@dataclass
class _Reranker:
    """A loaded CrossEncoder, how it reads a page, and its scores so far (each pair is scored once)."""

    model: CrossEncoder
    name: str
    documents: Callable[[int], Any]
    load_seconds: float
    scores: dict[tuple[int, int], float] = field(default_factory=dict)

    @classmethod
    def load(cls, spec: Any, data: _Corpus, config: EvalConfig) -> _Reranker:
        start = time.perf_counter()
        model = _load_cross_encoder(spec, config)
        name = model_name(spec)
        if model.num_labels != 1:
            raise PagefitError(
                f"reranker {name} outputs {model.num_labels} labels; a reranker must output one score"
            )
        return cls(model, name, _reranker_documents(model, data, name), time.perf_counter() - start)


def _load_cross_encoder(spec: Any, config: EvalConfig) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    if not isinstance(spec, (str, os.PathLike)):
        return spec
    name = os.fspath(spec)
    try:
        model = CrossEncoder(name, trust_remote_code=config.trust_remote_code, device=config.device)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PagefitError(f"could not load reranker {name!r} as a CrossEncoder: {first}") from e
    model._pagefit_source = name  # what the report calls it
    return model


def _reranker_documents(reranker: CrossEncoder, data: _Corpus, name: str) -> Callable[[int], Any]:
    """How the reranker sees a page: the image when it reads images, else the page text."""
    if reranker.supports("image"):
        from PIL import Image

        def load(index: int) -> Any:
            with Image.open(data.image_paths[index]) as image:
                return image.convert("RGB")

        return load
    if not reranker.supports("text"):
        raise PagefitError(
            f"reranker {name} reads neither page images nor text (it supports {reranker.modalities})"
        )
    logger.warning("reranker %s cannot read images: it reranks on the corpus page text", name)
    return lambda index: data.texts[index]


def _add_reranked(
    runs: list[_Run], reranker: _Reranker, data: _Corpus, config: EvalConfig, show_progress: bool
) -> list[_Run]:
    """Each entry followed by its reranked copy `NAME+rerank`."""
    params = _count_params(reranker.model)
    taken = {r.name for r in runs}
    result: list[_Run] = []
    for run in runs:
        start, scored = time.perf_counter(), len(reranker.scores)
        ranked = _rerank(reranker, run.ranked, data, config, show_progress, run.name)
        name = _unique(run.name + RERANK_SUFFIX, taken)
        taken.add(name)
        timing = {**run.timing, "rerank": time.perf_counter() - start, "load_reranker": reranker.load_seconds,
                  "rerank_pairs": len(reranker.scores) - scored}  # fmt: skip
        total = None if run.params is None else run.params + params
        result += [
            run,
            _Run(
                name,
                run.model,
                total,
                ranked,
                dim=run.dim,
                timing=timing,
                reranks=run.name,
                reranker=reranker.name,
                settings=run.settings,
                vectors_per_page=run.vectors_per_page,
                bytes_per_page=run.bytes_per_page,
            ),
        ]
    return result


def _rerank(
    reranker: _Reranker,
    ranked: np.ndarray,
    data: _Corpus,
    config: EvalConfig,
    show_progress: bool,
    label: str,
) -> np.ndarray:
    """`ranked` with each query's top k reordered by reranker score (ties: page id ascending)."""
    import numpy as np

    from pagefit._progress import progress_bar

    k = min(config.rerank_top_k, ranked.shape[1])
    out = ranked.copy()
    with progress_bar(f"rerank {label}", total=len(ranked), unit="queries", enabled=show_progress) as bar:
        for q, row in enumerate(ranked):
            top = [int(p) for p in row[:k]]
            missing = [p for p in top if (q, p) not in reranker.scores]
            if missing:
                pairs = [(data.queries[q].query, reranker.documents(p)) for p in missing]
                scores = reranker.model.predict(pairs, batch_size=config.batch_size, show_progress_bar=False)
                reranker.scores.update(
                    {(q, p): float(s) for p, s in zip(missing, np.atleast_1d(scores), strict=True)}
                )
            top_scores = np.array([reranker.scores[(q, p)] for p in top])
            out[q, :k] = np.asarray(top)[np.lexsort((data.id_order[top], -top_scores))]
            bar.advance()
    return out


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------


def _per_query_metrics(ranked: np.ndarray, data: _Corpus) -> dict[str, dict[str, float]]:
    return {
        q.query_id: query_metrics([data.page_ids[i] for i in row], q.page_ids)
        for q, row in zip(data.queries, ranked, strict=True)
    }


def _build_report(runs: list[_Run], data: _Corpus, config: EvalConfig) -> Report:
    from pagefit.evaluation.rerank import rerank_comparisons, rerank_cost_ms
    from pagefit.evaluation.significance import bootstrap_ci, compare_paired

    per_query = {run.name: _per_query_metrics(run.ranked, data) for run in runs}
    query_ids = [q.query_id for q in data.queries]
    vs_retriever = rerank_comparisons(
        runs, per_query, query_ids, n_resamples=config.n_resamples, seed=config.seed
    )
    rerank_ms = rerank_cost_ms(runs, min(config.rerank_top_k, len(data.page_ids)))
    kinds = {q.query_id: q.kind for q in data.queries}
    first = runs[0].name
    baseline = [per_query[first][q.query_id][PRIMARY_METRIC] for q in data.queries]
    entries = []
    for run in runs:
        comparison = None
        if run.name != first:
            scores = [per_query[run.name][q.query_id][PRIMARY_METRIC] for q in data.queries]
            test = compare_paired(baseline, scores, n_resamples=config.n_resamples, seed=config.seed)
            comparison = Comparison(
                ndcg_at_10_diff=test.diff,
                ci95=test.ci95,
                p_value=test.p_value,
                baseline=first,
                wins=sum(b > a for a, b in zip(baseline, scores, strict=True)),
                losses=sum(b < a for a, b in zip(baseline, scores, strict=True)),
            )
        primary = [per_query[run.name][q.query_id][PRIMARY_METRIC] for q in data.queries]
        interval = bootstrap_ci(primary, n_resamples=config.n_resamples, seed=config.seed)
        online = sum(run.timing.get(k, 0.0) for k in ("encode_queries", "search", "rerank"))
        entries.append(
            ModelResult(
                name=run.name,
                model=run.model,
                params=run.params,
                metrics=mean_metrics(per_query[run.name].values()),
                ci95={PRIMARY_METRIC: interval},
                by_dim=run.by_dim,
                vs_first=comparison,
                per_kind=metrics_by_group(per_query[run.name], kinds),
                dim=run.dim,
                reranks=run.reranks,
                reranker=run.reranker,
                settings=run.settings,
                timing={k: round(v, 4) for k, v in run.timing.items()},
                latency_ms=round(1000 * online / len(data.queries), 3),
                vs_retriever=vs_retriever.get(run.name),
                rerank_ms=None if not run.reranks or rerank_ms is None else round(rerank_ms, 3),
                vectors_per_page=run.vectors_per_page,
                bytes_per_page=run.bytes_per_page,
            )
        )
    records = {
        q.query_id: QueryRecord(
            query=q.query,
            page_ids=q.page_ids,
            kind=q.kind,
            results={
                run.name: QueryResult(
                    metrics=per_query[run.name][q.query_id],
                    top=[data.page_ids[i] for i in run.ranked[row, :TOP_SAVED]],
                )
                for run in runs
            },
        )
        for row, q in enumerate(data.queries)
    }
    return Report(
        corpus=data.path,
        queries=len(data.queries),
        pages=len(data.page_ids),
        metrics=list(METRICS),
        models=entries,
        per_query=records,
        settings={**config.model_dump(), "twin_qrels": data.twin_qrels},
        pagefit_version=__version__,
        created=datetime.now().isoformat(timespec="seconds"),
    )
