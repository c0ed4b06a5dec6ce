"""Multi-vector page embeddings: a flat on-disk layout, and a cache once per model and page.

A multi-vector model (`sentence_transformers.MultiVectorEncoder`: ColBERT, ColPali, `ocr-colminilm`)
gives each page a variable number of token vectors. `MultiVectorPages` holds a set of pages as one
flat ``(total vectors, dim)`` array plus ``offsets`` (page ``i`` is rows ``offsets[i]:offsets[i+1]``),
which can be memory-mapped, so 10k pages x ~1k vectors need not sit in memory at once.

The cache mirrors `pagefit.embeddings` (same keys: the page's content hash; same shard protocol:
data files first, the keys file last, each atomic) in its own folder,
``cache_dir("multivector", model_fingerprint(model))``: ``<shard>.npy`` (float32 vectors),
``<shard>.offsets.npy`` and ``<shard>.keys.json``. `eval` and the index code share it.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pagefit._io import atomic_write_bytes
from pagefit.embeddings import ShardedCache

if TYPE_CHECKING:
    from sentence_transformers import MultiVectorEncoder

__all__ = [
    "MultiVectorCache",
    "MultiVectorPages",
    "encode_multivector_pages",
    "encode_multivector_queries",
    "is_multi_vector",
    "model_pools_pages",
    "pool_token_vectors",
]

logger = logging.getLogger(__name__)

_KEYS_SUFFIX = ".keys.json"
_OFFSETS_SUFFIX = ".offsets.npy"
_CHUNK = 128  # pages per encode call and shard: progress on disk survives an interrupted run


@dataclass
class MultiVectorPages:
    """Token vectors of many pages: ``vectors[offsets[i]:offsets[i+1]]`` belong to page ``i``."""

    vectors: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_list(cls, pages: Sequence[np.ndarray], *, dim: int | None = None, dtype: Any = np.float32):
        """Pack a list of ``(n_i, dim)`` arrays (torch tensors are converted)."""
        arrays = [_to_numpy(p) for p in pages]
        if dim is None:
            dim = arrays[0].shape[1] if arrays else 0
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(a) for a in arrays])
        vectors = (
            np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros((0, dim), dtype=dtype)
        )
        return cls(np.ascontiguousarray(vectors), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def page(self, index: int) -> np.ndarray:
        return self.vectors[self.offsets[index] : self.offsets[index + 1]]

    def pages(self, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        return [self.page(int(i)) for i in indices]

    def select(self, indices: Sequence[int] | np.ndarray) -> MultiVectorPages:
        """A new (in-memory) set of the given pages, in that order."""
        return MultiVectorPages.from_list(self.pages(indices), dim=self.dim, dtype=self.vectors.dtype)

    def vectors_per_page(self) -> float:
        return float(self.lengths.mean()) if len(self) else 0.0

    def bytes_per_page(self, bytes_per_value: int | None = None) -> float:
        """Mean stored size of a page: vectors x dim x bytes per value (default: this array's dtype)."""
        size = bytes_per_value if bytes_per_value is not None else self.vectors.dtype.itemsize
        return self.vectors_per_page() * self.dim * size

    def save(self, folder: str | os.PathLike[str], name: str = "pages") -> None:
        """Write ``<name>.vectors.npy`` and ``<name>.offsets.npy`` (each atomically)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / f"{name}.vectors.npy", _npy_bytes(self.vectors))
        atomic_write_bytes(folder / f"{name}.offsets.npy", _npy_bytes(self.offsets))

    @classmethod
    def load(cls, folder: str | os.PathLike[str], name: str = "pages", *, mmap: bool = True):
        """Read what `save` wrote; the vectors are memory-mapped unless ``mmap`` is False."""
        folder = Path(folder)
        vectors = np.load(folder / f"{name}.vectors.npy", mmap_mode="r" if mmap else None)
        return cls(vectors, np.load(folder / f"{name}.offsets.npy"))


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().float().cpu().numpy()
    return np.asarray(array)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array))
    return buffer.getvalue()


class MultiVectorCache(ShardedCache):
    """Token vectors of one model's pages, keyed by page content hash, in atomic shard files."""

    namespace = "multivector"

    def get(self, keys: Sequence[str]) -> list[np.ndarray | None]:
        """Each key's ``(n, dim)`` float32 vectors, or None when it is not cached."""
        if any(key not in self._index for key in keys):
            self._refresh()
        out: list[np.ndarray | None] = [None] * len(keys)
        opened: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
        for i, key in enumerate(keys):
            hit = self._index.get(key)
            if hit is None:
                continue
            shard, row = hit
            if shard not in opened:
                opened[shard] = self._open(shard)
            if opened[shard] is not None:
                vectors, offsets = opened[shard]
                out[i] = np.array(vectors[offsets[row] : offsets[row + 1]], dtype=np.float32)
        return out

    def _open(self, shard: str) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            vectors = np.load(self.root / f"{shard}.npy", mmap_mode="r")
            offsets = np.load(self.root / f"{shard}{_OFFSETS_SUFFIX}")
        except (OSError, ValueError):
            logger.warning("ignoring unreadable multi-vector cache shard %s", shard)
            return None
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or offsets[-1] != len(vectors):
            logger.warning("ignoring multi-vector cache shard %s of shape %s", shard, vectors.shape)
            return None
        return vectors, offsets

    def put(self, keys: Sequence[str], pages: Sequence[np.ndarray]) -> None:
        """Store each key's vectors as one new shard."""
        if len(keys) != len(pages):
            raise ValueError(f"got {len(keys)} keys for {len(pages)} pages")
        if not keys:
            return
        packed = MultiVectorPages.from_list(pages, dim=self.dim)
        if packed.dim != self.dim:
            raise ValueError(f"expected vectors of dim {self.dim}, got {packed.dim}")
        shard = self._new_shard()
        atomic_write_bytes(self.root / f"{shard}.npy", _npy_bytes(packed.vectors))
        atomic_write_bytes(self.root / f"{shard}{_OFFSETS_SUFFIX}", _npy_bytes(packed.offsets))
        self._publish_keys(shard, keys)


def encode_multivector_pages(
    model: MultiVectorEncoder,
    images: Sequence[Any],
    *,
    keys: Sequence[str] | None = None,
    batch_size: int = 8,
    show_progress: bool = True,
    cache: bool = True,
) -> MultiVectorPages:
    """Token vectors of page images (paths or PIL images), in input order; only cache misses are encoded.

    Args:
        model: a `MultiVectorEncoder` that reads images.
        images: page images or image file paths.
        keys: the pages' content hashes (corpus ``image_hash``); computed from the images when omitted.
        batch_size: pages per forward pass.
        show_progress: progress bar while encoding misses.
        cache: read and write the on-disk cache.
    """
    from pagefit.embeddings import _check_image_paths, page_key
    from pagefit.models import model_fingerprint, require_modality

    require_modality(model, "image", role="a page encoder")
    images = [os.fspath(i) if isinstance(i, os.PathLike) else i for i in images]
    _check_image_paths(images)
    dim = int(model.get_embedding_dimension() or 0)
    if not cache:
        return MultiVectorPages.from_list(_encode(model, images, batch_size, show_progress), dim=dim)
    keys = list(keys) if keys is not None else [page_key(image) for image in images]
    if len(keys) != len(images):
        raise ValueError(f"got {len(keys)} keys for {len(images)} images")
    store = MultiVectorCache(model_fingerprint(model), dim)
    found = store.get(keys)
    missing = sorted({keys[i]: i for i, hit in reversed(list(enumerate(found))) if hit is None}.values())
    if missing:
        logger.info("encoding %d of %d pages (%d cached)", len(missing), len(keys), len(keys) - len(missing))
        encoded = _encode_and_store(model, store, [keys[i] for i in missing], [images[i] for i in missing],
                                    batch_size, show_progress)  # fmt: skip
        by_key = dict(zip((keys[i] for i in missing), encoded, strict=True))
        found = [hit if hit is not None else by_key[key] for key, hit in zip(keys, found, strict=True)]
    return MultiVectorPages.from_list(found, dim=dim)


def _encode(model: MultiVectorEncoder, images: list[Any], batch_size: int, show: bool) -> list[np.ndarray]:
    if not images:
        return []
    return [
        _to_numpy(e).astype(np.float32, copy=False)
        for e in model.encode_document(images, batch_size=batch_size, show_progress_bar=show)
    ]


def _encode_and_store(
    model: MultiVectorEncoder,
    store: MultiVectorCache,
    keys: list[str],
    images: list[Any],
    batch_size: int,
    show_progress: bool,
) -> list[np.ndarray]:
    from tqdm.auto import tqdm

    out: list[np.ndarray] = []
    with tqdm(total=len(images), desc="Encoding pages", unit="page", disable=not show_progress) as bar:
        for start in range(0, len(images), _CHUNK):
            part = _encode(model, images[start : start + _CHUNK], batch_size, False)
            store.put(keys[start : start + _CHUNK], part)
            out += part
            bar.update(len(part))
    return out


def encode_multivector_queries(
    model: MultiVectorEncoder, texts: Sequence[str], *, batch_size: int = 32
) -> list[np.ndarray]:
    """Each query's ``(n_tokens, dim)`` float32 vectors (``model.encode_query``)."""
    if not texts:
        return []
    return [
        _to_numpy(e).astype(np.float32, copy=False)
        for e in model.encode_query(list(texts), batch_size=batch_size, show_progress_bar=False)
    ]


def is_multi_vector(model: Any) -> bool:
    """Whether `model` is a Sentence Transformers `MultiVectorEncoder` (token vectors, MaxSim)."""
    from sentence_transformers import MultiVectorEncoder

    return isinstance(model, MultiVectorEncoder)


def model_pools_pages(model: Any) -> bool:
    """Whether the model already pools its page vectors (a token pooling module, e.g. baked in by train)."""
    from sentence_transformers.multi_vector_encoder.modules import BaseTokenPooling

    return any(isinstance(module, BaseTokenPooling) for module in model.modules())


def pool_token_vectors(pages: MultiVectorPages, pool_factor: float) -> MultiVectorPages:
    """Pages after Sentence Transformers' hierarchical token pooling (about 1/``pool_factor`` of each
    page's vectors), keeping the first vector as is, as `pagefit train`'s ``token_pooling`` does."""
    import torch
    from sentence_transformers.multi_vector_encoder.modules import HierarchicalTokenPooling

    pooling = HierarchicalTokenPooling(pool_factor=pool_factor, num_protected_tokens=1)
    pooled = pooling.pool(
        [torch.from_numpy(np.array(p, dtype=np.float32)) for p in pages.pages(range(len(pages)))]
    )
    return MultiVectorPages.from_list([p.numpy() for p in pooled], dim=pages.dim)
