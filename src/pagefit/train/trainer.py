"""The Sentence Transformers trainer of `pagefit train`: model, loss, arguments, evaluator, put together."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.train.data import (
    EVALUATOR_NAME,
    VALIDATION_NAME,
    build_evaluator,
    describe_eval_corpus,
    describe_scoring,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments

    from pagefit.evaluation.fusion import FusionConfig
    from pagefit.passages import PassageConfig
    from pagefit.train.config import TrainConfig
    from pagefit.train.data import TrainData

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINTS_DIR",
    "BestCheckpoint",
    "build_trainer",
    "final_evaluation",
    "heldout_evaluator",
    "make_loss",
    "training_args",
]

CHECKPOINTS_DIR = "checkpoints"


def make_loss(model: SentenceTransformer, config: TrainConfig, data: TrainData | None = None) -> Any:
    """CachedMultipleNegativesRankingLoss(mini_batch_size) (or, with `hybrid_loss`, the ranking loss on the
    fused score: `pagefit.train.hybrid_loss`), inside MatryoshkaLoss when dims are set."""
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
    )

    if config.hybrid_loss:
        loss = _hybrid_loss(model, config, data)
    else:
        loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=config.mini_batch_size)
    if config.matryoshka_dims:
        loss = MatryoshkaLoss(model, loss, matryoshka_dims=config.matryoshka_dims)
    return loss


def _hybrid_loss(model: SentenceTransformer, config: TrainConfig, data: TrainData | None) -> Any:
    """`HybridRankingLoss` over the train rows: BM25 over the train-split pages only (no held-out page)."""
    import numpy as np

    from pagefit.errors import PagefitError
    from pagefit.train.hybrid_loss import HybridRankingLoss, bm25_offsets, fusion_beta

    if data is None or not data.train_page_ids or not data.train_texts:
        raise PagefitError(
            "hybrid_loss needs a pairs/mined folder from `pagefit pairs`/`pagefit mine` whose corpus holds page "
            "text (it scores the train pages with BM25)"
        )
    ids = list(data.train_texts)
    position = {pid: i for i, pid in enumerate(ids)}
    row_pages = np.array([[position.get(p, -2) for p in row] for row in data.train_page_ids], dtype=np.int64)
    top_pages, top_scores = bm25_offsets(data.train["query"], [data.train_texts[p] for p in ids],
                                         language=config.bm25_language)  # fmt: skip
    spread = _dense_spread(model, data, config.encode_batch_size)
    beta = fusion_beta(spread, configured_fusion(config).weight, scale=20.0)
    logger.info(
        "hybrid loss: BM25 offsets over %d train pages, beta %.2f (dense spread %.3f)", len(ids), beta, spread
    )
    data.summary["hybrid_loss"] = {
        "train_pages": len(ids),
        "beta": round(beta, 4),
        "dense_spread": round(spread, 4),
    }
    return HybridRankingLoss(model, row_pages, top_pages, top_scores, beta)


def _dense_spread(model: SentenceTransformer, data: TrainData, batch_size: int, sample: int = 256) -> float:
    """The base model's typical max - min cosine over a query's top 100 train pages (min-max fusion divides
    the dense scores by it), on a sample of the train queries."""
    import numpy as np

    columns = data.train.column_names[1:]
    pages = sorted({p for c in columns if c.startswith(("image", "negative_")) for p in data.train[c]})
    queries = list(dict.fromkeys(data.train["query"]))[:sample]
    q = model.encode_query(queries, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    d = model.encode_document(pages, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    scores = np.sort(q @ d.T, axis=1)[:, ::-1][:, :100]
    return float(np.mean(scores[:, 0] - scores[:, -1]))


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


def _primary(metrics: dict[str, float], select_on: str = "hybrid") -> float | None:
    """The validation NDCG@10 that selection maximises in the trainer's evaluation output: the fused one
    (`eval_pagefit-validation_hybrid_ndcg@10`) when `select_on` is "hybrid" and it was computed, else the
    model's own (`eval_pagefit-validation_<similarity>_ndcg@10`)."""
    from pagefit.train.passage_evaluator import HYBRID

    prefix = f"eval_{VALIDATION_NAME}_"
    found = {k: float(v) for k, v in metrics.items() if k.startswith(prefix) and k.endswith("_ndcg@10")}
    fused = found.pop(f"{prefix}{HYBRID}_ndcg@10", None)
    if select_on == "hybrid" and fused is not None:
        return fused
    return next(iter(found.values()), None)


