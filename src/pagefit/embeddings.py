"""Page and query embeddings, with page embeddings cached on disk once per model and page.

The cache lives in ``cache_dir("embeddings", model_fingerprint(model))`` and is keyed by the page's
content hash (the corpus ``image_hash`` column, i.e. `pagefit._io.image_key` of the page image), so
``eval``, ``mine`` and ``index`` share it, across runs and processes, and a page is encoded once per
model. A model whose page route reads the page's *text* (`OcrText`, as in ``ocr-minilm``) embeds
whatever text the text cache holds for that image, which changes when the page is ingested again
another way (text layer vs OCR) or the text is cleaned differently: for such a model the key is the
hash of the exact tokenizer output the route feeds its encoder (`text_route_keys`), so a changed text
can never be served a stale embedding. It always holds *full-dimension* embeddings: a model loaded with ``truncate_dim`` is encoded
without it, and callers truncate (see `truncate_embeddings`), so no truncated vector can ever be
served to a caller asking for another dimension.

On disk: append-only shards, ``<name>.npy`` (float32 rows) and ``<name>.keys.json`` (the row keys
and the dimension, written last). Each file is written atomically, and a shard counts only once its
keys file exists, so concurrent processes may read and write the same cache; a reader memory-maps
only the shards holding the keys it asks for.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pagefit._io import atomic_write_bytes, atomic_write_json, cache_dir, image_key
from pagefit.errors import PagefitError

if TYPE_CHECKING:
    from PIL import Image
    from sentence_transformers import SentenceTransformer

__all__ = [
    "EmbeddingCache",
    "distinct_rows",
    "encode_corpus",
    "encode_pages",
    "encode_queries",
    "full_dimension",
    "page_key",
    "score_distinct_rows",
    "similarity_scores",
    "text_route_keys",
    "truncate_embeddings",
]

logger = logging.getLogger(__name__)

_KEYS_SUFFIX = ".keys.json"
_CHUNK_BATCHES = 16  # encode calls per shard: progress on disk survives an interrupted run


class ShardedCache:
    """Arrays of one model keyed by page content hash, in atomic shard files: `SHARD.npy` (plus what a
    subclass adds) and `SHARD.keys.json` written last, so a reader sees a shard whole or not at all.
    Shards written by other processes are found on the next miss."""

    namespace = "embeddings"

    def __init__(self, fingerprint: str, dim: int, root: str | os.PathLike[str] | None = None) -> None:
        self.dim = dim
        self.root = Path(root) if root is not None else cache_dir(self.namespace, fingerprint)
        self.root.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[str, int]] = {}
        self._scanned: set[str] = set()

    def _refresh(self) -> None:
        """Index the shards other writers (or processes) added since the last look."""
        for keys_file in sorted(self.root.glob(f"*{_KEYS_SUFFIX}")):
            shard = keys_file.name[: -len(_KEYS_SUFFIX)]
            if shard in self._scanned:
                continue
            self._scanned.add(shard)
            try:
                with open(keys_file, encoding="utf-8") as f:
                    meta = json.load(f)
            except (OSError, ValueError):
                logger.warning("ignoring unreadable %s cache shard %s", self.namespace, keys_file)
                continue
            if meta.get("dim") != self.dim:
                logger.warning(
                    "ignoring %s cache shard %s of dim %s (want %d)",
                    self.namespace,
                    shard,
                    meta.get("dim"),
                    self.dim,
                )
                continue
            for row, key in enumerate(meta["keys"]):
                self._index.setdefault(key, (shard, row))

    def __contains__(self, key: str) -> bool:
        if key not in self._index:
            self._refresh()
        return key in self._index

    @staticmethod
    def _new_shard() -> str:
        return f"{time.time_ns():x}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def _publish_keys(self, shard: str, keys: Sequence[str]) -> None:
        """Write the shard's key file (last: it makes the shard visible) and index it here."""
        atomic_write_json(self.root / f"{shard}{_KEYS_SUFFIX}", {"dim": self.dim, "keys": list(keys)})
        self._scanned.add(shard)
        for row, key in enumerate(keys):
            self._index.setdefault(key, (shard, row))


