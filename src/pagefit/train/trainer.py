"""The Sentence Transformers trainer of `pagefit train`: model, loss, arguments, evaluator, put together."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.train.data import EVALUATOR_NAME, build_evaluator, describe_eval_corpus, describe_scoring

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments

    from pagefit.passages import PassageConfig
    from pagefit.train.config import TrainConfig
    from pagefit.train.data import TrainData

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINTS_DIR",
    "BestCheckpoint",
    "build_trainer",
    "final_evaluation",
    "make_loss",
    "training_args",
]

CHECKPOINTS_DIR = "checkpoints"


def make_loss(model: SentenceTransformer, config: TrainConfig) -> Any:
    """CachedMultipleNegativesRankingLoss(mini_batch_size), inside MatryoshkaLoss when dims are set."""
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
    )

    loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size)
    if config.matryoshka_dims:
        loss = MatryoshkaLoss(model, loss, matryoshka_dims=config.matryoshka_dims)
    return loss


def _steps(value: float) -> float | int:
    """Trainer step settings: a float < 1 is a fraction of the run, otherwise a number of steps."""
    return value if value < 1 else int(value)


def _warmup_steps(config: TrainConfig) -> float | int:
    """Warmup, but never every step of a short `max_steps` run (that step would run at lr 0)."""
    warmup = _steps(config.warmup)
    if not config.max_steps:
        return warmup
    steps = math.ceil(config.max_steps * warmup) if isinstance(warmup, float) else warmup
    return min(steps, config.max_steps - 1)


def training_args(
    config: TrainConfig, out: Path, precision: str, columns: list[str], *, router: bool, evaluate: bool
) -> SentenceTransformerTrainingArguments:
    """The article's arguments (NO_DUPLICATES batches, float warmup, eval/save by fraction) from `config`."""
    import torch
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    # A Router picks its route per column: queries take the query route, pages the document route.
    router_mapping = {c: "query" if c == "query" else "document" for c in columns} if router else None
    # Without a GPU, accelerate runs several processes (torchrun, accelerate launch) as one distributed
    # CPU job only when told to use the CPU; otherwise each process would train alone.
    multi_cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    return SentenceTransformerTrainingArguments(
        output_dir=str(out / CHECKPOINTS_DIR),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size or config.batch_size,
        learning_rate=config.lr,
        warmup_steps=_warmup_steps(config),
        weight_decay=config.weight_decay,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        batch_sampler=BatchSamplers.NO_DUPLICATES,
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
        router_mapping=router_mapping,
        dataloader_num_workers=config.dataloader_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=multi_cpu,
        disable_tqdm=True,  # pagefit draws its own display (train/progress.py)
    )


def _trainer_class(base: type | None = None) -> type[SentenceTransformerTrainer]:
    """pagefit's trainer: `base` (default SentenceTransformerTrainer, e.g. CrossEncoderTrainer) with LoRA checkpoints."""
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer

    from pagefit.train.model import has_lora, load_lora_state, save_lora_state

    class PagefitTrainer(base or SentenceTransformerTrainer):
        """Keeps LoRA adapter weights in every checkpoint and restores them on `--resume`."""

        def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
            super()._save(output_dir, state_dict)
            if has_lora(self.model):
                save_lora_state(self.model, output_dir or self.args.output_dir)

        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            loss = super().training_step(model, inputs, num_items_in_batch)
            if not bool(loss.isfinite().all()):  # stop before a diverged model is checkpointed or saved
                raise _diverged(self, float(loss.detach().float().mean()))
            return loss

        def _load_from_checkpoint(self, checkpoint_path: str, *args: Any, **kwargs: Any) -> None:
            if has_lora(self.model):
                load_lora_state(self.model, checkpoint_path)
            else:
                super()._load_from_checkpoint(checkpoint_path, *args, **kwargs)

    return PagefitTrainer


def _diverged(trainer: SentenceTransformerTrainer, loss: float) -> Exception:
    from pagefit.errors import PagefitError

    step = trainer.state.global_step + 1
    lr = trainer.args.learning_rate
    out = Path(trainer.args.output_dir).parent
    return PagefitError(
        f"training stopped at step {step}: the loss became {loss} (the weights diverged; learning rate {lr:g}). "
        f"No model was saved in {out}. Lower --lr (e.g. {lr / 10:g}), keep precision fp32/bf16, and train "
        f"again into a new --out (or delete {out} first)"
    )


def _last_eval_callback() -> Any:
    from transformers import TrainerCallback

    class LastEvaluation(TrainerCallback):
        """Remembers the latest evaluation, so a run that ends on an eval step is not evaluated twice."""

        def __init__(self) -> None:
            self.step: int | None = None
            self.metrics: dict[str, float] = {}

        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw: Any
        ):
            self.step, self.metrics = state.global_step, dict(metrics or {})

    return LastEvaluation()


