"""The page table of an index, in LanceDB (embedded, columnar on disk, versioned adds and deletes).

One row per page: the corpus metadata, the page text (for BM25 and snippets) and either the
full-precision unit vector at the index's dimension (``vector``) or, for a multi-vector model, the
page's token vectors (``vectors``: a list of float16 vectors, LanceDB's multi-vector column). Every add
or delete is a LanceDB commit, so a process killed mid-run leaves the table at its last commit, and
the next `pagefit index` run continues from there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pagefit.errors import MissingDependencyError

if TYPE_CHECKING:
    import pyarrow as pa

    from pagefit.multivector_embeddings import MultiVectorPages

__all__ = ["TABLE", "PageTable"]

logger = logging.getLogger(__name__)

TABLE = "pages"
_DB_DIR = "lancedb"
META_COLUMNS = ("page_id", "doc_id", "source", "page_number", "image", "image_hash", "text")
_DELETE_BATCH = 500


def _schema(dim: int, multi_vector: bool = False) -> pa.Schema:
    import pyarrow as pa

    vector = (
        ("vectors", pa.list_(pa.list_(pa.float16(), dim)))
        if multi_vector
        else ("vector", pa.list_(pa.float32(), dim))
    )
    return pa.schema(
        [
            ("page_id", pa.string()),
            ("doc_id", pa.string()),
            ("source", pa.string()),
            ("page_number", pa.int32()),
            ("image", pa.string()),
            ("image_hash", pa.string()),
            ("text", pa.string()),
            vector,
        ]
    )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PageTable:
    """The LanceDB `pages` table inside an index folder (``multi_vector``: token vectors per page)."""

    def __init__(self, folder: str | os.PathLike[str], dim: int, *, multi_vector: bool = False) -> None:
        try:
            import lancedb
        except ImportError as e:  # pragma: no cover - a runtime dependency
            raise MissingDependencyError("lancedb", "index", "pagefit index") from e
        self.dim = dim
        self.multi_vector = multi_vector
        self.db = lancedb.connect(str(Path(folder) / _DB_DIR))
        if TABLE in self.db.table_names():
            self.table = self.db.open_table(TABLE)
        else:
            self.table = self.db.create_table(TABLE, schema=_schema(dim, multi_vector))

    @property
    def version(self) -> int:
        return int(self.table.version)

    def hashes(self) -> dict[str, str]:
        """page_id -> image_hash of every stored page."""
        data = self.table.to_arrow().select(["page_id", "image_hash"]).to_pydict()
        return dict(zip(data["page_id"], data["image_hash"], strict=True))

    def add(self, rows: Sequence[dict[str, Any]], vectors: np.ndarray | MultiVectorPages) -> None:
        """Commit ``rows`` with their vectors (N x dim), or their token vectors (multi-vector)."""
        import pyarrow as pa

        if not rows:
            return
        columns: dict[str, Any] = {name: [row[name] for row in rows] for name in META_COLUMNS}
        if self.multi_vector:
            flat = pa.array(np.ascontiguousarray(vectors.vectors, dtype=np.float16).reshape(-1))
            tokens = pa.FixedSizeListArray.from_arrays(flat, self.dim)
            columns["vectors"] = pa.ListArray.from_arrays(pa.array(vectors.offsets, pa.int32()), tokens)
        else:
            flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
            columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, self.dim)
        self.table.add(pa.table(columns, schema=_schema(self.dim, self.multi_vector)))

    def delete(self, page_ids: Sequence[str]) -> None:
        ids = list(page_ids)
        for start in range(0, len(ids), _DELETE_BATCH):
            chunk = ", ".join(_quote(i) for i in ids[start : start + _DELETE_BATCH])
            self.table.delete(f"page_id IN ({chunk})")

    def compact(self) -> None:
        """Merge the small fragments many incremental commits leave (faster reads)."""
        try:
            self.table.optimize()
        except Exception as e:  # optimisation is an optional speed-up, never a reason to fail
            logger.debug("lancedb optimize skipped: %s", e)

    def read_meta(self) -> dict[str, list[Any]]:
        """The metadata columns of every row (without reading the vectors); row order unspecified."""
        return self.table.search().select(list(META_COLUMNS)).limit(None).to_arrow().to_pydict()

    def read(self) -> tuple[dict[str, list[Any]], np.ndarray]:
        """All rows in table order: (metadata columns, float32 vectors N x dim)."""
        data = self.table.to_arrow()
        meta = data.select(list(META_COLUMNS)).to_pydict()
        vectors = data.column("vector").combine_chunks()
        flat = vectors.values.to_numpy(zero_copy_only=False) if len(vectors) else np.zeros(0, np.float32)
        return meta, np.asarray(flat, dtype=np.float32).reshape(len(vectors), self.dim)

    def read_multi_vector(self) -> tuple[dict[str, list[Any]], MultiVectorPages]:
        """All rows in table order: (metadata columns, the pages' float16 token vectors)."""
        from pagefit.multivector_embeddings import MultiVectorPages

        data = self.table.to_arrow()
        meta = data.select(list(META_COLUMNS)).to_pydict()
        column = data.column("vectors").combine_chunks()
        if not len(column):
            return meta, MultiVectorPages(np.zeros((0, self.dim), np.float16), np.zeros(1, np.int64))
        offsets = np.asarray(column.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        flat = column.values.flatten().to_numpy(zero_copy_only=False)
        vectors = np.asarray(flat, dtype=np.float16).reshape(-1, self.dim)[offsets[0] : offsets[-1]]
        return meta, MultiVectorPages(np.ascontiguousarray(vectors), offsets - offsets[0])
