"""An opened index: dense, hybrid and reranked search over the pages of one corpus.

Single- and multi-vector indexes share every step here but two: how the query is encoded
(`_encode_queries`) and which searcher ranks the pages (`VectorSearcher`; `PassageSearcher` when pages are
passage-scored, over page and window vectors; or `MultiVectorSearcher`: a first stage rescored by exact
MaxSim). `search` returns the JSON shape of docs/formats.md: ``{"query", "k", "results": [{"rank", "page_id",
"score", "source", "page_number", "image", "snippet"}]}``. The query model loads on first use and
must have the fingerprint the index was built with. A reranker reorders the top pages through the
same code as `pagefit eval --reranker` (`pagefit.evaluation._rerank`).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pagefit.errors import PagefitError
from pagefit.evaluation.fusion import FusionConfig, FusionMethod, fuse, sparse_as_retrieved
from pagefit.index._batching import QueryBatcher
from pagefit.index.manifest import IndexManifest, read_manifest
from pagefit.index.snippet import make_snippet

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from pagefit.index.passage_searcher import PassageSearcher

__all__ = ["MAX_K", "MAX_QUERY_CHARS", "PASSAGES_DIR", "PASSAGE_OWNERS", "PASSAGE_VECTORS", "PageIndex"]

logger = logging.getLogger(__name__)

MAX_K = 100
MAX_QUERY_CHARS = 1000
RERANK_TOP_K = 20
PASSAGES_DIR = "passages"  # window vectors of a passage-scored index (`pagefit index --passages`)
PASSAGE_VECTORS = "windows.npy"
PASSAGE_OWNERS = "owners.json"


class PageIndex:
    """Search over an index folder written by `pagefit index`.

    Args:
        path: the index folder.
        model: the query model, when the one recorded in the manifest moved (same fingerprint only).
        trust_remote_code: allow model folders that hold code.
        device: torch device for the query model and reranker.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        model: str | os.PathLike[str] | SentenceTransformer | None = None,
        trust_remote_code: bool = False,
        device: str | None = None,
    ) -> None:
        from pagefit.index.keyword import KeywordIndex
        from pagefit.index.store import PageTable
        from pagefit.index.vectors import VectorSearcher

        self.path = Path(path).resolve()
        self.manifest: IndexManifest = read_manifest(self.path)
        if not self.manifest.complete:
            raise PagefitError(
                f"{self.path} is a half-built index (its last `pagefit index` run did not finish): "
                f"run `pagefit index {self.manifest.corpus} --model {self.manifest.model} --out {self.path}` again"
            )
        self.corpus = Path(self.manifest.corpus)
        if self.manifest.sparse is not None:  # learned-sparse vectors in pagefit's own files
            from pagefit.index.sparse import open_sparse_pages

            self.meta, self.searcher = open_sparse_pages(self.path, self.manifest)
        elif self.multi_vector:
            table = PageTable(self.path, self.manifest.dim, multi_vector=True)
            self.meta, self.searcher = self._open_multi_vector(table)
        else:
            table = PageTable(self.path, self.manifest.dim)
            self.meta, vectors = table.read()
            settings = {
                "ann": self.manifest.ann,
                "rescore_multiplier": self.manifest.rescore_multiplier,
            }
            if self.manifest.table_version == table.version:
                self.searcher = VectorSearcher.load(
                    self.path, vectors, self.manifest.quantization, **settings
                )
            else:  # the table moved on since the search files were written: derive them again
                logger.warning("%s changed since it was indexed; rebuilding its search structures", self.path)
                self.searcher = VectorSearcher(vectors, self.manifest.quantization, **settings)
        self.page_ids: list[str] = self.meta["page_id"]
        self.row_of = {pid: i for i, pid in enumerate(self.page_ids)}
        order = np.argsort(np.asarray(self.page_ids, dtype=object), kind="stable")
        self.id_order = np.empty(len(order), dtype=np.int64)
        self.id_order[order] = np.arange(len(order))
        self.keyword = (
            KeywordIndex.load(self.path, self.meta["text"], self._bm25_settings())
            if self.manifest.hybrid.enabled
            else None
        )
        self.passages = self._open_passages()
        self._model_spec = model
        self._model: SentenceTransformer | None = None
        self._rerankers: dict[str, CrossEncoder] = {}
        self._trust_remote_code = trust_remote_code
        self._device = device
        # serve calls from a thread pool: queries arriving together are encoded in one forward pass
        # (`QueryBatcher`), a reranker scores one request's pages at a time (its own lock), and neither
        # waits for the other.
        self._queries = QueryBatcher(self._encode_queries)
        self._load_lock = threading.Lock()
        self._rerank_locks: dict[int, threading.Lock] = {}

    def _bm25_settings(self) -> Any:
        """The BM25 settings the index was built with (an index from an older pagefit: its language's)."""
        from pagefit.evaluation.bm25 import BM25Settings

        stored = self.manifest.hybrid
        return BM25Settings(**stored.bm25) if stored.bm25 else BM25Settings.for_language(stored.language)

    def __len__(self) -> int:
        return len(self.page_ids)

    @property
    def multi_vector(self) -> bool:
        """Whether the index holds token vectors of a multi-vector model (searched by MaxSim)."""
        return self.manifest.multivector is not None

    def _open_multi_vector(self, table: Any) -> tuple[dict[str, list[Any]], Any]:
        """Metadata in the order of the saved `MultiVectorSearcher` (memory-mapped), rebuilt from the
        table when those files are missing or do not hold the table's pages."""
        from pagefit.index import build_multi_vector_searcher
        from pagefit.index.multivector import MULTIVECTOR_DIR, MultiVectorSearcher

        settings = self.manifest.multivector
        meta = table.read_meta()
        searcher = MultiVectorSearcher.load(self.path / MULTIVECTOR_DIR, candidates=settings.candidates)
        if (
            searcher is not None
            and self.manifest.table_version == table.version
            and sorted(searcher.page_ids) == sorted(meta["page_id"])
        ):
            row = {pid: i for i, pid in enumerate(meta["page_id"])}
            order = [row[pid] for pid in searcher.page_ids]
            return {name: [values[i] for i in order] for name, values in meta.items()}, searcher
        logger.warning("%s changed since it was indexed; rebuilding its search structures", self.path)
        meta, pages = table.read_multi_vector()
        return meta, build_multi_vector_searcher(meta["page_id"], pages, settings)

    def _open_passages(self) -> PassageSearcher | None:
        """The passage searcher over the page and window vectors (None: no passage scoring); the window
        vectors are quantized and graphed as the page vectors are (`--quantize`, `--ann`)."""
        if self.manifest.passages is None:
            return None
        import json

        from pagefit.index.passage_searcher import PassageSearcher
        from pagefit.index.vectors import VectorSearcher

        folder = self.path / PASSAGES_DIR
        try:
            vectors = np.load(folder / PASSAGE_VECTORS, mmap_mode="r")
            owners = json.loads((folder / PASSAGE_OWNERS).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise PagefitError(
                f"{folder} is missing or unreadable ({type(e).__name__}): run `pagefit index "
                f"{self.manifest.corpus} --model {self.manifest.model} --out {self.path}` again"
            ) from e
        unknown = [pid for pid in owners if pid not in self.row_of]
        if unknown or len(owners) != len(vectors):
            raise PagefitError(
                f"{folder} does not match the index's pages: run `pagefit index {self.manifest.corpus} "
                f"--model {self.manifest.model} --out {self.path}` again"
            )
        windows = VectorSearcher.load(folder, np.asarray(vectors, dtype=np.float32), self.manifest.quantization,
                                      ann=self.manifest.ann, rescore_multiplier=self.manifest.rescore_multiplier)  # fmt: skip
        rows = np.asarray([self.row_of[pid] for pid in owners], np.int64)
        return PassageSearcher(self.searcher, windows, rows, self.manifest.passages.weight, self.id_order)

    # ------------------------------------------------------------------------------------------ models

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load_model()
        return self._model

    def _load_model(self) -> SentenceTransformer:
        from pagefit.models import load_model, model_fingerprint

        spec = self._model_spec if self._model_spec is not None else self.manifest.model
        if isinstance(spec, (str, os.PathLike)):
            prompts = self.manifest.prompts  # the prompts the index was built with
            model = load_model(spec, trust_remote_code=self._trust_remote_code, device=self._device,
                               query_prompt=prompts.get("query"), document_prompt=prompts.get("document"))  # fmt: skip
        else:
            model = spec
        if model_fingerprint(model) != self.manifest.model_fingerprint:
            raise PagefitError(
                f"the model at {spec} is not the one {self.path} was built with (fingerprint "
                f"{self.manifest.model_fingerprint[:12]}): rebuild the index with `pagefit index`"
            )
        return model

    def reranker(self, spec: str | os.PathLike[str] | CrossEncoder) -> CrossEncoder:
        """A CrossEncoder loaded once, as `pagefit eval --reranker` loads it."""
        from pagefit.evaluation import EvalConfig, _load_cross_encoder

        if not isinstance(spec, (str, os.PathLike)):
            return spec
        key = os.fspath(spec)
        with self._load_lock:
            if key not in self._rerankers:
                config = EvalConfig(trust_remote_code=self._trust_remote_code, device=self._device)
                model = _load_cross_encoder(key, config)
                if model.num_labels != 1:
                    raise PagefitError(
                        f"reranker {key} outputs {model.num_labels} labels; a reranker must output one score"
                    )
                self._rerankers[key] = model
        return self._rerankers[key]

    # ------------------------------------------------------------------------------------------ search

    def fusion(
        self,
        hybrid: FusionMethod | str | None = None,
        *,
        weight: float | None = None,
        rrf_k: int | None = None,
    ) -> FusionConfig | None:
        """The fusion a search uses: ``hybrid`` None = the index's default, "none" = dense only."""
        stored = self.manifest.hybrid
        if hybrid is None:
            if not stored.enabled:
                return None
            hybrid = stored.fusion.method
        if hybrid == "none":
            return None
        if hybrid not in ("rrf", "weighted"):
            raise PagefitError(f"--hybrid takes rrf, weighted or none, not {hybrid!r}")
        if self.keyword is None:
            raise PagefitError(
                f"{self.path} holds no BM25 index: rebuild it with `pagefit index ... --hybrid` to search --hybrid"
            )
        update: dict[str, Any] = {"method": hybrid}
        if weight is not None:  # one weight for every query
            update |= {"weight": weight, "keyword_weight": None}
        if rrf_k is not None:
            update["rrf_k"] = rrf_k
        try:
            return FusionConfig.model_validate({**stored.fusion.model_dump(), **update})
        except ValueError as e:
            raise PagefitError(f"bad fusion setting: {e.errors()[0]['msg']}") from e  # type: ignore[attr-defined]

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        hybrid: FusionMethod | str | None = None,
        weight: float | None = None,
        rrf_k: int | None = None,
        reranker: str | os.PathLike[str] | CrossEncoder | None = None,
        rerank_top_k: int = RERANK_TOP_K,
    ) -> dict[str, Any]:
        """The top ``k`` pages for ``query`` (the search JSON of docs/formats.md)."""
        query = query.strip()
        if not query:
            raise PagefitError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise PagefitError(f"the query has {len(query)} characters; at most {MAX_QUERY_CHARS}")
        if not 1 <= k <= MAX_K:
            raise PagefitError(f"k must be between 1 and {MAX_K}, not {k}")
        fusion = self.fusion(hybrid, weight=weight, rrf_k=rrf_k)
        depth = max(k, rerank_top_k if reranker is not None else 0)
        rows, scores = self._retrieve(query, depth, fusion)
        if reranker is not None and len(rows):
            top = min(rerank_top_k, len(rows))
            head, head_scores = self._rerank(query, rows[:top], self.reranker(reranker))
            rows = np.concatenate([head, rows[top:]])
            scores = np.concatenate([head_scores, scores[top:]])
        return {
            "query": query,
            "k": k,
            "results": [
                self._result(rank, int(row), float(score), query)
                for rank, (row, score) in enumerate(zip(rows[:k], scores[:k], strict=True), 1)
            ],
        }

    def _encode_queries(self, queries: list[str]) -> list[Any]:
        """What the searcher takes, per query: a (1, dim) vector, or the query's token vectors (multi-vector)."""
        if self.manifest.sparse is not None:
            from pagefit.sparse_embeddings import encode_sparse_queries

            encoded = encode_sparse_queries(self.model, queries)
        elif self.multi_vector:
            from pagefit.multivector_embeddings import encode_multivector_queries

            encoded = encode_multivector_queries(self.model, queries)
        else:
            from pagefit.embeddings import encode_queries, truncate_embeddings

            encoded = truncate_embeddings(encode_queries(self.model, queries), self.manifest.dim)
        return [encoded[i : i + 1] for i in range(len(queries))]

    def _retrieve(self, query: str, depth: int, fusion: FusionConfig | None) -> tuple[np.ndarray, np.ndarray]:
        if not len(self):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        encoded = self._queries(query)
        dense_depth = max(depth, fusion.depth) if fusion is not None else depth
        if self.passages is not None:
            rows, scores = self.passages.search(encoded, dense_depth)
        else:
            rows, scores = self.searcher.search(encoded, dense_depth)
            rows, scores = rows[0], scores[0]
        keep = rows >= 0
        rows, scores = rows[keep], scores[keep]
        if fusion is None:
            return rows, scores
        dense = np.full((1, len(self)), -np.inf, dtype=np.float32)
        dense[0, rows] = scores
        sparse = sparse_as_retrieved(self.keyword.scores([query]))
        language = self.manifest.hybrid.language
        fused = fuse([dense, sparse], fusion, tie_order=self.id_order, queries=[query], language=language)[0]
        hits = np.flatnonzero(np.isfinite(fused))
        order = hits[np.lexsort((self.id_order[hits], -fused[hits]))][:depth]
        return order, fused[order]

    def _rerank(self, query: str, rows: np.ndarray, model: CrossEncoder) -> tuple[np.ndarray, np.ndarray]:
        """Eval's reranking (`pagefit.evaluation._rerank`) applied to this query's candidates."""
        from pagefit.evaluation import EvalConfig, _Corpus, _rerank, _Reranker, _reranker_documents
        from pagefit.queries import Query

        ids = [self.page_ids[r] for r in rows]
        data = _Corpus(
            path=str(self.corpus),
            page_ids=ids,
            image_paths=[str(self.image_path(self.page_ids[r])) for r in rows],
            keys=None,
            texts=[self.meta["text"][r] or "" for r in rows],
            id_order=np.argsort(np.argsort(np.asarray(ids, dtype=object), kind="stable"), kind="stable"),
            queries=[Query(query_id="q", query=query, page_ids=ids[:1])],
        )
        name = getattr(model, "_pagefit_source", "reranker")
        rerank = _Reranker(model, name, _reranker_documents(model, data, name), 0.0)
        config = EvalConfig(rerank_top_k=len(rows))
        with self._rerank_locks.setdefault(id(model), threading.Lock()):
            order = _rerank(rerank, np.arange(len(rows))[None, :], data, config, False, "search")[0]
        return rows[order], np.asarray([rerank.scores[(0, int(i))] for i in order], dtype=np.float32)

    def _result(self, rank: int, row: int, score: float, query: str) -> dict[str, Any]:
        page_id = self.page_ids[row]
        return {
            "rank": rank,
            "page_id": page_id,
            "score": round(score, 6),
            "source": self.meta["source"][row],
            "page_number": self.meta["page_number"][row],
            "image": str(self.corpus / self.meta["image"][row]),
            "snippet": make_snippet(self.meta["text"][row] or "", query),
        }

    # ------------------------------------------------------------------------------------------ pages

    def image_path(self, page_id: str) -> Path:
        """The page's image file, refused (PagefitError) unless it lies inside the corpus folder.

        The id is looked up, never joined into a path; the stored relative path is resolved
        (symlinks followed) and must stay under the resolved corpus folder.
        """
        row = self.row_of.get(page_id)
        if row is None:
            raise KeyError(page_id)
        root = self.corpus.resolve()
        path = (root / self.meta["image"][row]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise PagefitError(f"page {page_id}: its image is not a file inside the corpus {root}")
        return path
