"""Multi-vector (late-interaction) training for `pagefit train`: ColBERT / ColPali-style models.

A multi-vector model keeps one vector per token or image patch and scores a (query, page) pair by
MaxSim. Everything here composes Sentence Transformers' `multi_vector_encoder` family:
`MultiVectorEncoder` (a plain backbone gets a fresh 128-d token projection, a ``*ForRetrieval``
checkpoint such as ColQwen2 keeps its own), `CachedMultiVectorMultipleNegativesRankingLoss`,
`MultiVectorInformationRetrievalEvaluator`, `MultiVectorEncoderTrainer` and its arguments, and
`HierarchicalTokenPooling`. `pagefit.train.trainer.build_trainer` hands a multi-vector model here;
the rest of the run (config precedence, resume, LoRA, torchrun, card, summary) is the single-vector
one.

Recipe knobs (all `TrainConfig` fields): ``head_lr`` gives the fresh projection its own learning
rate (through the trainer's ``learning_rate_mapping``), ``max_grad_norm`` loosens clipping so the
random head's large gradients do not throttle the backbone, ``unfreeze_top_layers`` trains only the
top language-model layers and the projection (the ColQwen2 recipe), ``token_pooling`` bakes
hierarchical token pooling of page vectors into the saved model.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError
from pagefit.multivector_embeddings import is_multi_vector

if TYPE_CHECKING:
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.multi_vector_encoder.evaluation import MultiVectorInformationRetrievalEvaluator
    from sentence_transformers.multi_vector_encoder.trainer import MultiVectorEncoderTrainer
    from sentence_transformers.multi_vector_encoder.training_args import MultiVectorEncoderTrainingArguments
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from pagefit.train.config import Precision, TrainConfig
    from pagefit.train.data import TrainData

__all__ = [
    "apply_token_pooling",
    "build_multivector_trainer",
    "freeze_all_but_top",
    "head_parameter_pattern",
    "is_multi_vector",
    "load_multivector_model",
    "multivector_evaluator",
    "multivector_training_args",
    "vectors_per_page",
]

logger = logging.getLogger(__name__)

_POOLING_PROBE_PAGES = 32  # eval pages encoded to report the vectors per page pooling leaves


# ---------------------------------------------------------------------------------------------- the model


def load_multivector_model(config: TrainConfig, load_kwargs: dict[str, Any]) -> MultiVectorEncoder:
    """The untrained multi-vector model of `config.model`.

    A built-in name (``ocr-colminilm``) or a folder saved as a `MultiVectorEncoder` loads through
    `pagefit.models.load_model` (safe loading); any other folder or hub name is converted by
    `MultiVectorEncoder` itself (its backbone plus a fresh projection, or a Col* checkpoint's own head).
    """
    from sentence_transformers import MultiVectorEncoder

    from pagefit.models import BUILTIN_MODELS, load_model
    from pagefit.models._loading import _model_class

    name = str(config.model)
    path = Path(name).expanduser()
    if name in BUILTIN_MODELS or (path.is_dir() and _model_class(path) is MultiVectorEncoder):
        model = load_model(name, trust_remote_code=config.trust_remote_code, **load_kwargs)
    else:
        try:
            model = MultiVectorEncoder(
                str(path) if path.is_dir() else name,
                trust_remote_code=config.trust_remote_code,
                model_kwargs=load_kwargs.get("model_kwargs"),
                processor_kwargs=load_kwargs.get("processor_kwargs"),
            )
        except (OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise PagefitError(f"could not load {name!r} as a multi-vector model: {first}") from e
        model._pagefit_source = name
    if not is_multi_vector(model):
        raise PagefitError(
            f"{name} is a single-vector model: set multi_vector to false, or start from a multi-vector "
            "model (ocr-colminilm, a backbone such as Qwen/Qwen3-VL-Embedding-2B, a ColQwen2 checkpoint)"
        )
    return model


def head_parameter_pattern(model: MultiVectorEncoder) -> str | None:
    """Regex of the token projection's parameter names (also under the loss's ``model.`` prefix).

    The projection is the top-level `Dense` after the backbone (`MultiVectorEncoder`'s fresh head);
    a ``*ForRetrieval`` checkpoint keeps its projection inside the backbone as ``embedding_proj_layer``.
    """
    from sentence_transformers.base.modules import Dense

    for index, module in enumerate(model.children()):
        if isinstance(module, Dense):
            return rf"^(model\.)?{index}\.linear\."
    if any("embedding_proj_layer" in name for name, _ in model.named_parameters()):
        return r"embedding_proj_layer\."
    return None


def _decoder_layers(model: MultiVectorEncoder) -> Any:
    """The language model's list of decoder layers (the longest ``*.layers`` list when none is named so)."""
    import torch

    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.ModuleList)]
    named = [m for n, m in lists if n.endswith("language_model.layers")]
    if named:
        return named[0]
    layers = [m for n, m in lists if n.endswith(".layers")]
    if not layers:
        raise PagefitError("unfreeze_top_layers: this model has no list of transformer layers to unfreeze")
    return max(layers, key=len)


