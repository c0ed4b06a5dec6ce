"""`pagefit train`'s held-out evaluation, scored as the model is deployed: alone and fused with BM25.

`pagefit eval` and `pagefit index` score a page of a text-reading model (`ocr-minilm`) as its page
vector mixed with its best 100-word window (`pagefit.passages`), and `index --hybrid` fuses that score
with BM25 over the page text (`pagefit.evaluation.fusion`). A held-out metric over page vectors alone
would select the checkpoint, and print the before/after gain, on another score than the one the model
is used with; this evaluator ranks the held-out pages with the same `score_pages` and the same `fuse`
as eval, and reports both: the model's own metrics under its similarity name (`cosine_ndcg@10`) and
the fused ones under `hybrid_` (`hybrid_ndcg@10`).

Imported only when training (it subclasses Sentence Transformers' `InformationRetrievalEvaluator`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from pagefit.passages import PassageConfig, encode_windows, reads_text, score_pages

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from pagefit.evaluation.fusion import FusionConfig

__all__ = ["HYBRID", "PassageRetrievalEvaluator", "evaluator_like"]

HYBRID = "hybrid"  # the score-function name of the fused metrics (`hybrid_ndcg@10`)


def _given(column: int, n_queries: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The score function of the `column`-th precomputed (pages, queries) block of a stacked matrix."""

    def scores(queries: torch.Tensor, pages: torch.Tensor) -> torch.Tensor:
        return pages[:, column * n_queries : (column + 1) * n_queries].T

    return scores


