"""`pagefit train` for a learned-sparse model (`SparseEncoder`, SPLADE) reading pages through their text.

Sentence Transformers' own sparse recipe: `SpladeLoss` around `SparseMultipleNegativesRankingLoss` (in-batch
and hard negatives, with FLOPS regularisation keeping queries and documents sparse), `SparseEncoderTrainer`
with `SparseEncoderTrainingArguments` carrying every setting of the single-vector run (NO_DUPLICATES batches,
warmup, eval/save by fraction), and `SparseInformationRetrievalEvaluator` on the same held-out queries and
pages as a dense run. Pages reach the model as their corpus text (`pagefit.models.page_text`), so the saved
folder is a plain `SparseEncoder` folder: ``SparseEncoder(folder)`` loads it without pagefit.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator
    from sentence_transformers.sparse_encoder.trainer import SparseEncoderTrainer

    from pagefit.train.config import Precision, TrainConfig
    from pagefit.train.data import TrainData

__all__ = ["build_sparse_trainer", "sparse_evaluator", "sparse_loss"]

logger = logging.getLogger(__name__)


def sparse_evaluator(evaluator: InformationRetrievalEvaluator) -> SparseInformationRetrievalEvaluator:
    """The same queries, corpus, relevance, cut-offs and name as `evaluator`, scored by sparse vectors."""
    from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator

    from pagefit.train.passage_evaluator import evaluator_like

    return evaluator_like(evaluator, SparseInformationRetrievalEvaluator, write_csv=False)


def sparse_loss(model: SparseEncoder, config: TrainConfig) -> Any:
    """`SpladeLoss(SparseMultipleNegativesRankingLoss)` with the config's FLOPS regulariser weights."""
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    return SpladeLoss(
        model,
        SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=config.sparse_document_regularizer,
        query_regularizer_weight=config.sparse_query_regularizer,
    )


def _training_args(single_vector_args: Any, config: TrainConfig) -> Any:
    """`SparseEncoderTrainingArguments` with every setting of the single-vector arguments."""
    from sentence_transformers.sparse_encoder.training_args import SparseEncoderTrainingArguments

    values = {
        f.name: getattr(single_vector_args, f.name)
        for f in dataclasses.fields(SparseEncoderTrainingArguments)
        if f.init and hasattr(single_vector_args, f.name)
    }
    values["report_to"] = config.report_to or "none"  # TrainingArguments rewrites it in __post_init__
    values["max_grad_norm"] = config.max_grad_norm
    return SparseEncoderTrainingArguments(**values)


def _trainer_class() -> type[SparseEncoderTrainer]:
    from sentence_transformers.sparse_encoder.trainer import SparseEncoderTrainer

    from pagefit.train.trainer import _diverged

    class PagefitSparseTrainer(SparseEncoderTrainer):
        """Stops before a diverged model is checkpointed or saved, as the dense trainer does."""

        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            loss = super().training_step(model, inputs, num_items_in_batch)
            if not bool(loss.isfinite().all()):
                raise _diverged(self, float(loss.detach().float().mean()))
            return loss

    return PagefitSparseTrainer


def build_sparse_trainer(
    config: TrainConfig, data: TrainData, out: Path, precision: Precision, model: SparseEncoder
) -> tuple[SparseEncoderTrainer, SparseInformationRetrievalEvaluator | None]:
    """Loss, evaluator and arguments of a sparse run, around an already built model (mirrors
    `pagefit.train.trainer.build_trainer`)."""
    from pagefit.train import trainer as base
    from pagefit.train.multivector import _progress

    unsupported = {
        "--matryoshka-dims": config.matryoshka_dims,
        "--truncate-dim": config.truncate_dim,
        "--lora": config.lora,
        "hybrid_loss": config.hybrid_loss,
    }
    if wrong := [flag for flag, value in unsupported.items() if value]:
        raise PagefitError(
            f"{config.model} is a sparse model (SparseEncoder): {', '.join(wrong)} do not apply to it; "
            "pass --matryoshka-dims none and drop the others"
        )
    evaluator = base.heldout_evaluator(config, data, model, "validation")
    validation = data.validation
    columns = list(
        dict.fromkeys(
            [*data.train.column_names, *(validation.column_names if validation is not None else [])]
        )
    )
    base_args = base.training_args(
        config, out, precision, columns, router=False, evaluate=evaluator is not None
    )
    trainer = _trainer_class()(
        model=model,
        args=_training_args(base_args, config),
        train_dataset=data.train,
        eval_dataset=validation if config.eval_loss and evaluator is not None else None,
        loss=sparse_loss(model, config),
        evaluator=evaluator,
        callbacks=[base._last_eval_callback(), base.best_checkpoint_callback("model")],
    )
    _progress(trainer, config)
    return trainer, evaluator
