"""`pagefit index`: an on-disk, incremental vector index of a corpus, read by `search` and `serve`.

Layout of an index folder (docs/formats.md)::

    INDEX/
      manifest.json      pagefit version, corpus, model + fingerprint, dim, quantization, hybrid, pages
      lancedb/           the LanceDB `pages` table: metadata, page text, full-precision vectors
                         (a multi-vector model: each page's float16 token vectors)
      vectors.usearch    the HNSW graph (only with ann), int8_ranges.npy (only with int8)
      multivector/       a multi-vector model's search files (`MultiVectorIndex`): memory-mapped
                         token vectors, one first-stage vector per page, page_ids.json
      bm25/              the BM25 index of the page text (only with --hybrid)

Pages are embedded through `pagefit.embeddings` (a page eval or mine already embedded with the same
model is never embedded again) in chunks, each committed to the table before the next starts: a run
killed at any point resumes where the last commit ended. Re-running on a corpus that gained or lost
pages embeds only the new ones and deletes the gone ones; a different model is refused.

A multi-vector model (`MultiVectorEncoder`, e.g. ``ocr-colminilm``) is embedded through
`pagefit.multivector_embeddings` (the page cache `eval` shares), optionally token-pooled, and searched
by a first stage over one vector per page whose best candidates are rescored by exact MaxSim
(`pagefit.index.multivector`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError
from pagefit.evaluation.bm25 import BM25Settings
from pagefit.evaluation.fusion import FusionConfig
from pagefit.index.manifest import (
    MANIFEST,
    HybridSettings,
    IndexManifest,
    MultiVectorSettings,
    read_manifest,
    write_manifest,
)
from pagefit.index.vectors import DEFAULT_RESCORE, Quantization

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from pagefit.index.multivector import FirstStage
    from pagefit.index.page_index import PageIndex
    from pagefit.ray_engine import Engine

__all__ = ["IndexManifest", "PageIndex", "export_qdrant", "index", "open_index", "search"]

logger = logging.getLogger(__name__)


def index(
    corpus: str | os.PathLike[str],
    model: str | os.PathLike[str] | SentenceTransformer,
    out: str | os.PathLike[str],
    *,
    dim: int | None = None,
    quantize: Quantization | None = None,
    hybrid: bool | None = None,
    fusion: FusionConfig | None = None,
    language: str | None = None,
    ann: bool | None = None,
    rescore_multiplier: int | None = None,
    token_pooling: float | None = None,
    first_stage: FirstStage | None = None,
    candidates: int | None = None,
    passages: bool | None = None,
    batch_size: int = 8,
    commit_every: int | None = None,
    trust_remote_code: bool = False,
    device: str | None = None,
    show_progress: bool = True,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    engine: Engine = "local",
    ray_address: str | None = None,
) -> IndexManifest:
    """Build or update the index of ``corpus`` in ``out``.

    Args:
        corpus: a corpus folder written by `pagefit ingest`.
        model: the embedding model (folder, hub or built-in name, or a loaded SentenceTransformer).
        out: the index folder; an existing index is updated (same model only).
        dim: store vectors truncated to this many dimensions (Matryoshka); default: the model's.
        quantize: search on int8 or binary codes, rescored on the full-precision vectors
            (default: the existing index's setting, else none).
        hybrid: also store a BM25 index of the page text (default: the existing index's setting).
        fusion: default fusion of `search`/`serve` for a hybrid index (e.g. a tuned weight).
        language: language of the page text (ISO 639-1), for BM25's stemmer and stopwords exactly as
            `pagefit eval --language` (default: the existing index's, else en).
        ann: HNSW graph search instead of an exhaustive scan, for large indexes (recall@10 ~0.98-0.99
            of exact at 100k vectors, see benchmarks/search.py; a scan is exact).
        rescore_multiplier: candidates per result rescored (default: int8 4, binary 10).
        token_pooling: multi-vector only: hierarchical token pooling factor of the page vectors
            (keep about 1/factor of them; 1 = none; default: the existing index's setting, else none).
        first_stage: multi-vector only: ``mean`` or ``muvera`` (default: the existing index's, else mean).
        candidates: multi-vector only: first-stage pages rescored by exact MaxSim (default 300).
        passages: models that read page text (`ocr-minilm`): also store each page's 100-word window
            vectors, and score a page as its vector mixed with its best window, as `pagefit eval`
            does (searched by an exact scan). Default: the existing index's setting, else on for a
            single-vector model that reads page text.
        batch_size: pages per forward pass.
        commit_every: pages embedded between two commits to the table (default 16 batches): what a
            killed run loses at most.
        trust_remote_code: allow model folders that hold code (see `load_model`).
        device: torch device; None lets Sentence Transformers choose.
        show_progress: show a progress bar.
        query_prompt: replaces the model's query prompt; stored in the manifest, search applies it
            (default: the existing index's, else the model's own).
        document_prompt: replaces the model's document prompt (default: the existing index's, else the model's).
        engine: `local` embeds in this process; `ray` on model replicas of a Ray cluster (one per GPU,
            else per CPU; `pagefit.ray_engine`), committed to the same table in the same order.
        ray_address: with `ray`, the cluster to join (default: `RAY_ADDRESS`, else a local Ray).

    Returns:
        The written manifest.
    """
    from pagefit import __version__
    from pagefit.corpus import load_corpus
    from pagefit.index.store import PageTable
    from pagefit.models import load_model, model_fingerprint, model_name, require_modality
    from pagefit.ray_engine import check_engine

    check_engine(engine)
    out = Path(out)
    pages = load_corpus(corpus)
    _check_out(out)
    prompts = _index_prompts(out, query_prompt, document_prompt)
    st_model = (
        model
        if not isinstance(model, (str, os.PathLike))
        else load_model(
            model,
            trust_remote_code=trust_remote_code,
            device=device,
            query_prompt=prompts.get("query"),
            document_prompt=prompts.get("document"),
        )
    )
    if prompts and not isinstance(model, (str, os.PathLike)):
        from pagefit.models.page_text import set_prompts

        set_prompts(st_model, query=prompts.get("query"), document=prompts.get("document"))
    require_modality(st_model, "image", role="a page encoder for an index")
    require_modality(st_model, "text", role="a query encoder for an index")
    fingerprint = model_fingerprint(st_model)
    previous = read_manifest(out) if (out / MANIFEST).exists() else None
    if previous is not None:
        _check_same_model(previous, fingerprint, model, out)
    from pagefit.sparse_embeddings import is_sparse

    if is_sparse(st_model):  # learned-sparse vectors, in pagefit's own files (pagefit.index.sparse)
        if engine == "ray":
            raise PagefitError(
                "--engine ray embeds dense and multi-vector models; index a sparse model without it"
            )
        from pagefit.index.sparse import index_sparse

        return index_sparse(corpus, st_model, out, spec=model, pages=pages, previous=previous, fingerprint=fingerprint,
                            hybrid=hybrid, fusion=fusion, language=language, prompts=prompts, batch_size=batch_size,
                            show_progress=show_progress, dim=dim, quantize=quantize, ann=ann,
                            rescore_multiplier=rescore_multiplier, passages=passages, token_pooling=token_pooling,
                            first_stage=first_stage, candidates=candidates)  # fmt: skip
    multi = _multi_vector_settings(
        st_model, previous, token_pooling=token_pooling, first_stage=first_stage, candidates=candidates,
        dim=dim, quantize=quantize, ann=ann, rescore_multiplier=rescore_multiplier, passages=passages,
    )  # fmt: skip
    passage_settings = None if multi is not None else _passage_settings(st_model, previous, passages)
    full_dim = _full_dim(st_model, pages, corpus)
    dim = _check_dim(dim, full_dim, previous)
    now = datetime.now().isoformat(timespec="seconds")
    quantize = quantize or (previous.quantization if previous else "none")
    hybrid = hybrid if hybrid is not None else bool(previous and previous.hybrid.enabled)
    bm25 = BM25Settings.for_language(language or (previous.hybrid.language if previous else None))
    manifest = IndexManifest(
        pagefit_version=__version__,
        corpus=str(Path(corpus).resolve()),
        model=_describe(model),
        model_name=model_name(st_model),
        model_fingerprint=fingerprint,
        full_dim=full_dim,
        dim=dim,
        quantization=quantize,
        rescore_multiplier=rescore_multiplier or DEFAULT_RESCORE[quantize],
        ann=bool(ann) if ann is not None else bool(previous and previous.ann),
        hybrid=HybridSettings(
            enabled=hybrid,
            fusion=fusion or _default_fusion(previous, model),
            language=bm25.language,
            bm25=bm25.describe() if hybrid else {},
        ),
        multivector=multi,
        passages=passage_settings,
        prompts=prompts,
        similarity="maxsim" if multi is not None else "cosine",
        pages=previous.pages if previous else 0,
        created=previous.created if previous else now,
        updated=now,
        complete=False,
    )
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest)  # complete=False until the run ends: readers refuse a half-built index
    table = PageTable(out, dim, multi_vector=multi is not None)
    encode = _page_encoder(st_model, dim, multi, batch_size)
    stream = _engine_stream(engine, st_model, dim, multi, batch_size, ray_address, show_progress)
    manifest.last_run = _sync_pages(
        table, pages, corpus, encode, commit_every or batch_size * 16, show_progress, stream
    )
    table.compact()
    _build_search_files(out, table, manifest)
    _build_passages(out, st_model, table, corpus, manifest, batch_size)
    manifest.pages = table.table.count_rows()
    manifest.table_version = table.version
    manifest.complete = True
    write_manifest(out, manifest)
    logger.info("index %s: %d pages (%s)", out, manifest.pages, manifest.last_run)
    return manifest


def open_index(path: str | os.PathLike[str], **kwargs: Any) -> PageIndex:
    """Open an index folder for search (see `PageIndex`)."""
    from pagefit.index.page_index import PageIndex

    return PageIndex(path, **kwargs)


def search(index_path: str | os.PathLike[str], query: str, **kwargs: Any) -> dict[str, Any]:
    """`pagefit search`: the top pages of an index for one query (see `PageIndex.search`)."""
    from pagefit.index.page_index import PageIndex

    options = {k: kwargs.pop(k) for k in ("trust_remote_code", "device") if k in kwargs}
    return PageIndex(index_path, **options).search(query, **kwargs)


def export_qdrant(*args: Any, **kwargs: Any) -> int:
    """Copy an index into a Qdrant collection (see `pagefit.index.qdrant.export_qdrant`)."""
    from pagefit.index.qdrant import export_qdrant as _export

    return _export(*args, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "PageIndex":
        from pagefit.index.page_index import PageIndex

        return PageIndex
    raise AttributeError(f"module 'pagefit.index' has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------- checks


def _describe(model: Any) -> str:
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        return str(Path(text).resolve()) if Path(text).is_dir() else text
    from pagefit.models import model_name

    return model_name(model)


def _index_prompts(out: Path, query: str | None, document: str | None) -> dict[str, str]:
    """The prompts the index applies (given ones over the existing index's); the manifest stores them."""
    stored = read_manifest(out).prompts if (out / MANIFEST).exists() else {}
    given = {name: text for name, text in (("query", query), ("document", document)) if text is not None}
    return {**stored, **given}


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST).exists())):
        raise PagefitError(f"{out} exists and is not a pagefit index folder: choose another --out")


def _check_same_model(previous: IndexManifest, fingerprint: str, model: Any, out: Path) -> None:
    if previous.model_fingerprint != fingerprint:
        raise PagefitError(
            f"{out} was built with another model ({previous.model}, fingerprint "
            f"{previous.model_fingerprint[:12]}); {_describe(model)} has fingerprint {fingerprint[:12]}: "
            f"index into a new --out, or pass --model {previous.model}"
        )


_SINGLE_VECTOR_FLAGS = {
    "dim": "--dim",
    "quantize": "--quantize",
    "ann": "--ann",
    "rescore_multiplier": "--rescore-multiplier",
    "passages": "--passages",
}


def _multi_vector_settings(
    model: Any,
    previous: IndexManifest | None,
    *,
    token_pooling: float | None,
    first_stage: FirstStage | None,
    candidates: int | None,
    **single_vector_options: Any,
) -> MultiVectorSettings | None:
    """The multi-vector settings of this run (None for a single-vector model); options of the other
    kind of model are refused, not ignored."""
    from pagefit.models import model_name
    from pagefit.multivector_embeddings import is_multi_vector

    name = model_name(model)
    if not is_multi_vector(model):
        given = {"--token-pooling": token_pooling, "--first-stage": first_stage, "--candidates": candidates}
        if wrong := [flag for flag, value in given.items() if value is not None]:
            raise PagefitError(f"{', '.join(wrong)}: for multi-vector models only; {name} is single-vector")
        return None
    options = single_vector_options.items()
    if wrong := [_SINGLE_VECTOR_FLAGS[k] for k, value in options if value not in (None, False, "none")]:
        raise PagefitError(
            f"{', '.join(wrong)}: not for the multi-vector model {name} (token vectors scored by MaxSim); "
            "drop it, or shrink its storage with --token-pooling FACTOR"
        )
    stored = previous.multivector if previous is not None else None
    defaults = stored or MultiVectorSettings()
    try:
        return MultiVectorSettings(
            first_stage=first_stage or defaults.first_stage,
            candidates=candidates or defaults.candidates,
            token_pooling=_pool_factor(token_pooling, stored, model, name),
        )
    except ValueError as e:
        raise PagefitError(f"bad multi-vector setting: {e.errors()[0]['msg']}") from e  # type: ignore[attr-defined]


def _pool_factor(
    token_pooling: float | None, stored: MultiVectorSettings | None, model: Any, name: str
) -> float | None:
    """The pooling factor of the index (None: no pooling); an existing index keeps its own."""
    from pagefit.multivector_embeddings import model_pools_pages

    if token_pooling is not None and token_pooling < 1:
        raise PagefitError(f"--token-pooling {token_pooling} must be >= 1 (1 = no pooling)")
    pool = stored.token_pooling if token_pooling is None and stored is not None else token_pooling
    pool = pool if pool is not None and pool > 1 else None
    if stored is not None and stored.token_pooling != pool:
        raise PagefitError(
            f"the index stores pages token-pooled with factor {stored.token_pooling or 1}; --token-pooling "
            f"{token_pooling} needs a new --out (page vectors are cached, so it costs no re-encoding)"
        )
    if pool is not None and model_pools_pages(model):
        raise PagefitError(
            f"{name} already pools its page vectors (token pooling baked in by train): drop --token-pooling"
        )
    return pool


def _check_dim(dim: int | None, full_dim: int, previous: IndexManifest | None) -> int:
    if dim is None:
        dim = previous.dim if previous is not None else full_dim
    if not 1 <= dim <= full_dim:
        raise PagefitError(f"--dim {dim} is out of range: the model embeds {full_dim} dimensions")
    if previous is not None and previous.dim != dim:
        raise PagefitError(
            f"the index stores {previous.dim}-dim vectors; --dim {dim} needs a new --out "
            "(embeddings are cached, so it costs no re-encoding)"
        )
    return dim


def _default_fusion(previous: IndexManifest | None, model: Any) -> FusionConfig:
    """The fusion when none is given: the existing index's, else the one `pagefit train` saved with the
    model (its weight tuned on the validation split), else weighted at 0.5."""
    from pagefit.evaluation.fusion import MODEL_FUSION_FILE, model_fusion

    if previous is not None:
        return previous.hybrid.fusion
    saved = model_fusion(model)
    if saved is not None:
        logger.info(
            "hybrid fusion from %s: %s weight %g", Path(model) / MODEL_FUSION_FILE, saved.method, saved.weight
        )
        return saved
    return FusionConfig()


def _full_dim(model: SentenceTransformer, pages: Any, corpus: Any) -> int:
    from pagefit.embeddings import full_dimension
    from pagefit.multivector_embeddings import is_multi_vector

    if is_multi_vector(model):  # token vectors: no Matryoshka truncation
        return int(model.get_embedding_dimension())
    with full_dimension(model):
        dim = model.get_embedding_dimension()
    if dim is None:
        from pagefit.corpus import corpus_image_paths
        from pagefit.embeddings import encode_pages

        dim = encode_pages(model, corpus_image_paths(corpus, pages)[:1], show_progress=False).shape[1]
    return int(dim)


# ------------------------------------------------------------------------------------------ the pages


def _page_encoder(
    model: Any, dim: int, multi: MultiVectorSettings | None, batch_size: int
) -> Callable[[list[str], list[str]], Any]:
    """``encode(paths, keys)``: what the table stores per page, through the page caches that eval shares."""
    from pagefit.embeddings import encode_pages, truncate_embeddings

    if multi is None:
        return lambda paths, keys: truncate_embeddings(
            encode_pages(model, paths, keys=keys, batch_size=batch_size, show_progress=False), dim
        )
    from pagefit.multivector_embeddings import encode_multivector_pages, pool_token_vectors

    def encode(paths: list[str], keys: list[str]) -> Any:
        vectors = encode_multivector_pages(
            model, paths, keys=keys, batch_size=batch_size, show_progress=False
        )
        return pool_token_vectors(vectors, multi.token_pooling) if multi.token_pooling else vectors

    return encode


def _engine_stream(
    engine: Engine,
    model: Any,
    dim: int,
    multi: MultiVectorSettings | None,
    batch_size: int,
    ray_address: str | None,
    show_progress: bool,
) -> Callable[[list[int], list[str], list[str], int], Any] | None:
    """The page embedding of `--engine ray`: replicas of this very model (prompts and all) on a Ray cluster;
    None: this process embeds (see `_sync_pages`)."""
    if engine != "ray":
        return None
    from pagefit.ray_engine import embed_page_stream

    return embed_page_stream(_page_encoder, model, dim, multi, batch_size, ray_address, show_progress)


def _sync_pages(
    table: Any,
    pages: Any,
    corpus: Any,
    encode: Callable[[list[str], list[str]], Any],
    chunk: int,
    show_progress: bool,
    stream: Callable[[list[int], list[str], list[str], int], Any] | None = None,
) -> dict[str, int]:
    """Delete pages that left the corpus (or changed), embed and add the new ones, chunk by chunk."""
    from pagefit._progress import progress_bar
    from pagefit.corpus import corpus_image_paths
    from pagefit.embeddings import page_key

    paths = corpus_image_paths(corpus, pages)
    keys = list(pages["image_hash"]) if "image_hash" in pages.column_names else [None] * len(paths)
    keys = [key or page_key(path) for key, path in zip(keys, paths, strict=True)]
    ids = [str(p) for p in pages["page_id"]]
    stored = table.hashes()
    current = dict(zip(ids, keys, strict=True))
    gone = [pid for pid, key in stored.items() if current.get(pid) != key]
    table.delete(gone)
    todo = [i for i, pid in enumerate(ids) if stored.get(pid) != current[pid]]
    chunk = max(1, chunk)
    embedded = (stream or _embed_chunks(encode))(todo, paths, keys, chunk)
    with progress_bar("index", total=len(todo), unit="pages", enabled=show_progress) as bar:
        for rows, vectors in embedded:
            table.add([_row(pages[i], keys[i]) for i in rows], vectors)
            bar.advance(len(rows))
    return {"added": len(todo), "removed": len(gone), "kept": len(ids) - len(todo)}


def _embed_chunks(encode: Callable[[list[str], list[str]], Any]) -> Callable[..., Any]:
    """``stream(rows, paths, keys, chunk)``: ``(rows, vectors)`` chunk by chunk, embedded in this process."""

    def stream(todo: list[int], paths: list[str], keys: list[str], chunk: int) -> Any:
        for start in range(0, len(todo), chunk):
            rows = todo[start : start + chunk]
            yield rows, encode([paths[i] for i in rows], [keys[i] for i in rows])

    return stream


def _row(page: dict[str, Any], key: str) -> dict[str, Any]:
    return {
        "page_id": str(page["page_id"]),
        "doc_id": str(page.get("doc_id") or ""),
        "source": str(page.get("source") or ""),
        "page_number": int(page.get("page_number") or 1),
        "image": str(page["image"]),
        "image_hash": key,
        "text": page.get("text") or "",
    }


def _build_search_files(out: Path, table: Any, manifest: IndexManifest) -> None:
    """The search structures derived from the table: HNSW graph / int8 ranges, BM25 index."""
    from pagefit.index.keyword import BM25_DIR, KeywordIndex
    from pagefit.index.vectors import VectorSearcher

    if manifest.multivector is not None:
        from pagefit.index.multivector import MULTIVECTOR_DIR

        meta, pages = table.read_multi_vector()
        searcher = build_multi_vector_searcher(meta["page_id"], pages, manifest.multivector)
        searcher.save(out / MULTIVECTOR_DIR)
        manifest.multivector.vectors_per_page = round(searcher.index.vectors_per_page, 2)
        manifest.multivector.bytes_per_page = round(searcher.index.bytes_per_page, 1)
    else:
        meta, vectors = table.read()
        searcher = VectorSearcher(
            vectors, manifest.quantization, ann=manifest.ann, rescore_multiplier=manifest.rescore_multiplier
        )
        searcher.save(out)
    if manifest.hybrid.enabled:
        KeywordIndex.build(meta["text"], BM25Settings(**manifest.hybrid.bm25)).save(out)
    elif (out / BM25_DIR).exists():
        import shutil

        shutil.rmtree(out / BM25_DIR)


def _passage_settings(model: Any, previous: IndexManifest | None, passages: bool | None) -> Any:
    """The passage settings of a single-vector index (None: pages scored by their vector alone)."""
    from pagefit.index.manifest import PassageSettings
    from pagefit.passages import reads_text

    if passages is None:
        return (
            previous.passages if previous is not None else (PassageSettings() if reads_text(model) else None)
        )
    if passages and not reads_text(model):
        raise PagefitError(
            "--passages needs a model that reads pages as text (e.g. ocr-minilm or a model trained from it); "
            "this model reads page pixels"
        )
    return PassageSettings() if passages else None


def _build_passages(
    out: Path, model: Any, table: Any, corpus: Any, manifest: IndexManifest, batch_size: int
) -> None:
    """INDEX/passages/: the window vectors of every page (at the index's dimension) and their page ids."""
    import shutil

    from pagefit._io import atomic_write_bytes, atomic_write_json
    from pagefit.index.page_index import PASSAGE_OWNERS, PASSAGE_VECTORS, PASSAGES_DIR

    folder = out / PASSAGES_DIR
    if manifest.passages is None:
        shutil.rmtree(folder, ignore_errors=True)
        return
    import io

    import numpy as np

    from pagefit.embeddings import truncate_embeddings
    from pagefit.passages import PassageConfig, encode_windows

    meta = table.read_meta()
    paths = [str(Path(corpus) / image) for image in meta["image"]]
    settings = manifest.passages
    config = PassageConfig(words=settings.words, stride=settings.stride, weight=settings.weight)
    keys = meta["image_hash"] if all(meta["image_hash"]) else None
    windows = encode_windows(model, paths, config, keys=keys, batch_size=max(batch_size, 32))
    vectors = truncate_embeddings(windows.embeddings, manifest.dim)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(vectors, dtype=np.float32))
    atomic_write_bytes(folder / PASSAGE_VECTORS, buffer.getvalue())
    atomic_write_json(folder / PASSAGE_OWNERS, [meta["page_id"][i] for i in windows.owner.tolist()])
    settings.windows = len(windows.owner)
    from pagefit.index.vectors import VectorSearcher

    # the windows are searched as the pages are (int8 codes, HNSW graph: `pagefit.index.passage_searcher`)
    VectorSearcher(vectors, manifest.quantization, ann=manifest.ann,
                   rescore_multiplier=manifest.rescore_multiplier).save(folder)  # fmt: skip


def build_multi_vector_searcher(page_ids: list[str], pages: Any, settings: MultiVectorSettings) -> Any:
    """The `MultiVectorSearcher` of the table's pages (already pooled: the table stores what is searched)."""
    import numpy as np

    from pagefit.index.multivector import MultiVectorIndex, MultiVectorSearcher

    built = MultiVectorIndex.build(pages, first_stage=settings.first_stage, dtype=np.float16)
    return MultiVectorSearcher(built, page_ids, candidates=settings.candidates)
