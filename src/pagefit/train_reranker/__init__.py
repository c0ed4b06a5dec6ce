"""`pagefit train-reranker`: train a Sentence Transformers `CrossEncoder` on your own mined pages.

The data is a `pagefit mine` folder: each positive page with its hard negatives (1:4 by default), plus
optional BM25 and random negatives of the same split (`pagefit.train_reranker.data`). The default loss is
`BinaryCrossEntropyLoss`; ListNet / LambdaLoss / MultipleNegativesRankingLoss are options. The evaluator
reranks the retriever's top k among all pages of the eval-split documents, before, during and after
training, and reports the retriever's own order beside it.

The mechanics are `pagefit train`'s: presets < YAML file < flags, the resolved config saved as
`train_config.yaml`, `--resume` from the last complete checkpoint, a model card section and
`train_summary.json`, unchanged under `torchrun` / `accelerate launch` (only the main process writes).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit._console import quiet_libraries
from pagefit.train import SUMMARY_FILE, config_for_run, start_run
from pagefit.train.config import save_train_config
from pagefit.train.trainer import final_evaluation
from pagefit.train_reranker.config import (
    RerankerConfig,
    list_presets,
    resolve_reranker_config,
    validate_reranker_config,
)
from pagefit.train_reranker.data import EVALUATOR_NAME, load_reranker_data
from pagefit.train_reranker.trainer import CHECKPOINTS_DIR, build_reranker_trainer

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.trainer import CrossEncoderTrainer

    from pagefit.train_reranker.data import RerankerData

__all__ = ["RerankerConfig", "RerankerResult", "list_presets", "resolve_reranker_config", "train_reranker"]

logger = logging.getLogger(__name__)

BASE_METRICS_FILE = "base_metrics.json"


@dataclass
class RerankerResult:
    """What a reranker training run produced (also in `train_summary.json`); `model` is the trained reranker."""

    output_dir: Path
    config: RerankerConfig
    base_metrics: dict[str, float]
    final_metrics: dict[str, float]
    summary: dict[str, Any] = field(default_factory=dict)
    model: CrossEncoder | None = field(default=None, repr=False)


def train_reranker(config: RerankerConfig | None = None, /, **overrides: Any) -> RerankerResult:
    """Train a reranker and write it, with its records, to `config.output`.

    Args:
        config: a resolved config; when None it is resolved from `preset` (default `ocr-minilm-reranker`),
            `config_file` (a YAML file) and the other keyword arguments, in that order of precedence.
        **overrides: `RerankerConfig` fields (e.g. `data=`, `output=`, `max_steps=`), plus `preset=` and
            `config_file=` when `config` is None.

    Returns:
        The output folder, the reranking metrics before and after training (with the retriever's own
        order as `retriever_*`) and the summary written to `train_summary.json`.
    """
    config = config_for_run(
        config, dict(overrides), validate=validate_reranker_config, resolve=resolve_reranker_config
    )
    resume_from = start_run(config, "MINED (a `pagefit mine` folder)")
    with quiet_libraries():
        return _run(config, resume_from)


def _run(config: RerankerConfig, resume_from: str | None) -> RerankerResult:
    started = time.perf_counter()
    out = Path(config.output)

    from pagefit.train.model import resolve_precision

    precision = resolve_precision(config.precision)
    data = load_reranker_data(config)
    trainer, _ = build_reranker_trainer(config, data, out, precision)
    is_main = trainer.accelerator.is_main_process
    if is_main:
        save_train_config(config, out)  # type: ignore[arg-type]
    base = _base_metrics(trainer, out, resume_from)
    output = trainer.train(resume_from_checkpoint=resume_from)
    final = _metrics(final_evaluation(trainer)) if trainer.evaluator is not None else {}
    summary = {}
    if is_main:
        record = {"precision": precision, "base": base, "final": final, "train_metrics": output.metrics,
                  "resumed_from": resume_from, "world_size": trainer.args.world_size}  # fmt: skip
        summary = _finish(trainer, config, data, record, started)
    trainer.accelerator.wait_for_everyone()
    return RerankerResult(out, config, base, final, summary, trainer.model)


def _metrics(raw: dict[str, float]) -> dict[str, float]:
    """`ndcg@10`, `mrr@10`, `map` of the reranked top k, `retriever_*` of the retriever's own order."""
    prefix = f"eval_{EVALUATOR_NAME}_"
    metrics = {}
    for key, value in raw.items():
        if key.startswith(prefix):
            name = key.removeprefix(prefix)
            metrics["retriever_" + name.removeprefix("base_") if name.startswith("base_") else name] = float(
                value
            )
    return metrics


def _base_metrics(trainer: CrossEncoderTrainer, out: Path, resume_from: str | None) -> dict[str, float]:
    """The untrained reranker's metrics (read back from the first run's record when resuming)."""
    import json

    from pagefit._io import atomic_write_json

    path = out / CHECKPOINTS_DIR / BASE_METRICS_FILE
    if resume_from and path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    if trainer.evaluator is None:
        return {}
    base = _metrics(trainer.evaluate())
    if trainer.accelerator.is_main_process:
        atomic_write_json(path, base)
    return base


def _finish(
    trainer: CrossEncoderTrainer,
    config: RerankerConfig,
    data: RerankerData,
    record: dict[str, Any],
    started: float,
) -> dict[str, Any]:
    """Merge adapters, save the reranker with its card, write `train_summary.json` (main process only)."""
    from pagefit._io import atomic_write_json
    from pagefit.train.card import add_card_section
    from pagefit.train_reranker.card import build_summary, card_section

    model = trainer.model
    out = Path(config.output)
    if config.lora and config.merge_lora:
        from pagefit.train.model import merge_lora

        logger.info("merged the LoRA adapters of %d transformer(s) into the reranker", merge_lora(model))
    model.save_pretrained(str(out))
    summary = build_summary(
        config, data.summary, trainer.state, wall_time_s=time.perf_counter() - started, **record
    )
    add_card_section(out / "README.md", summary, card_section(summary))
    atomic_write_json(out / SUMMARY_FILE, summary)
    return summary