class EmbeddingCache(ShardedCache):
    """Full-dimension embeddings of one model, keyed by page content hash, in atomic shard files."""

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cached rows for ``keys``: (float32 array ``len(keys) x dim``, boolean mask of hits).

        Rows of misses are zero.
        """
        if any(key not in self._index for key in keys):
            self._refresh()
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        by_shard: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, key in enumerate(keys):
            if (hit := self._index.get(key)) is not None:
                by_shard[hit[0]].append((i, hit[1]))
        for shard, pairs in by_shard.items():
            rows = self._read_rows(shard, [row for _, row in pairs])
            if rows is None:
                continue
            targets = [i for i, _ in pairs]
            out[targets] = rows
            found[targets] = True
        return out, found

    def _read_rows(self, shard: str, rows: list[int]) -> np.ndarray | None:
        try:
            data = np.load(self.root / f"{shard}.npy", mmap_mode="r")
        except (OSError, ValueError):
            logger.warning("ignoring unreadable embedding cache shard %s", shard)
            return None
        if data.ndim != 2 or data.shape[1] != self.dim or max(rows) >= data.shape[0]:
            logger.warning("ignoring embedding cache shard %s of shape %s", shard, data.shape)
            return None
        return np.asarray(data[rows], dtype=np.float32)

    def put(self, keys: Sequence[str], embeddings: np.ndarray) -> None:
        """Store rows (one per key) as a new shard."""
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.shape != (len(keys), self.dim):
            raise ValueError(f"expected embeddings of shape {(len(keys), self.dim)}, got {embeddings.shape}")
        if not len(keys):
            return
        shard = self._new_shard()
        buffer = io.BytesIO()
        np.save(buffer, embeddings)
        atomic_write_bytes(self.root / f"{shard}.npy", buffer.getvalue())
        self._publish_keys(shard, keys)


@contextmanager
def full_dimension(model: SentenceTransformer) -> Iterator[None]:
    """Within the block, ``model`` encodes full-dimension embeddings whatever its ``truncate_dim``."""
    saved = model.truncate_dim
    model.truncate_dim = None
    try:
        yield
    finally:
        model.truncate_dim = saved


def truncate_embeddings(embeddings: np.ndarray, dim: int, *, normalize: bool = True) -> np.ndarray:
    """Matryoshka truncation of full embeddings to ``dim`` columns, re-normalised to unit length."""
    out = np.array(embeddings[:, :dim], dtype=np.float32)
    if normalize:
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(the first row of each distinct vector, each row's distinct id), or None when no two rows are equal
    (~0.1 s for 100k rows; np.unique with axis=0 sorts: 2.6 s)."""
    first: dict[bytes, int] = {}
    inverse = np.fromiter((first.setdefault(row.tobytes(), len(first)) for row in rows), np.int64, len(rows))
    if len(first) == len(rows):
        return None
    return np.unique(inverse, return_index=True)[1], inverse


