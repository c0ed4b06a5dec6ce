"""The index of a learned-sparse model (`SparseEncoder`, SPLADE): its page vectors in pagefit's own files.

LanceDB's tables hold fixed-size dense vectors; a SPLADE page vector has the vocabulary's 30k dimensions of
which a few hundred are non-zero, so the index keeps them beside the manifest as one scipy CSR matrix::

    INDEX/
      manifest.json       `sparse` set (vocabulary, active dimensions and bytes per page), `similarity` dot
      sparse/pages.npz    (pages x vocabulary) float32 CSR, rows in the order of sparse/pages.json
      sparse/pages.json   the pages' metadata columns (page_id, doc_id, source, page_number, image, image_hash, text)
      bm25/               the BM25 index of the page text (with --hybrid), as for a dense index

`SparseSearcher` scores every page exactly (one sparse matrix product per query), ranks as `pagefit eval`
ranks (score, then page id), so a query's results through `search`/`serve` equal eval's ranking. An update
re-encodes the corpus (page vectors are not cached).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    from scipy import sparse

    from pagefit.index.manifest import IndexManifest

__all__ = ["SPARSE_DIR", "SparseSearcher", "index_sparse", "open_sparse_pages"]

logger = logging.getLogger(__name__)

SPARSE_DIR = "sparse"
_VECTORS = "pages.npz"
_META = "pages.json"
_DENSE_ONLY = {"dim": "--dim", "quantize": "--quantize", "ann": "--ann", "rescore_multiplier": "--rescore-multiplier",
               "passages": "--passages", "token_pooling": "--token-pooling", "first_stage": "--first-stage",
               "candidates": "--candidates"}  # fmt: skip


class SparseSearcher:
    """Exact search over sparse page vectors; ties broken by page id, as eval breaks them."""

    def __init__(self, vectors: sparse.csr_matrix, page_ids: list[str], similarity: str = "dot") -> None:
        self.vectors = vectors
        self.similarity = similarity
        order = np.argsort(np.asarray(page_ids, dtype=object), kind="stable")
        self.tie_order = np.empty(len(order), dtype=np.int64)
        self.tie_order[order] = np.arange(len(order))

    def search(self, queries: sparse.csr_matrix, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), each (queries x depth): the best pages first, -1 where the index has fewer."""
        from pagefit.sparse_embeddings import sparse_scores

        scores = sparse_scores(_Similarity(self.similarity), queries, self.vectors)
        depth = max(1, depth)
        rows = np.full((scores.shape[0], depth), -1, dtype=np.int64)
        out = np.zeros((scores.shape[0], depth), dtype=np.float32)
        for q, row in enumerate(scores):
            top = np.lexsort((self.tie_order, -row))[:depth]
            rows[q, : len(top)], out[q, : len(top)] = top, row[top]
        return rows, out


class _Similarity:
    def __init__(self, name: str) -> None:
        self.similarity_fn_name = name