class PassageRetrievalEvaluator(InformationRetrievalEvaluator):
    """An `InformationRetrievalEvaluator` over page image paths that scores pages as pagefit deploys them.

    A text-reading model's pages are ranked by passage scoring (page vector mixed with the best window);
    with `bm25_texts`, the dense scores are also fused with BM25 over those texts (`fusion`), and the
    fused metrics are reported beside the model's own, under `hybrid_`. Multi-vector models and a
    separate `corpus_model` are evaluated as Sentence Transformers does.

    Args:
        passages: the windows and the page vector's weight (None: page vectors only).
        bm25_texts: the text of each corpus page, in corpus order (None: no fused metrics).
        fusion: how the dense and BM25 rankings are fused (default: `index --hybrid`'s default).
        bm25_language: the language of `pagefit eval --bm25 --language`.
        *args, **kwargs: those of `InformationRetrievalEvaluator`.
    """

    def __init__(
        self,
        *args: Any,
        passages: PassageConfig | None = None,
        bm25_texts: Sequence[str] | None = None,
        fusion: FusionConfig | None = None,
        bm25_language: str = "en",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        from pagefit.evaluation.fusion import FusionConfig

        self.passages = passages
        self.bm25_texts = list(bm25_texts) if bm25_texts is not None else None
        self.fusion = fusion or FusionConfig()
        self.bm25_language = bm25_language
        self._bm25: np.ndarray | None = None
        self._tie_order: np.ndarray | None = None
        self.last_dense: np.ndarray | None = None  # the model-alone scores of the latest evaluation

    @property
    def fuses(self) -> bool:
        """Whether fused (BM25 + model) metrics are reported: the pages have text to match."""
        return bool(self.bm25_texts) and any(t.strip() for t in self.bm25_texts)

    def compute_all_metrics(
        self,
        model: SentenceTransformer,
        corpus_model: SentenceTransformer | None = None,
        corpus_embeddings: torch.Tensor | None = None,
        output_path: str | None = None,
    ) -> dict[str, Any]:
        if corpus_model not in (None, model) or not self._scores_itself(model):
            return super().compute_all_metrics(model, corpus_model, corpus_embeddings, output_path)
        dense = self.dense_scores(model, corpus_embeddings)
        self.last_dense = dense
        blocks = {model.similarity_fn_name: dense}
        if self.fuses:
            blocks[HYBRID] = self.fused_scores(dense)
        # The parent ranks, breaks ties and computes every metric; its score functions hand back these.
        n = dense.shape[0]
        stacked = np.concatenate([b.T for b in blocks.values()], axis=1)
        own = self.score_functions
        self.score_functions = {name: _given(i, n) for i, name in enumerate(blocks)}
        try:
            return super().compute_all_metrics(
                model,
                corpus_embeddings=torch.from_numpy(np.ascontiguousarray(stacked)),
                output_path=output_path,
            )
        finally:
            self.score_functions = own

    def _scores_itself(self, model: SentenceTransformer) -> bool:
        from pagefit.multivector_embeddings import is_multi_vector

        if is_multi_vector(model):
            return False
        return self.fuses or (self.passages is not None and reads_text(model))

    def dense_scores(
        self, model: SentenceTransformer, corpus_embeddings: torch.Tensor | None = None
    ) -> np.ndarray:
        """(queries, pages) scores of the model alone, as `pagefit eval` and `index` score its pages."""
        queries = self._embed(model, self.queries, "query", self.query_prompt_name, self.query_prompt)
        if corpus_embeddings is None:
            pages = self._embed(model, self.corpus, "document", self.corpus_prompt_name, self.corpus_prompt)
        else:  # given at a truncated dimension (`pagefit train`'s metrics by Matryoshka dimension)
            pages = corpus_embeddings.float().cpu().numpy()
        windows = None
        if self.passages is not None and reads_text(model):
            # Not cached: every evaluation step has new weights, so its windows are never read again.
            windows = encode_windows(
                model, self.corpus, self.passages, batch_size=self.batch_size, cache=False
            )
        weight = self.passages.weight if self.passages is not None else 1.0
        return score_pages(model, queries, pages, windows, pages.shape[1], weight)

    def bm25_scores(self) -> np.ndarray:
        """(queries, pages) BM25 scores of the held-out queries over the page texts (computed once)."""
        if self._bm25 is None:
            from pagefit.evaluation.bm25 import bm25_scores

            self._bm25 = bm25_scores(self.bm25_texts or [], self.queries, self.bm25_language)
        return self._bm25

    def tie_order(self) -> np.ndarray:
        """Each page's position among the page ids sorted ascending: eval's tie-break."""
        if self._tie_order is None:
            ids = np.asarray(self.corpus_ids, dtype=object)
            self._tie_order = np.empty(len(ids), dtype=np.int64)
            self._tie_order[np.argsort(ids, kind="stable")] = np.arange(len(ids))
        return self._tie_order

    def fused_scores(self, dense: np.ndarray, fusion: FusionConfig | None = None) -> np.ndarray:
        """The dense scores fused with BM25's as `index --hybrid` fuses them (`fusion`: this evaluator's)."""
        from pagefit.evaluation.fusion import fuse, sparse_as_retrieved

        sparse = sparse_as_retrieved(self.bm25_scores())
        return fuse([dense, sparse], fusion or self.fusion, tie_order=self.tie_order(), queries=self.queries,
                    language=self.bm25_language)  # fmt: skip

    def mean_ndcg(self, scores: np.ndarray, only: set[str] | None = None) -> float:
        """Mean NDCG@10 of a (queries, pages) score matrix over this evaluator's queries (eval's metric),
        or over the query ids in `only`."""
        from pagefit.evaluation.metrics import PRIMARY_METRIC, query_metrics, rank_pages

        ranked = rank_pages(scores, self.tie_order())
        values = [
            query_metrics([self.corpus_ids[i] for i in row], self.relevant_docs[qid])[PRIMARY_METRIC]
            for qid, row in zip(self.queries_ids, ranked, strict=True)
            if only is None or qid in only
        ]
        return float(np.mean(values)) if values else 0.0

    def ndcg_by_kind(self, dense: np.ndarray, kinds: dict[str, str]) -> dict[str, dict[str, float]]:
        """NDCG@10 per query kind of (queries, pages) model-alone scores (`last_dense` after an evaluation: no
        second encoding), alone and (where the pages have text) fused with BM25."""
        fused = self.fused_scores(dense) if self.fuses else None
        out: dict[str, dict[str, float]] = {}
        for kind in sorted(set(kinds.values())):
            ids = {q for q, k in kinds.items() if k == kind}
            out[kind] = {"queries": len(ids), "ndcg@10": round(self.mean_ndcg(dense, ids), 6)}
            if fused is not None:
                out[kind][f"{HYBRID}_ndcg@10"] = round(self.mean_ndcg(fused, ids), 6)
        return out

    def _embed(self, model: SentenceTransformer, inputs: list[Any], kind: str, name: Any, prompt: Any) -> Any:
        return (
            self.embed_inputs(model, inputs, encode_fn_name=kind, prompt_name=name, prompt=prompt)
            .float()
            .cpu()
            .numpy()
        )

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        if self.passages is not None:
            config["passages"] = self.passages.as_dict()
        if self.fuses:
            config["fusion"] = self.fusion.model_dump(exclude_none=True)
        return config


def evaluator_like(evaluator: Any, cls: type, **extra: Any) -> Any:
    """A `cls` (Sentence Transformers' sparse or multi-vector `...InformationRetrievalEvaluator`) with the same
    queries, corpus, relevance, cut-offs and name as `evaluator` (a dense `InformationRetrievalEvaluator`)."""
    return cls(
        queries=dict(zip(evaluator.queries_ids, evaluator.queries, strict=True)),
        corpus=dict(zip(evaluator.corpus_ids, evaluator.corpus, strict=True)),
        relevant_docs=evaluator.relevant_docs,
        batch_size=evaluator.batch_size,
        name=evaluator.name,
        mrr_at_k=evaluator.mrr_at_k,
        ndcg_at_k=evaluator.ndcg_at_k,
        accuracy_at_k=evaluator.accuracy_at_k,
        precision_recall_at_k=evaluator.precision_recall_at_k,
        map_at_k=evaluator.map_at_k,
        show_progress_bar=evaluator.show_progress_bar,
        **extra,
    )
