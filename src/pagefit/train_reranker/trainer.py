"""The Sentence Transformers `CrossEncoderTrainer` of `pagefit train-reranker`: model, loss, arguments, evaluator.

Step settings, warmup, LoRA checkpoints and the last-evaluation bookkeeping are `pagefit train`'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.train.trainer import CHECKPOINTS_DIR, _last_eval_callback, _steps, _trainer_class, _warmup_steps
from pagefit.train_reranker.data import EVALUATOR_NAME

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from sentence_transformers.cross_encoder.trainer import CrossEncoderTrainer
    from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments

    from pagefit.train_reranker.config import RerankerConfig
    from pagefit.train_reranker.data import RerankerData

__all__ = ["CHECKPOINTS_DIR", "build_evaluator", "build_reranker_trainer", "make_loss", "training_args"]


def make_loss(model: CrossEncoder, config: RerankerConfig, negatives: int) -> Any:
    """BinaryCrossEntropyLoss (positives weighted by the negatives per positive), or a listwise loss."""
    import torch
    from sentence_transformers.cross_encoder import losses

    if config.loss == "bce":
        weight = config.pos_weight if config.pos_weight is not None else float(max(negatives, 1))
        return losses.BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(weight))
    if config.loss == "listnet":
        return losses.ListNetLoss(model)
    if config.loss == "lambda":
        return losses.LambdaLoss(model)
    return losses.MultipleNegativesRankingLoss(model)


def build_evaluator(samples: list[dict[str, Any]], config: RerankerConfig) -> CrossEncoderRerankingEvaluator:
    """Reranking of the retriever's top-k (`documents`), positives outside it counting as misses."""
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    return CrossEncoderRerankingEvaluator(
        samples=samples,
        at_k=10,
        always_rerank_positives=False,
        name=EVALUATOR_NAME,
        prompt_name=config.document if config.document in config.prompts else None,
        batch_size=config.eval_batch_size or config.batch_size,
        write_csv=False,
    )


def training_args(
    config: RerankerConfig, out: Path, precision: str, evaluate: bool
) -> CrossEncoderTrainingArguments:
    """`pagefit train`'s step, warmup and checkpoint settings, for a CrossEncoder."""
    import torch
    from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments

    from pagefit.train_reranker.model import HEAD_PATTERN

    multi_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    prompt = config.prompts.get(config.document)
    return CrossEncoderTrainingArguments(
        output_dir=str(out / CHECKPOINTS_DIR),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size or config.batch_size,
        learning_rate=config.lr,
        learning_rate_mapping={HEAD_PATTERN: config.head_lr} if config.head_lr else {},
        warmup_steps=_warmup_steps(config),  # type: ignore[arg-type]
        weight_decay=config.weight_decay,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        prompts={config.document: prompt} if prompt else None,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=_steps(config.eval_every) if evaluate else None,
        save_strategy="steps",
        save_steps=_steps(config.save_every),
        save_total_limit=config.save_total_limit,
        logging_steps=_steps(config.logging_every),
        seed=config.seed,
        report_to=config.report_to or "none",
        run_name=out.name,
        activation_checkpointing=config.gradient_checkpointing,
        dataloader_num_workers=config.dataloader_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=multi_cpu,
        disable_tqdm=True,  # pagefit draws its own display (train/progress.py)
    )


def build_reranker_trainer(
    config: RerankerConfig, data: RerankerData, out: Path, precision: str
) -> tuple[CrossEncoderTrainer, CrossEncoderRerankingEvaluator | None]:
    """The reranker (with LoRA when asked), loss, evaluator and arguments, in one trainer."""
    from sentence_transformers.cross_encoder.trainer import CrossEncoderTrainer
    from transformers import set_seed

    from pagefit.train.model import add_lora
    from pagefit.train_reranker.model import build_reranker

    set_seed(config.seed)  # before building: a new head starts from random weights
    model = build_reranker(config, precision)
    if config.lora:
        add_lora(model, config)  # type: ignore[arg-type]
    evaluator = build_evaluator(data.eval_samples, config) if data.eval_samples else None
    negatives = sum(data.summary["negatives_per_positive"].values())
    trainer = _trainer_class(CrossEncoderTrainer)(
        model=model,
        args=training_args(config, out, precision, evaluate=evaluator is not None),
        train_dataset=data.train,
        loss=make_loss(model, config, negatives),
        evaluator=evaluator,
        callbacks=[_last_eval_callback()],
    )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it would print every log dict
    if config.show_progress:
        from pagefit.train.progress import train_progress_callback

        trainer.add_callback(train_progress_callback())
    return trainer, evaluator