def _primary(metrics: dict[str, float]) -> float | None:
    """The held-out NDCG@10 in the trainer's evaluation output (`eval_pagefit-eval_<similarity>_ndcg@10`)."""
    prefix = f"eval_{EVALUATOR_NAME}_"
    return next(
        (float(v) for k, v in metrics.items() if k.startswith(prefix) and k.endswith("_ndcg@10")), None
    )


class BestCheckpoint:
    """(Mixed into a `TrainerCallback` by `best_checkpoint_callback`.) Keeps the weights of the best evaluation so far (held-out NDCG@10), so the run hands over its best
    checkpoint rather than its last one; step 0 is the base model.

    The trainable parameters of the best step are kept as a CPU copy (all weights for a full finetune,
    the adapters only with LoRA). After `--resume`, evaluations from before the resume cannot be
    restored and are not candidates.
    """

    def __init__(self) -> None:
        self.history: list[tuple[int, float]] = []  # (step, ndcg@10) of every evaluation
        self.metrics: dict[int, dict[str, float]] = {}
        self.best_step: int | None = None
        self.best_value: float | None = None
        self._weights: dict[str, Any] | None = None

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw: Any
    ):
        value = _primary(metrics or {})
        if value is None:
            return
        step = state.global_step
        self.history.append((step, value))
        self.metrics[step] = dict(metrics or {})
        # On a tie the later step wins: as good on the held-out queries, and trained longer.
        if step > 0 and (self.best_value is None or value >= self.best_value):
            self.best_step, self.best_value = step, value
            model = kw.get("model")
            if model is not None:
                self._weights = {
                    n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad
                }

    def restore(self, model: Any) -> None:
        """Put the best step's weights back into `model`."""
        import torch

        if self._weights is None:
            return
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in self._weights:
                    param.copy_(self._weights[name].to(param.device))


def best_checkpoint_callback() -> BestCheckpoint:
    from transformers import TrainerCallback

    class BestCheckpointCallback(BestCheckpoint, TrainerCallback):
        pass

    return BestCheckpointCallback()


def best_checkpoint(trainer: SentenceTransformerTrainer) -> BestCheckpoint:
    return next(c for c in trainer.callback_handler.callbacks if isinstance(c, BestCheckpoint))


def final_evaluation(trainer: SentenceTransformerTrainer) -> dict[str, float]:
    """The trained model's evaluation: the one run at the last step when there was one, else a new one."""
    if (
        trainer.evaluator is None and trainer.eval_dataset is None
    ):  # eval_split: null trains without evaluation
        return {}
    last = next(c for c in trainer.callback_handler.callbacks if type(c).__name__ == "LastEvaluation")
    if last.step == trainer.state.global_step and last.metrics:
        return last.metrics
    return trainer.evaluate()


def build_trainer(
    config: TrainConfig, data: TrainData, out: Path, precision: str
) -> tuple[SentenceTransformerTrainer, InformationRetrievalEvaluator | None]:
    """The model (with LoRA when asked), loss, evaluator and arguments, in one trainer."""
    from transformers import set_seed

    from pagefit.train.model import add_lora, build_model, check_dims, uses_router

    set_seed(config.seed)  # before building: a Router's projections start from random weights
    model = build_model(config, precision)
    from pagefit.train.multivector import build_multivector_trainer, is_multi_vector

    if is_multi_vector(model):  # token vectors + MaxSim: its own loss, evaluator and trainer class
        return build_multivector_trainer(config, data, out, precision, model)
    check_dims(model, config)
    if config.lora:
        add_lora(model, config)
    evaluator = None
    if data.eval is not None or data.heldout is not None:
        passages = _heldout_passages(config, model)
        evaluator = build_evaluator(data.eval, batch_size=config.encode_batch_size, heldout=data.heldout,
                                    passages=passages)  # fmt: skip
        data.summary |= {"eval_queries": len(evaluator.queries), "eval_corpus": len(evaluator.corpus),
                         **describe_eval_corpus(data),
                         "eval_scoring": describe_scoring(getattr(evaluator, "passages", None))}  # fmt: skip
    columns = list(
        dict.fromkeys([*data.train.column_names, *(data.eval.column_names if data.eval is not None else [])])
    )
    args = training_args(
        config, out, precision, columns, router=uses_router(model), evaluate=evaluator is not None
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.eval if config.eval_loss else None,
        loss=make_loss(model, config),
        evaluator=evaluator,
        callbacks=[_last_eval_callback(), best_checkpoint_callback()],
    )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it would print every log dict
    if config.show_progress:
        from pagefit.train.progress import train_progress_callback

        trainer.add_callback(train_progress_callback())
    return trainer, evaluator


def _heldout_passages(config: TrainConfig, model: SentenceTransformer) -> PassageConfig | None:
    """Passage scoring for the held-out evaluation, as `pagefit eval` decides it (None: page vectors)."""
    if config.passages is False:
        return None
    from pagefit.passages import PassageConfig, reads_text

    if not reads_text(model):
        if config.passages:
            logger.warning(
                "the model reads page pixels, not text: passages apply to text-reading models only"
            )
        return None
    return PassageConfig(weight=config.passage_weight)