class BestCheckpoint:
    """(Mixed into a `TrainerCallback` by `best_checkpoint_callback`.) Keeps the weights of the best evaluation
    so far (held-out NDCG@10), so the run hands over its best checkpoint rather than its last one; step 0 is
    the base model.

    The trainable parameters of the best step are kept as a CPU copy (all weights for a full finetune, the
    adapters only with LoRA) and written to `checkpoints/best/step-N.safetensors` when the step is evaluated.
    Every checkpoint's `trainer_state.json` records the evaluations so far (`state()`, transformers'
    `ExportableState`), so `--resume` starts from the same candidates an uninterrupted run had at that step.
    """

    def __init__(self, select_on: str = "hybrid") -> None:
        self.select_on = select_on
        self.history: list[tuple[int, float]] = []  # (step, ndcg@10) of every evaluation
        self.metrics: dict[int, dict[str, float]] = {}
        self.best_step: int | None = None
        self.best_value: float | None = None
        self._weights: dict[str, Any] | None = None

    def state(self) -> dict[str, Any]:
        """What a checkpoint records (transformers writes it into `trainer_state.json`)."""
        return {
            "args": {"select_on": self.select_on},
            "attributes": {"history": [list(h) for h in self.history], "best_step": self.best_step,
                           "best_value": self.best_value,
                           "metrics": {str(s): m for s, m in self.metrics.items()}},
        }  # fmt: skip

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any):
        recorded = (state.stateful_callbacks or {}).get(type(self).__name__)
        if state.global_step > 0 and isinstance(recorded, dict):  # resumed: the checkpoint's evaluations
            self._restore_state(recorded.get("attributes", {}), Path(args.output_dir))

    def _restore_state(self, recorded: dict[str, Any], folder: Path) -> None:
        from safetensors.torch import load_file

        best_step = recorded.get("best_step")
        path = _best_weights_path(folder, best_step) if best_step is not None else None
        if path is not None and not path.is_file():
            logger.warning("--resume: %s is missing: evaluations before the resume are not candidates", path)
            return
        self.history = [(int(s), float(v)) for s, v in recorded.get("history", [])]
        self.metrics = {int(s): dict(m) for s, m in recorded.get("metrics", {}).items()}
        self.best_step, self.best_value = best_step, recorded.get("best_value")
        self._weights = load_file(str(path)) if path is not None else None
        logger.info("resumed %d evaluations (best step %s)", len(self.history), best_step)

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw: Any
    ):
        value = _primary(metrics or {}, self.select_on)
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
                    n: p.detach().to("cpu", copy=True).contiguous()
                    for n, p in model.named_parameters()
                    if p.requires_grad
                }
                if args.should_save:  # before any checkpoint names this step as its best
                    _write_best_weights(Path(args.output_dir), step, self._weights)

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any):
        if args.should_save:
            _drop_unused_best_weights(Path(args.output_dir), self.best_step)

    def restore(self, model: Any) -> None:
        """Put the best step's weights back into `model`."""
        import torch

        if self._weights is None:
            return
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in self._weights:
                    param.copy_(self._weights[name].to(param.device))


BEST_DIR = "best"


def _best_weights_path(folder: Path, step: int) -> Path:
    return folder / BEST_DIR / f"step-{step}.safetensors"


def _write_best_weights(folder: Path, step: int, weights: dict[str, Any]) -> None:
    from safetensors.torch import save

    from pagefit._io import atomic_write_bytes

    atomic_write_bytes(_best_weights_path(folder, step), save(weights))


def _drop_unused_best_weights(folder: Path, best_step: int | None) -> None:
    """Delete the best weights that neither the run nor any checkpoint left on disk still names."""
    import json

    keep = {best_step}
    for state_file in folder.glob("checkpoint-*/trainer_state.json"):
        try:
            recorded = json.loads(state_file.read_text(encoding="utf-8")).get("stateful_callbacks", {})
        except (OSError, ValueError):
            continue
        keep |= {c.get("attributes", {}).get("best_step") for c in recorded.values() if isinstance(c, dict)}
    for path in (folder / BEST_DIR).glob("step-*.safetensors"):
        if int(path.stem.removeprefix("step-")) not in keep:
            path.unlink(missing_ok=True)