def index_sparse(
    corpus: str | os.PathLike[str],
    model: Any,
    out: Path,
    *,
    spec: Any,
    pages: Any,
    previous: IndexManifest | None,
    fingerprint: str,
    hybrid: bool | None,
    fusion: Any,
    language: str | None,
    prompts: dict[str, str],
    batch_size: int,
    show_progress: bool,
    **dense_options: Any,
) -> IndexManifest:
    """Build (or rebuild) the sparse index of ``corpus`` in ``out``; see `pagefit.index.index` for the arguments.

    Raises:
        PagefitError: an option of dense or multi-vector indexes was given.
    """
    from pagefit import __version__
    from pagefit.corpus import corpus_image_paths
    from pagefit.evaluation.bm25 import BM25Settings
    from pagefit.index import _default_fusion, _describe, _row
    from pagefit.index.keyword import BM25_DIR, KeywordIndex
    from pagefit.index.manifest import HybridSettings, IndexManifest, SparseSettings, write_manifest
    from pagefit.index.store import META_COLUMNS
    from pagefit.models import model_name
    from pagefit.sparse_embeddings import encode_sparse_pages, sparse_bytes_per_page

    if wrong := [_DENSE_ONLY[k] for k, v in dense_options.items() if v not in (None, False, "none")]:
        raise PagefitError(
            f"{', '.join(wrong)}: not for the sparse model {model_name(model)} (its vectors are stored sparse "
            "and searched exactly); drop it"
        )
    paths = corpus_image_paths(corpus, pages)
    vectors = encode_sparse_pages(model, paths, batch_size=batch_size, show_progress=show_progress)
    keys = list(pages["image_hash"]) if "image_hash" in pages.column_names else [""] * len(paths)
    rows = [_row(pages[i], keys[i] or "") for i in range(len(paths))]
    meta = {name: [row[name] for row in rows] for name in META_COLUMNS}
    now = datetime.now().isoformat(timespec="seconds")
    hybrid = hybrid if hybrid is not None else bool(previous and previous.hybrid.enabled)
    bm25 = BM25Settings.for_language(language or (previous.hybrid.language if previous else None))
    manifest = IndexManifest(
        pagefit_version=__version__, corpus=str(Path(corpus).resolve()), model=_describe(spec),
        model_name=model_name(model), model_fingerprint=fingerprint, full_dim=int(vectors.shape[1]),
        dim=int(vectors.shape[1]), similarity=getattr(model, "similarity_fn_name", None) or "dot",
        hybrid=HybridSettings(enabled=hybrid, fusion=fusion or _default_fusion(previous, spec), language=bm25.language,
                              bm25=bm25.describe() if hybrid else {}),
        sparse=SparseSettings(vocabulary=int(vectors.shape[1]),
                              active_dims_per_page=round(vectors.nnz / max(1, len(paths)), 1),
                              bytes_per_page=round(sparse_bytes_per_page(vectors), 1)),
        prompts=prompts, store="scipy-csr", created=previous.created if previous else now, updated=now,
        complete=False,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, manifest)  # complete=False until the files are written
    _write_pages(out / SPARSE_DIR, vectors, meta)
    if hybrid:
        KeywordIndex.build(meta["text"], bm25).save(out)
    elif (out / BM25_DIR).exists():
        import shutil

        shutil.rmtree(out / BM25_DIR)
    stored = previous.pages if previous else 0
    manifest.pages = len(paths)
    manifest.last_run = {"added": len(paths), "removed": stored, "kept": 0}  # re-encoded whole
    manifest.complete = True
    write_manifest(out, manifest)
    logger.info("sparse index %s: %d pages, %.0f active dims per page", out, len(paths),
                manifest.sparse.active_dims_per_page)  # fmt: skip
    return manifest


def _write_pages(folder: Path, vectors: sparse.csr_matrix, meta: dict[str, list[Any]]) -> None:
    import io

    from scipy import sparse

    from pagefit._io import atomic_write_bytes, atomic_write_json

    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    sparse.save_npz(buffer, vectors.tocsr(), compressed=False)
    atomic_write_bytes(folder / _VECTORS, buffer.getvalue())
    atomic_write_json(folder / _META, meta)


def open_sparse_pages(path: Path, manifest: IndexManifest) -> tuple[dict[str, list[Any]], SparseSearcher]:
    """The metadata columns and the searcher of a sparse index folder."""
    import json

    from scipy import sparse

    folder = path / SPARSE_DIR
    try:
        vectors = sparse.load_npz(folder / _VECTORS).tocsr().astype(np.float32)
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PagefitError(
            f"{folder} is missing or unreadable ({type(e).__name__}): run `pagefit index {manifest.corpus} "
            f"--model {manifest.model} --out {path}` again"
        ) from e
    if vectors.shape[0] != len(meta.get("page_id", [])):
        raise PagefitError(f"{folder} holds {vectors.shape[0]} vectors for {len(meta.get('page_id', []))} pages: "
                           f"run `pagefit index` again")  # fmt: skip
    return meta, SparseSearcher(vectors, list(meta["page_id"]), manifest.similarity)
