"""`RerankerConfig`: one pydantic model for `pagefit train-reranker`, resolved from preset < YAML file < flags.

The resolution machinery is `pagefit train`'s (`pagefit.train.config.resolve_config`); the presets are the
YAML files in `pagefit/presets/reranker/`.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pagefit.errors import PagefitError
from pagefit.train.config import (
    Attention,
    Precision,
    Tracker,
    merge_layers,
    resolve_config,
    validate_config,
)
from pagefit.train.config import (
    list_presets as _list_presets,
)

__all__ = [
    "DEFAULT_PRESET",
    "RerankerConfig",
    "list_presets",
    "resolve_reranker_config",
    "validate_reranker_config",
]

DEFAULT_PRESET = "ocr-minilm-reranker"
COMMAND = "pagefit train-reranker"

# `classifier`: a text encoder with a new 1-logit head; `logit`: a vision-language model scoring with its
# LM head ("1" vs "0"); `features`: last-token features + Dense to one score; `load`: an existing reranker.
RerankerArchitecture = Literal["classifier", "logit", "features", "load"]
Document = Literal["image", "text", "both"]
RerankerLoss = Literal["bce", "listnet", "lambda", "mnrl"]


class RerankerConfig(BaseModel):
    """Everything `pagefit train-reranker` needs; every field is a YAML key and `--set KEY=VALUE` target."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    preset: str | None = Field(None, description="Preset this config started from.")
    description: str = Field("", description="One line saying what this config is for.")

    # Model
    model: str = Field(
        "minilm",
        description="Base model: `minilm` (the packaged all-MiniLM-L6-v2 weights), a local folder or hub "
        "name; with architecture `load`, an existing CrossEncoder reranker to continue training.",
    )
    architecture: RerankerArchitecture = "classifier"
    document: Document = Field(
        "text",
        description="What the reranker reads of a page: its image, its text (text layer / cached OCR) or both "
        "in one message (image and both need a model that reads images).",
    )
    true_token: str = Field("1", description="logit/features: the token whose logit means relevant.")
    false_token: str = Field("0", description="logit/features: the token whose logit means not relevant.")
    prompts: dict[str, str] = Field(
        default_factory=dict,
        description="Instruction per direction (`image`, `text`, `both`), given as the system message.",
    )
    max_length: int | None = Field(None, gt=0, description="Token limit of a (query, page) pair.")
    trust_remote_code: bool = Field(False, description="Allow code shipped with a hub model to run.")
    precision: Precision = "fp32"
    attn_implementation: Attention | None = None
    min_pixels: int | None = Field(None, gt=0)
    max_pixels: int | None = Field(None, gt=0)
    lora: bool = Field(False, description="Train LoRA adapters (peft) instead of all weights (VLM presets).")
    lora_rank: int = Field(16, gt=0)
    lora_alpha: int = Field(32, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: list[str] | Literal["all-linear"] = "all-linear"
    merge_lora: bool = True
    gradient_checkpointing: bool = False

    # Data
    data: str | None = Field(None, description="A mined folder written by `pagefit mine`.")
    corpus: str | None = Field(
        None, description="The corpus folder (default: the one the mined folder records)."
    )
    num_negatives: int = Field(4, ge=0, description="Mined hard negatives per positive (the article's 1:4).")
    random_negatives: int = Field(0, ge=0, description="Extra random negatives per positive (same split).")
    bm25_negatives: int = Field(
        0, ge=0, description="Extra negatives per positive from BM25 over the split's page text."
    )
    max_train_samples: int | None = Field(None, gt=0, description="Positives used for training, at most.")
    max_eval_queries: int | None = Field(None, gt=0)

    # Evaluation: the retriever's top-k over every page of the eval-split documents
    retriever: str | None = Field(
        None, description="Embedding model whose top-k the evaluator reranks (default: the mining model)."
    )
    eval_top_k: int = Field(20, gt=0, description="Candidates per eval query, from the retriever.")

    # Loss
    loss: RerankerLoss = Field(
        "bce",
        description="bce: BinaryCrossEntropyLoss on (query, page, label); listnet / lambda: ListNetLoss / "
        "LambdaLoss on (query, [pages], [labels]); mnrl: MultipleNegativesRankingLoss.",
    )
    pos_weight: float | None = Field(
        None, gt=0, description="bce: weight of positive pairs (default: negatives per positive)."
    )

    # Optimisation
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0)
    batch_size: int = Field(16, gt=0, description="Pairs (bce) or lists (listwise) per step.")
    eval_batch_size: int | None = Field(None, gt=0)
    lr: float = Field(2e-5, gt=0)
    head_lr: float | None = Field(
        None, gt=0, description="Learning rate of a newly initialised head (pooler, classifier, Dense)."
    )
    warmup: float = Field(0.1, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    seed: int = 42
    eval_every: float = Field(0.25, gt=0)
    save_every: float = Field(0.25, gt=0)
    save_total_limit: int | None = Field(2, gt=0)
    logging_every: float = Field(0.05, gt=0)
    report_to: list[Tracker] = Field(default_factory=list)
    dataloader_workers: int = Field(0, ge=0)
    show_progress: bool = True

    # Output
    output: str | None = Field(None, description="Output folder: the trained reranker and its records.")
    resume: bool = Field(False, description="Continue from the last checkpoint in the output folder.")

    @model_validator(mode="after")
    def _check(self) -> RerankerConfig:
        if self.architecture == "classifier" and self.document != "text":
            raise ValueError("architecture 'classifier' reads page text only: set document to 'text'")
        if self.loss == "mnrl" and self.num_negatives + self.random_negatives + self.bm25_negatives == 0:
            raise ValueError("loss 'mnrl' needs negatives")
        return self


def presets_dir() -> Path:
    return Path(str(resources.files("pagefit") / "presets" / "reranker"))


def list_presets() -> dict[str, str]:
    """Reranker preset name -> one-line description."""
    return _list_presets(presets_dir())


def resolve_reranker_config(
    preset: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RerankerConfig:
    """Preset (default `ocr-minilm-reranker`) < YAML file < overrides, validated."""
    return resolve_config(
        RerankerConfig,
        preset=preset,
        config_file=config_file,
        overrides=overrides,
        folder=presets_dir(),
        default_preset=DEFAULT_PRESET,
        command=COMMAND,
    )


def validate_reranker_config(
    values: dict[str, Any], overrides: dict[str, Any] | None = None
) -> RerankerConfig:
    """`values` (e.g. a resolved config's dump) with `overrides` on top, validated."""
    if overrides:
        values = merge_layers(values, overrides)
    try:
        return validate_config(values, RerankerConfig)
    except PagefitError as e:
        raise PagefitError(str(e).replace("training config", "reranker config")) from e
