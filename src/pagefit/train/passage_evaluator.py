"""`pagefit train`'s held-out evaluation for models that read pages as text, scored as they are used.

`pagefit eval` and `pagefit index` score a page of a text-reading model (`ocr-minilm`) as its page
vector mixed with its best 100-word window (`pagefit.passages`). A held-out metric over page vectors
alone would select the checkpoint, and print the before/after gain, on another score than the one the
model is deployed with; this evaluator ranks the held-out pages with the same `score_pages` as eval.

Imported only when training (it subclasses Sentence Transformers' `InformationRetrievalEvaluator`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

from pagefit.passages import PassageConfig, encode_windows, reads_text, score_pages

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["PassageRetrievalEvaluator"]


def _given(queries: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """The score function of a precomputed (pages, queries) score matrix, chunk by chunk of pages."""
    return scores.T


class PassageRetrievalEvaluator(InformationRetrievalEvaluator):
    """An `InformationRetrievalEvaluator` whose corpus (page image paths) is ranked by passage scoring
    when the model reads pages as text; a model that reads pixels is evaluated on page vectors as usual.

    Args:
        passages: the windows and the page vector's weight (those of `pagefit eval` by default).
        *args, **kwargs: those of `InformationRetrievalEvaluator`.
    """

    def __init__(self, *args: Any, passages: PassageConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passages = passages or PassageConfig()

    def compute_all_metrics(
        self,
        model: SentenceTransformer,
        corpus_model: SentenceTransformer | None = None,
        corpus_embeddings: torch.Tensor | None = None,
        output_path: str | None = None,
    ) -> dict[str, Any]:
        if not reads_text(model) or corpus_model not in (None, model):
            return super().compute_all_metrics(model, corpus_model, corpus_embeddings, output_path)
        queries = self._embed(model, self.queries, "query", self.query_prompt_name, self.query_prompt)
        if corpus_embeddings is None:
            pages = self._embed(model, self.corpus, "document", self.corpus_prompt_name, self.corpus_prompt)
        else:  # given at a truncated dimension (`pagefit train`'s metrics by Matryoshka dimension)
            pages = corpus_embeddings.float().cpu().numpy()
        # Not cached: every evaluation step has new weights, so its windows are never read again.
        windows = encode_windows(model, self.corpus, self.passages, batch_size=self.batch_size, cache=False)
        scores = score_pages(model, queries, pages, windows, pages.shape[1], self.passages.weight)
        # The parent ranks, breaks ties and computes every metric; its score function hands back these.
        own, self.score_functions = self.score_functions, {model.similarity_fn_name: _given}
        try:
            return super().compute_all_metrics(
                model, corpus_embeddings=torch.from_numpy(scores.T.copy()), output_path=output_path
            )
        finally:
            self.score_functions = own

    def _embed(self, model: SentenceTransformer, inputs: list[Any], kind: str, name: Any, prompt: Any) -> Any:
        return (
            self.embed_inputs(model, inputs, encode_fn_name=kind, prompt_name=name, prompt=prompt)
            .float()
            .cpu()
            .numpy()
        )

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "passages": self.passages.as_dict()}
