"""`pagefit train`: finetune an embedding model on (query, page image, hard negatives) with Sentence Transformers.

The recipe is the seed article's: `CachedMultipleNegativesRankingLoss` inside `MatryoshkaLoss`, batches
without duplicates, and an `InformationRetrievalEvaluator` run before, during and after training over
every page of the eval-split documents (or `eval_corpus`), the twins of relevant pages relevant; the
step with the best held-out NDCG@10 is the one saved, and the summary says whether it beats the base. Everything is configured by one `TrainConfig`
(preset < YAML file < flags, see `pagefit.train.config`); the output folder holds the Sentence
Transformers model, its model card, `train_config.yaml` (repeat the run with `pagefit train --config`),
`train_summary.json` and the checkpoints (`checkpoints/`, for `--resume`).

Runs unchanged under `torchrun` / `accelerate launch`: only the main process writes files.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError
from pagefit.train.config import (
    CONFIG_FILE,
    TrainConfig,
    list_presets,
    merge_layers,
    resolve_train_config,
    save_train_config,
    validate_config,
)
from pagefit.train.data import EVALUATOR_NAME, VALIDATION_NAME, load_train_data
from pagefit.train.trainer import (
    CHECKPOINTS_DIR,
    best_checkpoint,
    build_trainer,
    final_evaluation,
    heldout_evaluator,
)

HYBRID = "hybrid"  # the fused metrics' prefix (`pagefit.train.passage_evaluator.HYBRID`)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer

    from pagefit.train.data import TrainData


__all__ = ["TrainConfig", "TrainResult", "list_presets", "resolve_train_config", "train"]

logger = logging.getLogger(__name__)

SUMMARY_FILE = "train_summary.json"
BASE_METRICS_FILE = "base_metrics.json"


@dataclass
class TrainResult:
    """What a training run produced (also written to `train_summary.json`); `model` is the trained model."""

    output_dir: Path
    config: TrainConfig
    base_metrics: dict[str, float]
    final_metrics: dict[str, float]
    metrics_by_dim: dict[int, dict[str, float]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    model: SentenceTransformer | None = field(default=None, repr=False)


def config_for_run(config: Any, overrides: dict[str, Any], *, validate: Any, resolve: Any) -> Any:
    """The config of a run of `train` or `train_reranker`: `config` with `overrides` validated on top,
    or resolved from `preset` < `config_file` < the other overrides. `--out OUT --resume` without a
    config file continues the run recorded in OUT (its `train_config.yaml`)."""
    preset = overrides.pop("preset", None)
    config_file = overrides.pop("config_file", None)
    if config is not None:
        if preset or config_file:
            raise PagefitError(f"pass either a {type(config).__name__} or preset/config_file, not both")
        return validate(config.model_dump(), overrides)
    output, resume = overrides.get("output"), overrides.get("resume")
    if resume and config_file is None and output and (Path(output) / CONFIG_FILE).is_file():
        config_file = Path(output) / CONFIG_FILE
        logger.info("resuming with the config recorded in %s", config_file)
    return resolve(preset=preset, config_file=config_file, overrides=overrides)


def start_run(config: Any, data_hint: str) -> str | None:
    """Refuse a run without data or output, or one that would overwrite earlier work; check the trackers.

    Returns:
        The checkpoint to resume from (None: start fresh).
    """
    if not config.data:
        raise PagefitError(f"no training data: pass {data_hint} and --out")
    if not config.output:
        raise PagefitError("no output folder: pass --out (or set `output`)")
    resume_from = _prepare_output(Path(config.output), config.resume)
    _check_trackers(config.report_to)
    return resume_from


def train(config: TrainConfig | None = None, /, **overrides: Any) -> TrainResult:
    """Finetune a model and write it, with its records, to `config.output`.

    Args:
        config: a resolved config; when None it is resolved from `preset` (default `ocr-minilm`),
            `config_file` (a YAML file) and the other keyword arguments, in that order of precedence.
        **overrides: `TrainConfig` fields (e.g. `data=`, `output=`, `max_steps=`), plus `preset=` and
            `config_file=` when `config` is None.

    Returns:
        The output folder, base and final retrieval metrics, metrics per Matryoshka dimension and the
        summary written to `train_summary.json`.
    """
    config = config_for_run(config, dict(overrides), resolve=resolve_train_config,
                            validate=lambda dumped, layer: validate_config(merge_layers(dumped, layer)))  # fmt: skip
    resume_from = start_run(config, "DATA (a pairs/mined folder or a dataset name)")
    from pagefit._console import quiet_libraries

    with quiet_libraries():  # transformers' own bars (weights loading, shard writing) and warnings
        return _run(config, resume_from)


def _run(config: TrainConfig, resume_from: str | None) -> TrainResult:
    started = time.perf_counter()
    out = Path(config.output)

    from pagefit.train.model import resolve_precision

    precision = resolve_precision(config.precision)
    data = load_train_data(config)
    trainer, evaluator = build_trainer(config, data, out, precision)
    reported = heldout_evaluator(config, data, trainer.model, "eval")
    is_main = trainer.accelerator.is_main_process
    if is_main:
        save_train_config(config, out)
    kinds = data.heldout.kinds if data.heldout is not None else {}
    base = _base_metrics(trainer, reported, out, resume_from, kinds)
    output = trainer.train(resume_from_checkpoint=resume_from)
    last = _metrics(final_evaluation(trainer), trainer.model, VALIDATION_NAME)
    selection = _select_best(trainer, base.get("validation", {}), last)
    user_written = data.validation_heldout is not None and data.validation_heldout.user_queries > 0
    fusion = _tune_fusion(config, trainer.model, evaluator, reported, user_written) if is_main else None
    final = _metrics(reported(trainer.model), trainer.model, EVALUATOR_NAME, prefix="") if reported else {}
    if final and (by_kind := _by_kind(reported, kinds)):
        selection["eval_by_kind"] = {"base": base.get("eval_by_kind", {}), "final": by_kind}
    if selection["improved"] is None and final and base.get("eval"):  # nothing was selected: the last step
        selection["improved"] = _beats(final, base["eval"], config.select_on)
    by_dim = _metrics_by_dim(trainer, reported, config.matryoshka_dims) if is_main and reported else {}
    summary = {}
    if is_main:
        record = {"precision": precision, "base": base.get("eval", {}), "final": final, "by_dim": by_dim,
                  "train_metrics": output.metrics, "resumed_from": resume_from,
                  "world_size": trainer.args.world_size, "selection": selection, "fusion": fusion}  # fmt: skip
        from pagefit.train.multivector import apply_token_pooling, eval_pages

        if pooling := apply_token_pooling(trainer.model, config, eval_pages(reported or evaluator)):
            data.summary["token_pooling"] = pooling  # saved with the model: vectors per page it leaves
        summary = _finish(trainer, config, data, record, started)
    trainer.accelerator.wait_for_everyone()
    return TrainResult(out, config, base.get("eval", {}), final, by_dim, summary, trainer.model)


def _beats(final: dict[str, float], base: dict[str, float], select_on: str) -> bool | None:
    """Whether `final` beats `base` on the selection metric (the hybrid's NDCG@10 where there is one)."""
    key = f"{HYBRID}_ndcg@10" if select_on == "hybrid" and f"{HYBRID}_ndcg@10" in final else "ndcg@10"
    if key not in final or key not in base:
        return None
    return bool(final[key] > base[key])


def _select_best(
    trainer: SentenceTransformerTrainer, base: dict[str, float], last: dict[str, float]
) -> dict[str, Any]:
    """Hand over the best evaluated step on the validation split (not simply the last), and say whether it
    beats the base model there. When none does, the best trained step is still what is saved, labelled
    `improved: false` in the summary, the card and the console line. Without a validation split the last
    step is kept (`improved` is then decided on the eval split, where nothing was selected)."""
    best = best_checkpoint(trainer)
    step = trainer.state.global_step
    if best.best_step is None:  # no validation evaluation: the last step is all there is
        return {"selected_step": step, "last_step": step, "improved": None, "history": []}
    selected = last
    if best.best_step != step:
        best.restore(trainer.model)
        selected = _metrics(best.metrics[best.best_step], trainer.model, VALIDATION_NAME)
        logger.info(
            "restored step %d (validation NDCG@10 %.4f; last step %d)", best.best_step, best.best_value, step
        )
    history = [{"step": s, "ndcg@10": round(v, 6)} for s, v in best.history]
    fused = best.select_on == "hybrid" and f"{HYBRID}_ndcg@10" in selected
    return {"selected_step": best.best_step, "last_step": step, "improved": _beats(selected, base, best.select_on),
            "selected_on": "validation hybrid ndcg@10" if fused else "validation ndcg@10",
            "validation_base": base, "validation_selected": selected, "validation_last": last,
            "history": history}  # fmt: skip


def _tune_fusion(
    config: TrainConfig,
    model: SentenceTransformer,
    validation: InformationRetrievalEvaluator | None,
    reported: InformationRetrievalEvaluator | None,
    user_written: bool = False,
) -> dict[str, Any] | None:
    """The model's weight in the BM25 fusion, chosen on the validation split (never on the eval split) when
    `tune_fusion` says so (by default: when the validation queries are the user's own), else
    `fusion_weight`; the reported evaluator then fuses with it. None when no held-out pages have text
    (no fusion is measured)."""
    from pagefit.evaluation.fusion import tune_weight
    from pagefit.train.trainer import configured_fusion

    fusion = configured_fusion(config)
    tune = config.tune_fusion if config.tune_fusion is not None else user_written
    if tune and getattr(validation, "fuses", False):
        from pagefit.evaluation.fusion import sparse_as_retrieved

        dense = validation.dense_scores(model)
        weight, grid = tune_weight(dense, sparse_as_retrieved(validation.bm25_scores()), validation.mean_ndcg,
                                   fusion, tie_order=validation.tie_order(), queries=validation.queries,
                                   language=validation.bm25_language)  # fmt: skip
        fusion = fusion.model_copy(update={"weight": weight, "tuning": grid,
                                           "tuned_on": f"validation split ({len(validation.queries)} queries)"})  # fmt: skip
        logger.info(
            "fusion weight %.1f chosen on the validation split (NDCG@10 %.4f)", weight, grid[f"{weight:.2f}"]
        )
    for evaluator in (validation, reported):
        if getattr(evaluator, "fuses", False):
            evaluator.fusion = fusion
    if not (getattr(validation, "fuses", False) or getattr(reported, "fuses", False)):
        return None
    return fusion.model_dump(exclude_none=True)


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest `checkpoint-N` whose trainer state was written (the trainer writes it last).

    A run killed while saving leaves a partial checkpoint behind; resuming from it would fail.
    """
    import json
    import re

    found = [
        (int(m.group(1)), p)
        for p in folder.glob("checkpoint-*")
        if (m := re.fullmatch(r"checkpoint-(\d+)", p.name))
    ]
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("skipping %s: it was not completely written", path)
            continue
        return path
    return None


def _prepare_output(out: Path, resume: bool) -> str | None:
    """The checkpoint to resume from (None: start fresh), after refusing to overwrite earlier work."""
    last = last_complete_checkpoint(out / CHECKPOINTS_DIR)
    if resume:
        if last is None:
            logger.warning(
                "--resume: no checkpoint in %s yet, starting from the beginning", out / CHECKPOINTS_DIR
            )
        return str(last) if last else None
    if (out / SUMMARY_FILE).is_file():
        raise PagefitError(f"{out} already holds a trained model: choose another --out, or delete it first")
    if last is not None:
        raise PagefitError(
            f"{out} holds checkpoints of an unfinished run ({last.name}): pass --resume to continue it, "
            "or choose another --out"
        )
    return None


def _check_trackers(trackers: list[str]) -> None:
    packages = {"trackio": "trackio", "tensorboard": "tensorboard"}
    for tracker in trackers:
        if importlib.util.find_spec(packages[tracker]) is None:
            raise PagefitError(
                f"--report-to {tracker} needs the '{packages[tracker]}' package: pip install {packages[tracker]}"
            )


def _metrics(
    raw: dict[str, float], model: SentenceTransformer, name: str = VALIDATION_NAME, prefix: str = "eval_"
) -> dict[str, float]:
    """Flat metric names (`ndcg@10`, `hybrid_ndcg@10`, `loss`) from an evaluator's prefixed output (the
    trainer's evaluations carry `eval_` in front of the evaluator's name)."""
    own = f"{prefix}{name}_{model.similarity_fn_name}_"
    fused = f"{prefix}{name}_{HYBRID}_"
    metrics = {k.removeprefix(own): float(v) for k, v in raw.items() if k.startswith(own)}
    metrics |= {f"{HYBRID}_{k.removeprefix(fused)}": float(v) for k, v in raw.items() if k.startswith(fused)}
    if "eval_loss" in raw:
        metrics["loss"] = float(raw["eval_loss"])
    return metrics


def _by_kind(evaluator: Any, kinds: dict[str, str]) -> dict[str, dict[str, float]]:
    """NDCG@10 per query kind on the eval split (model alone and fused), from the scores of the evaluation
    just run (where the evaluator scores pages itself)."""
    dense = getattr(evaluator, "last_dense", None)
    if not kinds or dense is None:
        return {}
    return evaluator.ndcg_by_kind(dense, kinds)


def _base_metrics(
    trainer: SentenceTransformerTrainer,
    reported: InformationRetrievalEvaluator | None,
    out: Path,
    resume_from: str | None,
    kinds: dict[str, str],
) -> dict[str, Any]:
    """The untrained model's metrics on the validation and eval splits (read back from the first run's
    record when resuming)."""
    import json

    from pagefit._io import atomic_write_json

    path = out / CHECKPOINTS_DIR / BASE_METRICS_FILE
    if resume_from and path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        return recorded if "eval" in recorded or "validation" in recorded else {"eval": recorded}
    base: dict[str, dict[str, float]] = {}
    if trainer.evaluator is not None:
        base["validation"] = _metrics(trainer.evaluate(), trainer.model, VALIDATION_NAME)
    if reported is not None:
        base["eval"] = _metrics(reported(trainer.model), trainer.model, EVALUATOR_NAME, prefix="")
        if by_kind := _by_kind(reported, kinds):
            base["eval_by_kind"] = by_kind
    if trainer.accelerator.is_main_process and base:
        atomic_write_json(path, base)
    return base


def _metrics_by_dim(
    trainer: SentenceTransformerTrainer, evaluator: InformationRetrievalEvaluator, dims: list[int] | None
) -> dict[int, dict[str, float]]:
    """Retrieval metrics at each Matryoshka dimension; the corpus is encoded once at full size."""
    if not dims:
        return {}
    model = trainer.model
    corpus = evaluator.embed_inputs(
        model,
        evaluator.corpus,
        encode_fn_name="document",
        prompt_name=evaluator.corpus_prompt_name,
        prompt=evaluator.corpus_prompt,
    )
    results = {}
    for dim in dims:
        at_dim = copy(evaluator)
        at_dim.truncate_dim, at_dim.name, at_dim.primary_metric = dim, f"{EVALUATOR_NAME}-{dim}d", None
        raw = at_dim(
            model,
            epoch=trainer.state.epoch or 0,
            steps=trainer.state.global_step,
            corpus_embeddings=corpus[:, :dim],
        )
        prefix = f"{at_dim.name}_{model.similarity_fn_name}_"
        results[dim] = {k.removeprefix(prefix): float(v) for k, v in raw.items() if k.startswith(prefix)}
    return results


def _finish(
    trainer: SentenceTransformerTrainer,
    config: TrainConfig,
    data: TrainData,
    record: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    """Merge adapters, save the model with its card, write `train_summary.json` (main process only)."""
    from pagefit._io import atomic_write_json
    from pagefit.train.card import add_card_section, build_summary

    model = trainer.model
    out = Path(config.output)
    if config.lora and config.merge_lora:
        from pagefit.train.model import merge_lora

        logger.info("merged the LoRA adapters of %d transformer(s) into the model", merge_lora(model))
    if config.truncate_dim:
        model.truncate_dim = config.truncate_dim
    model.save_pretrained(str(out))
    if record.get("fusion"):
        from pagefit.evaluation.fusion import save_model_fusion

        save_model_fusion(out, record["fusion"])
    summary = build_summary(
        config, data.summary, trainer.state, wall_time_s=time.perf_counter() - started, **record
    )
    add_card_section(out / "README.md", summary)
    atomic_write_json(out / SUMMARY_FILE, summary)
    return summary
