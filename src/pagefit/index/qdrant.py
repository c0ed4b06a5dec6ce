"""Move an index to Qdrant without re-embedding: same page ids, payloads and vectors.

Qdrant point ids must be integers or UUIDs, so a page's point id is ``uuid5(PAGE_NAMESPACE,
page_id)`` (stable: exporting again updates the same points); the page id itself is in the payload,
with the other metadata columns. Vectors are the index's full-precision vectors (cosine distance);
Qdrant's own quantization can be switched on in the collection afterwards. A multi-vector index
exports each page's (pooled) token vectors as a Qdrant multivector compared by MaxSim.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from pagefit.errors import MissingDependencyError, PagefitError

__all__ = ["PAGE_NAMESPACE", "export_qdrant", "point_id"]

PAGE_NAMESPACE = uuid.UUID("6f3c2a1e-9b7d-4c55-8e0a-70a9e1f2d3c4")
_BATCH = 256


def point_id(page_id: str) -> str:
    """The Qdrant point id of a page."""
    return str(uuid.uuid5(PAGE_NAMESPACE, page_id))


def _client(target: Any):
    try:
        from qdrant_client import QdrantClient
    except ImportError as e:
        raise MissingDependencyError("qdrant-client", "qdrant", "exporting to Qdrant") from e
    if not isinstance(target, (str, os.PathLike)):
        return target  # an existing QdrantClient
    text = os.fspath(target)
    if text.startswith(("http://", "https://")):
        return QdrantClient(url=text)
    Path(text).mkdir(parents=True, exist_ok=True)
    return QdrantClient(path=text)


def export_qdrant(
    index: str | os.PathLike[str], target: Any, *, collection: str = "pagefit", recreate: bool = True
) -> int:
    """Copy every page of ``index`` into the Qdrant ``collection``; returns the number of points.

    Args:
        index: the index folder.
        target: a local folder (Qdrant's embedded local mode), an http(s) URL, or a `QdrantClient`.
        collection: the collection to write.
        recreate: drop an existing collection of that name first (else points are upserted).
    """
    from qdrant_client import models

    from pagefit.index.manifest import read_manifest
    from pagefit.index.store import META_COLUMNS, PageTable

    manifest = read_manifest(index)
    if not manifest.complete:
        raise PagefitError(f"{index} is a half-built index: finish `pagefit index` before exporting it")
    multi = manifest.multivector is not None
    table = PageTable(index, manifest.dim, multi_vector=multi)
    if multi:  # each point holds the page's token vectors, compared by MaxSim
        meta, pages = table.read_multi_vector()
        vectors = [np.asarray(page, dtype=np.float32) for page in pages.pages(range(len(pages)))]
        comparator = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
    else:
        meta, vectors = table.read()
        comparator = None
    client = _client(target)
    params = models.VectorParams(
        size=manifest.dim, distance=models.Distance.COSINE, multivector_config=comparator
    )
    if recreate and client.collection_exists(collection):
        client.delete_collection(collection)
    if not client.collection_exists(collection):
        client.create_collection(collection, vectors_config=params)
    for start in range(0, len(vectors), _BATCH):
        points = [
            models.PointStruct(
                id=point_id(meta["page_id"][i]),
                vector=vectors[i].tolist(),
                payload={name: meta[name][i] for name in META_COLUMNS},
            )
            for i in range(start, min(start + _BATCH, len(vectors)))
        ]
        client.upsert(collection, points=points)
    return len(vectors)