def score_distinct_rows(
    score: Callable[[np.ndarray, np.ndarray], np.ndarray],
    queries: np.ndarray,
    rows: np.ndarray,
    distinct: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """(queries, rows) `score(queries, rows)` with identical rows scored once, so they tie bit for bit.

    A matrix product can round the same column differently at another position; twins (pixel-identical
    pages, a page's windows of the same text) would then have their tie broken by noise, not page id.
    Eval and the index both score through this, so they rank twins the same way. `distinct`:
    `distinct_rows(rows)`, which the index computes once and reuses for every query.
    """
    if distinct is None:
        return score(queries, rows)
    firsts, inverse = distinct
    return score(queries, rows[firsts])[:, inverse]


def similarity_scores(
    model: SentenceTransformer, queries: np.ndarray, pages: np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """(queries, pages) scores with the model's own similarity (cosine normalises truncated vectors);
    identical page vectors get bit-identical scores (`score_distinct_rows`). Eval, the index and
    `pagefit train`'s held-out evaluation score through this."""
    import torch

    def score(queries: np.ndarray, pages: np.ndarray) -> np.ndarray:
        pages_t = torch.from_numpy(np.ascontiguousarray(pages, dtype=np.float32))
        scores = np.empty((len(queries), len(pages)), dtype=np.float32)
        for start in range(0, len(queries), chunk):
            block = torch.from_numpy(np.ascontiguousarray(queries[start : start + chunk], dtype=np.float32))
            scores[start : start + chunk] = model.similarity(block, pages_t).float().cpu().numpy()
        return scores

    return score_distinct_rows(score, queries, pages, distinct_rows(pages))


def page_key(image: Image.Image | str | os.PathLike[str]) -> str:
    """The content hash a page is cached under (pixels, not file bytes: see `pagefit._io.image_key`)."""
    from pagefit.models.ocr_text import load_page_image

    return image_key(load_page_image(image))


def _text_reader(model: SentenceTransformer) -> Any | None:
    """The model's page-text reader when it reads pages as text (an `OcrText` module, or the text route
    of a text model, `pagefit.models.page_text`), else None."""
    from pagefit.models.ocr_text import OcrText
    from pagefit.models.page_text import page_text_route

    route = page_text_route(model)
    if route is not None:
        return route
    return next((module for module in model.modules() if isinstance(module, OcrText)), None)


def text_route_keys(model: SentenceTransformer, images: Sequence[Any]) -> list[str] | None:
    """Cache keys of pages for a model whose page route reads text: the hash of what it tokenizes.

    Each page goes through the route's own ``preprocess`` (text cache or OCR, any cleaning the route
    applies, the shared tokenizer with its truncation), and the key hashes every tensor it returns, so
    two inputs share a key exactly when the encoder would see the same tokens.

    Returns:
        One key per image, or None when the model's pages are not read as text (images are then keyed
        by their pixels, `page_key`).
    """
    reader = _text_reader(model)
    if reader is None:
        return None
    keys = []
    for image in images:
        features = reader.preprocess([image])
        digest = hashlib.sha256()
        for name in sorted(features):
            value = features[name]
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            if isinstance(value, np.ndarray):
                digest.update(f"{name}:{value.dtype}:{value.shape}:".encode())
                digest.update(np.ascontiguousarray(value).tobytes())
            elif isinstance(value, (str, int, float, bool)) or value is None:
                digest.update(f"{name}={value!r};".encode())
        keys.append("tokens-" + digest.hexdigest()[:40])
    return keys


def encode_pages(
    model: SentenceTransformer,
    images: Sequence[Image.Image | str | os.PathLike[str]],
    *,
    keys: Sequence[str] | None = None,
    batch_size: int = 8,
    show_progress: bool = True,
    cache: bool = True,
) -> np.ndarray:
    """Full-dimension float32 embeddings of page images, in input order; only cache misses are encoded.

    Args:
        model: a model that can embed images (see `pagefit.models.require_modality`).
        images: PIL images or image file paths.
        keys: the pages' content hashes (the corpus ``image_hash`` column); computed when omitted,
            which means decoding every image. Unused for a model that reads pages as text: its pages
            are keyed by the tokens it embeds (`text_route_keys`).
        batch_size: images per forward pass.
        show_progress: show a progress bar while encoding misses.
        cache: read and write the on-disk cache (False: encode everything, store nothing).
    """
    from pagefit.models import model_fingerprint, require_modality

    require_modality(model, "image", role="a page encoder")
    images = [os.fspath(image) if isinstance(image, os.PathLike) else image for image in images]
    if keys is not None and len(keys) != len(images):
        raise ValueError(f"got {len(keys)} keys for {len(images)} images")
    _check_image_paths(images)
    with full_dimension(model):
        if not cache:
            return _encode_documents(model, images, batch_size, show_progress)
        text_keys = text_route_keys(model, images)
        if text_keys is not None:
            keys = text_keys
        keys = list(keys) if keys is not None else [page_key(image) for image in images]
        if not keys:
            return np.zeros((0, model.get_embedding_dimension() or 0), dtype=np.float32)
        store = EmbeddingCache(model_fingerprint(model), _full_dim(model, images[0]))
        return cached_rows(
            store, keys, images,
            lambda miss_keys, miss: _encode_and_store(model, store, miss_keys, miss, batch_size, show_progress),
            what="pages",
        )  # fmt: skip


def cached_rows(
    store: EmbeddingCache | None,
    keys: Sequence[str],
    inputs: Sequence[Any],
    encode: Any,
    *,
    what: str,
) -> np.ndarray:
    """One row per key, in order: each distinct key read from `store`, the misses encoded once.

    Args:
        store: the model's embedding cache (None: nothing is looked up, every distinct key is encoded).
        keys: the content key of each input (repeats share one row).
        inputs: what to encode for each key (the first input of a repeated key is used).
        encode: `encode(miss_keys, miss_inputs) -> rows`; it must also store them (or not, for no cache).
        what: the inputs' name for the log line.
    """
    first_of: dict[str, int] = {}
    for i, key in enumerate(keys):
        first_of.setdefault(key, i)
    unique = list(first_of)
    position = {key: i for i, key in enumerate(unique)}
    if store is None:
        rows = encode(unique, [inputs[first_of[key]] for key in unique])
        return rows[[position[key] for key in keys]]
    rows, found = store.get(unique)
    missing = [i for i, hit in enumerate(found) if not hit]
    if missing:
        logger.info(
            "encoding %d of %d %s (%d cached)", len(missing), len(unique), what, len(unique) - len(missing)
        )
        miss_keys = [unique[i] for i in missing]
        rows[missing] = encode(miss_keys, [inputs[first_of[key]] for key in miss_keys])
    return rows[[position[key] for key in keys]]


def _check_image_paths(images: Sequence[Any]) -> None:
    """Sentence Transformers silently encodes a path it does not take for an image as text: refuse."""
    from sentence_transformers.base.modality import is_image_url_or_path

    bad = [image for image in images if isinstance(image, str) and not is_image_url_or_path(image)]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise PagefitError(
            f"{len(bad)} page image(s) missing or not an image file (.png, .jpg, ...): {shown}"
        )


def _encode_and_store(
    model: SentenceTransformer,
    store: EmbeddingCache,
    keys: list[str],
    images: list[Any],
    batch_size: int,
    show_progress: bool,
) -> np.ndarray:
    from tqdm.auto import tqdm

    chunk = batch_size * _CHUNK_BATCHES
    parts = []
    with tqdm(total=len(images), desc="Encoding pages", unit="page", disable=not show_progress) as bar:
        for start in range(0, len(images), chunk):
            embeddings = _encode_documents(model, images[start : start + chunk], batch_size, False)
            store.put(keys[start : start + chunk], embeddings)
            parts.append(embeddings)
            bar.update(len(embeddings))
    return np.concatenate(parts)


def _encode_documents(
    model: SentenceTransformer, images: list[Any], batch_size: int, show_progress: bool
) -> np.ndarray:
    if not images:
        return np.zeros((0, model.get_embedding_dimension() or 0), dtype=np.float32)
    embeddings = model.encode_document(
        images, batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True
    )
    return np.asarray(embeddings, dtype=np.float32)


def _full_dim(model: SentenceTransformer, probe: Any) -> int:
    """The model's embedding size without truncation; encodes ``probe`` when the model cannot tell."""
    dim = model.get_embedding_dimension()
    if dim is None:
        dim = _encode_documents(model, [probe], 1, False).shape[1]
    return dim


def encode_queries(
    model: SentenceTransformer, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
) -> np.ndarray:
    """Full-dimension float32 query embeddings (``model.encode_query``), in input order."""
    with full_dimension(model):
        embeddings = model.encode_query(
            list(texts), batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True
        )
    return np.asarray(embeddings, dtype=np.float32).reshape(len(texts), -1)


def encode_corpus(
    model: SentenceTransformer,
    corpus_dir: str | os.PathLike[str],
    *,
    batch_size: int = 8,
    show_progress: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Embeddings of every page of a corpus folder: (page ids, full-dimension float32 rows), in row order."""
    from pagefit.corpus import corpus_image_paths, load_corpus

    pages = load_corpus(corpus_dir)
    paths = corpus_image_paths(corpus_dir, pages)
    keys = pages["image_hash"] if "image_hash" in pages.column_names else None
    if keys is not None and not all(keys):
        keys = None
    embeddings = encode_pages(model, paths, keys=keys, batch_size=batch_size, show_progress=show_progress)
    return list(pages["page_id"]), embeddings