def freeze_all_but_top(model: MultiVectorEncoder, top_layers: int) -> tuple[int, int]:
    """Freeze every weight but the top `top_layers` language-model layers and the projection.

    Returns:
        (trainable, total) parameter counts.
    """
    layers = _decoder_layers(model)
    if top_layers > len(layers):
        raise PagefitError(f"unfreeze_top_layers {top_layers}: the model has only {len(layers)} layers")
    model.requires_grad_(False)
    layers[-top_layers:].requires_grad_(True)
    pattern = head_parameter_pattern(model)
    for name, param in model.named_parameters():
        if pattern and re.search(pattern, name):
            param.requires_grad_(True)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("training %d of %d parameters (top %d layers + projection)", trainable, total, top_layers)
    return trainable, total


# -------------------------------------------------------------------------------------------- the trainer


def multivector_evaluator(
    evaluator: InformationRetrievalEvaluator,
) -> MultiVectorInformationRetrievalEvaluator:
    """The same queries, corpus, relevance, cut-offs and name as `evaluator`, scored by MaxSim."""
    from sentence_transformers.multi_vector_encoder.evaluation import MultiVectorInformationRetrievalEvaluator

    from pagefit.train.passage_evaluator import evaluator_like

    return evaluator_like(evaluator, MultiVectorInformationRetrievalEvaluator)


def multivector_training_args(
    config: TrainConfig, model: MultiVectorEncoder, single_vector_args: Any
) -> MultiVectorEncoderTrainingArguments:
    """`MultiVectorEncoderTrainingArguments` with every setting of the single-vector arguments, plus
    the head's learning rate and the clipping norm."""
    from sentence_transformers.multi_vector_encoder.training_args import MultiVectorEncoderTrainingArguments

    values = {
        f.name: getattr(single_vector_args, f.name)
        for f in dataclasses.fields(MultiVectorEncoderTrainingArguments)
        if f.init and hasattr(single_vector_args, f.name)
    }
    # Values TrainingArguments derives in __post_init__ must go back in as the user gave them.
    values["report_to"] = config.report_to or "none"
    values["learning_rate_mapping"] = {}
    if config.head_lr:
        pattern = head_parameter_pattern(model)
        if pattern is None:
            logger.warning("head_lr: this model has no separate token projection; using lr everywhere")
        else:
            values["learning_rate_mapping"] = {pattern: config.head_lr}
    values["max_grad_norm"] = config.max_grad_norm
    return MultiVectorEncoderTrainingArguments(**values)


def _trainer_class() -> type[MultiVectorEncoderTrainer]:
    from sentence_transformers.multi_vector_encoder.trainer import MultiVectorEncoderTrainer

    from pagefit.train.model import has_lora, load_lora_state, save_lora_state

    class PagefitMultiVectorTrainer(MultiVectorEncoderTrainer):
        """Keeps LoRA adapter weights in every checkpoint and restores them on `--resume`."""

        def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
            super()._save(output_dir, state_dict)
            if has_lora(self.model):
                save_lora_state(self.model, output_dir or self.args.output_dir)

        def _load_from_checkpoint(self, checkpoint_path: str, *args: Any, **kwargs: Any) -> None:
            if has_lora(self.model):
                load_lora_state(self.model, checkpoint_path)
            else:
                super()._load_from_checkpoint(checkpoint_path, *args, **kwargs)

    return PagefitMultiVectorTrainer


