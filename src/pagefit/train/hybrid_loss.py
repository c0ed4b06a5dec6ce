"""`HybridRankingLoss`: train the model for the score it is deployed with, BM25 fused with the model.

`pagefit index --hybrid` ranks pages by ``w * minmax(model) + (1 - w) * minmax(BM25)``. Trained with a
plain ranking loss on synthetic queries (mostly crops of the page), the model spends its capacity on
what BM25 already matches, and the fused ranking gains nothing. This loss is Sentence Transformers'
`MultipleNegativesRankingLoss` whose logits carry BM25's part of the fused score as a fixed offset:

    logit(q, d) = scale * cos(q, d) + beta * bm25_minmax(q, d)

so a query whose page BM25 already ranks far ahead of the others gives almost no gradient, and the
model learns what the fused ranking still gets wrong (residual learning on top of BM25). ``beta`` puts
BM25's share on the scale of the logits as the fusion does: ``scale * dense_range * (1 - w) / w``, with
``dense_range`` the base model's typical spread of cosine scores over a query's top pages (min-max
normalisation divides by it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sentence_transformers import SentenceTransformer

__all__ = ["HybridRankingLoss", "bm25_offsets", "fusion_beta"]

ROW_COLUMN = "label"  # the row index column the data collator hands to the loss as `labels`


def bm25_offsets(
    queries: Sequence[str], page_texts: Sequence[str], depth: int = 100, language: str = "en"
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's top `depth` pages by BM25 and their min-max normalised scores, as `fuse` sees them.

    Returns:
        (indices, values): (queries, depth) page indices (-1: none) and normalised scores in [0, 1].
    """
    from pagefit.evaluation.bm25 import bm25_scores

    scores = bm25_scores(page_texts, queries, language)
    depth = min(depth, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
    values = np.take_along_axis(scores, top, axis=1).astype(np.float32)
    retrieved = values > 0
    low = np.where(retrieved, values, np.inf).min(axis=1, keepdims=True)
    high = values.max(axis=1, keepdims=True)
    span = np.where(high - low > 1e-12, high - low, 1.0)
    normalised = np.where(high - low > 1e-12, (values - low) / span, 1.0)
    top[~retrieved] = -1
    return top.astype(np.int64), np.where(retrieved, normalised, 0.0).astype(np.float32)


def fusion_beta(dense_range: float, weight: float, scale: float) -> float:
    """BM25's coefficient in the logits that matches weighted fusion at `weight` (the model's share)."""
    if not 0 < weight <= 1:
        raise ValueError(f"the model's fusion weight must be in (0, 1], got {weight}")
    return float(scale * dense_range * (1 - weight) / weight)


class HybridRankingLoss(MultipleNegativesRankingLoss):
    """`MultipleNegativesRankingLoss` (query -> positive, hard negatives, in-batch pages) whose logits add
    BM25's fused share: see the module docstring.

    Args:
        model: the model being trained.
        row_pages: (rows, 1 + negatives) index of each training row's positive and negative pages in
            the page list `top_pages` indexes.
        top_pages: (rows, depth) each row query's BM25 top pages (-1: none), from `bm25_offsets`.
        top_scores: (rows, depth) their min-max normalised BM25 scores.
        beta: BM25's coefficient in the logits (`fusion_beta`).
        scale: the cosine scale (1 / temperature).
    """

    def __init__(
        self,
        model: SentenceTransformer,
        row_pages: np.ndarray,
        top_pages: np.ndarray,
        top_scores: np.ndarray,
        beta: float,
        scale: float = 20.0,
    ) -> None:
        super().__init__(model, scale=scale)
        self.row_pages = torch.as_tensor(row_pages, dtype=torch.long)
        self.top_pages = torch.as_tensor(top_pages, dtype=torch.long)
        self.top_scores = torch.as_tensor(top_scores, dtype=torch.float32)
        self.beta = float(beta)

    def forward(
        self, sentence_features: Iterable[dict[str, torch.Tensor]], labels: torch.Tensor
    ) -> torch.Tensor:
        # One forward per column: merging them would pad the short queries to the pages' length.
        embeddings = [self.model(features)["sentence_embedding"] for features in sentence_features]
        return self.loss_from_embeddings(embeddings, labels)

    def offsets(self, rows: torch.Tensor, columns: int) -> torch.Tensor:
        """(batch, columns * batch) BM25 offsets of every row's query against every page of the batch, in
        the order the loss concatenates them (all positives, then every row's first negative, ...)."""
        rows = rows.long().cpu()
        pages = self.row_pages[rows][:, :columns].T.reshape(-1)  # (columns * batch,)
        match = self.top_pages[rows].unsqueeze(2) == pages.view(1, 1, -1)  # (batch, depth, columns * batch)
        values = (match * self.top_scores[rows].unsqueeze(2)).amax(dim=1)
        return self.beta * values

    def loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        queries, docs = embeddings[0], torch.cat(embeddings[1:], dim=0)
        logits = self.similarity_fct(queries, docs) * self.scale
        logits = logits + self.offsets(labels, len(embeddings) - 1).to(logits.device, logits.dtype)
        targets = torch.arange(queries.size(0), device=logits.device)
        return torch.nn.functional.cross_entropy(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "bm25_beta": round(self.beta, 4), "similarity_fct": "cos_sim"}