def best_checkpoint_callback(select_on: str = "hybrid") -> BestCheckpoint:
    from transformers import TrainerCallback
    from transformers.trainer_callback import ExportableState

    class BestCheckpointCallback(BestCheckpoint, TrainerCallback, ExportableState):
        pass

    return BestCheckpointCallback(select_on)


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
    from pagefit.sparse_embeddings import is_sparse

    if is_sparse(model):  # learned-sparse (SPLADE): SpladeLoss, sparse evaluator and trainer class
        from pagefit.train.sparse import build_sparse_trainer

        return build_sparse_trainer(config, data, out, precision, model)
    check_dims(model, config)
    if config.lora:
        add_lora(model, config)
    # Selection reads the validation split only; the eval split is scored once before and once after.
    evaluator = heldout_evaluator(config, data, model, "validation")
    if config.hybrid_loss:  # the loss reads each row's index as its label (the collator hands it over)
        from pagefit.train.hybrid_loss import ROW_COLUMN

        data.train = data.train.add_column(ROW_COLUMN, list(range(len(data.train))))
    columns = list(
        dict.fromkeys(
            [*data.train.column_names, *(data.validation.column_names if data.validation is not None else [])]
        )
    )
    args = training_args(
        config, out, precision, columns, router=uses_router(model), evaluate=evaluator is not None
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=data.train,
        # (the hybrid loss reads row indices of the train split: it computes no validation loss)
        eval_dataset=data.validation if config.eval_loss and evaluator and not config.hybrid_loss else None,
        loss=make_loss(model, config, data),
        evaluator=evaluator,
        callbacks=[_last_eval_callback(), best_checkpoint_callback(config.select_on)],
    )
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it would print every log dict
    if config.show_progress:
        from pagefit.train.progress import train_progress_callback

        trainer.add_callback(train_progress_callback())
    return trainer, evaluator


def configured_fusion(config: TrainConfig) -> FusionConfig:
    """The fusion held-out evaluations use before any tuning: the default, or one `fusion_weight` for every query."""
    from pagefit.evaluation.fusion import FusionConfig

    if config.fusion_weight is None:
        return FusionConfig()
    return FusionConfig(weight=config.fusion_weight, keyword_weight=None)


def heldout_evaluator(
    config: TrainConfig, data: TrainData, model: SentenceTransformer, split: str
) -> InformationRetrievalEvaluator | None:
    """The retrieval evaluator of a held-out split ("validation": selection; "eval": the reported numbers),
    scored as the model is deployed (passages, and fused with BM25 where the pages have text); None when
    the data has no such split. Records what it searches in `data.summary`."""
    from pagefit.train.multivector import is_multi_vector, multivector_evaluator

    rows, heldout = (
        (data.validation, data.validation_heldout) if split == "validation" else (data.eval, data.heldout)
    )
    if rows is None and heldout is None:
        return None
    name = VALIDATION_NAME if split == "validation" else EVALUATOR_NAME
    from pagefit.sparse_embeddings import is_sparse

    if is_multi_vector(model):  # the single-vector task, re-scored by MaxSim
        single = build_evaluator(rows, batch_size=config.encode_batch_size, heldout=heldout, name=name)
        evaluator = multivector_evaluator(single)
    elif is_sparse(model):  # the single-vector task, scored by sparse vectors
        from pagefit.train.sparse import sparse_evaluator

        single = build_evaluator(rows, batch_size=config.encode_batch_size, heldout=heldout, name=name)
        evaluator = sparse_evaluator(single)
    else:
        evaluator = build_evaluator(
            rows, batch_size=config.encode_batch_size, heldout=heldout, name=name,
            passages=_heldout_passages(config, model), fusion=configured_fusion(config),
            bm25_language=config.bm25_language,
        )  # fmt: skip
    data.summary |= {
        f"{split}_queries": len(evaluator.queries),
        f"{split}_corpus": len(evaluator.corpus),
        **describe_eval_corpus(heldout, split),
        f"{split}_scoring": describe_scoring(getattr(evaluator, "passages", None), getattr(evaluator, "fuses", False)),
    }  # fmt: skip
    return evaluator


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