def build_multivector_trainer(
    config: TrainConfig, data: TrainData, out: Path, precision: Precision, model: MultiVectorEncoder
) -> tuple[MultiVectorEncoderTrainer, MultiVectorInformationRetrievalEvaluator | None]:
    """Loss, evaluator and arguments of a multi-vector run, around an already built model.

    Mirrors `pagefit.train.trainer.build_trainer`: the same arguments (converted), the same eval
    corpus (scored by MaxSim), CachedMultiVectorMultipleNegativesRankingLoss instead of CMNRL.
    """
    from sentence_transformers.multi_vector_encoder.losses import (
        CachedMultiVectorMultipleNegativesRankingLoss,
    )

    from pagefit.train import trainer as base
    from pagefit.train.model import add_lora, uses_router

    if config.matryoshka_dims or config.truncate_dim:
        raise PagefitError(
            f"{config.model} is a multi-vector model: it has no Matryoshka dimensions; pass "
            "--matryoshka-dims none (and no --truncate-dim), or use a multi-vector preset such as ocr-colminilm"
        )
    if config.unfreeze_top_layers:
        freeze_all_but_top(model, config.unfreeze_top_layers)
    if config.lora:
        add_lora(model, config)
    # Selection on the validation split, scored by MaxSim (`pagefit.train.trainer.heldout_evaluator`).
    evaluator = base.heldout_evaluator(config, data, model, "validation")
    validation = data.validation
    columns = list(
        dict.fromkeys(
            [*data.train.column_names, *(validation.column_names if validation is not None else [])]
        )
    )
    base_args = base.training_args(
        config, out, precision, columns, router=uses_router(model), evaluate=evaluator is not None
    )
    trainer = _trainer_class()(
        model=model,
        args=multivector_training_args(config, model, base_args),
        train_dataset=data.train,
        eval_dataset=validation if config.eval_loss and evaluator is not None else None,
        loss=CachedMultiVectorMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size),
        evaluator=evaluator,
        callbacks=_callbacks(base),
    )
    _progress(trainer, config)
    return trainer, evaluator


def _callbacks(base: Any) -> list[Any]:
    """The single-vector run's callbacks: the last evaluation, and best-checkpoint selection on the
    validation split by the model's own MaxSim NDCG@10 (`pagefit.train` reads both back after training)."""
    return [base._last_eval_callback(), base.best_checkpoint_callback("model")]


def _progress(trainer: Any, config: TrainConfig) -> None:
    """Progress as in a single-vector run: pagefit's own bar where it exists, else the trainer's tqdm."""
    import importlib.util

    from transformers import PrinterCallback

    has_bar = importlib.util.find_spec("pagefit.train.progress") is not None
    if has_bar or not config.show_progress:
        trainer.remove_callback(PrinterCallback)  # it would print every log line
    if has_bar and config.show_progress:
        from pagefit.train.progress import train_progress_callback

        trainer.add_callback(train_progress_callback())


# -------------------------------------------------------------------------------------------- token pooling


def vectors_per_page(model: MultiVectorEncoder, pages: list[Any], *, batch_size: int = 8) -> float:
    """Mean number of stored vectors per page (after the model's own masking and pooling)."""
    if not pages:
        return 0.0
    embeddings = model.encode_document(pages, batch_size=batch_size, show_progress_bar=False)
    return float(sum(len(e) for e in embeddings) / len(embeddings))


def apply_token_pooling(
    model: MultiVectorEncoder, config: TrainConfig, probe_pages: list[Any] | None = None
) -> dict[str, Any]:
    """Append `HierarchicalTokenPooling` of page vectors to the model (when configured) before it is saved.

    Every consumer of the saved folder (eval, index) then stores the pooled page vectors; queries stay
    unpooled. Measured on up to 32 `probe_pages`, the record says how many vectors per page it leaves.

    Returns:
        ``{}`` without pooling, else the pooling settings and vectors per page before and after.
    """
    if config.token_pooling == "none":
        return {}
    from sentence_transformers.multi_vector_encoder.modules import BaseTokenPooling, HierarchicalTokenPooling

    if any(isinstance(m, BaseTokenPooling) for m in model.children()):
        logger.warning("the model already pools its page vectors: not adding another token pooling")
        return {}
    probe = list(probe_pages or [])[:_POOLING_PROBE_PAGES]
    before = vectors_per_page(model, probe)
    # The first token ([CLS] / the chat template's first token) is kept as is, as ColBERT does.
    model.append(HierarchicalTokenPooling(pool_factor=config.pool_factor, num_protected_tokens=1))
    after = vectors_per_page(model, probe)
    record = {
        "method": config.token_pooling,
        "pool_factor": config.pool_factor,
        "probe_pages": len(probe),
        "vectors_per_page_before": round(before, 2),
        "vectors_per_page_after": round(after, 2),
    }
    logger.info("token pooling: %.1f -> %.1f vectors per page", before, after)
    return record


def eval_pages(evaluator: Any) -> list[Any]:
    """The eval corpus' pages (paths or images), for the token-pooling probe."""
    corpus = getattr(evaluator, "corpus", None) or []
    return [page for page in corpus if isinstance(page, (str, os.PathLike)) or hasattr(page, "size")]
