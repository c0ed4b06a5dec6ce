"""`TrainConfig`: one pydantic model for `pagefit train`, resolved from preset < YAML file < flags.

Presets are YAML files shipped in `pagefit/presets/`; each holds a one-line `description` and any
`TrainConfig` fields. A user YAML file may name its base preset with `preset: NAME`.
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pagefit.errors import PagefitError

__all__ = [
    "DEFAULT_PRESET",
    "TrainConfig",
    "list_presets",
    "load_preset",
    "merge_layers",
    "resolve_config",
    "resolve_train_config",
    "save_train_config",
]

logger = logging.getLogger(__name__)

DEFAULT_PRESET = "ocr-minilm"
CONFIG_FILE = "train_config.yaml"

Architecture = Literal["load", "router"]
Precision = Literal["fp32", "bf16", "fp16"]
Attention = Literal["auto", "flash_attention_2", "sdpa", "eager"]
Tracker = Literal["trackio", "tensorboard"]

# A dataset's config and split names belong to that dataset: a layer that sets `data` starts these
# from their defaults again instead of inheriting a preset's names for another dataset.
DATA_FIELDS = (
    "data",
    "data_config",
    "train_split",
    "validation_split",
    "eval_config",
    "eval_split",
    "eval_corpus",
)


class TrainConfig(BaseModel):
    """Everything `pagefit train` needs; every field is a YAML key and `--set KEY=VALUE` target."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    preset: str | None = Field(None, description="Preset this config started from.")
    description: str = Field("", description="One line saying what this config is for.")

    # Model
    model: str | None = Field(
        "ocr-minilm", description="Base model (architecture `load`): built-in name, local folder or hub name."
    )
    architecture: Architecture = Field(
        "load",
        description="`load`: load `model` as is (Sentence Transformers detects modalities and pooling, "
        "also for a VLM not trained for embeddings); `router`: compose `text_model` and `image_model`.",
    )
    text_model: str | None = Field(None, description="Router: the text (query) encoder.")
    image_model: str | None = Field(None, description="Router: the image (page) encoder.")
    shared_dim: int | None = Field(
        None, gt=0, description="Router: dimension of the shared space (default: the image encoder's)."
    )
    trust_remote_code: bool = Field(False, description="Allow code shipped with a hub model to run.")
    precision: Precision = Field("fp32", description="Weights and autocast precision (bf16/fp16 need a GPU).")
    attn_implementation: Attention | None = Field(
        None, description="Attention kernel; `auto` = flash_attention_2 when installed, else sdpa."
    )
    min_pixels: int | None = Field(
        None,
        gt=0,
        description="Lower bound on image pixels (Qwen-VL style processors: `size.shortest_edge`).",
    )
    max_pixels: int | None = Field(
        None, gt=0, description="Upper bound on image pixels (Qwen-VL style processors: `size.longest_edge`)."
    )
    lora: bool = Field(False, description="Train LoRA adapters (peft) instead of all weights.")
    lora_rank: int = Field(16, gt=0)
    lora_alpha: int = Field(32, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_target_modules: list[str] | Literal["all-linear"] = "all-linear"
    merge_lora: bool = Field(
        True, description="Merge adapters into the saved model (no peft needed to load)."
    )
    gradient_checkpointing: bool = False
    query_prompt: str | None = Field(
        None,
        description="Prompt put before every query, replacing the model's own `query` prompt (e.g. 'query: '); "
        "the saved model keeps it (`encode_query` uses it).",
    )
    document_prompt: str | None = Field(
        None,
        description="Prompt put before every page text, replacing the model's own document prompt (e.g. "
        "'passage: '); the saved model keeps it (`encode_document` uses it).",
    )

    # Multi-vector (late-interaction) models: see `pagefit.train.multivector`
    multi_vector: bool = Field(
        False,
        description="Load `model` as a multi-vector (ColBERT/ColPali-style) MultiVectorEncoder scored by "
        "MaxSim; a plain backbone gets a fresh 128-d token projection, a Col* checkpoint keeps its own.",
    )
    head_lr: float | None = Field(
        None, gt=0, description="Multi-vector: learning rate of the fresh token projection (default: lr)."
    )
    unfreeze_top_layers: int | None = Field(
        None,
        gt=0,
        description="Multi-vector: train only the top N language-model layers and the projection "
        "(the rest stays frozen).",
    )
    token_pooling: Literal["none", "hierarchical"] = Field(
        "none",
        description="Multi-vector: bake hierarchical token pooling of page vectors into the saved model.",
    )
    pool_factor: float = Field(
        2.0, ge=1, description="Token pooling: keep about 1/pool_factor of each page's vectors."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")

    # Learned-sparse (SPLADE) models: see `pagefit.train.sparse`
    sparse_document_regularizer: float = Field(
        3e-5, ge=0, description="Sparse models: FLOPS regulariser weight on page vectors (SpladeLoss)."
    )
    sparse_query_regularizer: float = Field(
        5e-5, ge=0, description="Sparse models: FLOPS regulariser weight on query vectors (SpladeLoss)."
    )

    # Data
    data: str | None = Field(
        None,
        description="Pairs/mined folder, a `datasets` folder, or a hub dataset name. Setting it resets "
        "the other data fields to their defaults unless they are set alongside.",
    )
    data_config: str | None = Field(None, description="Dataset config name of the training data.")
    train_split: str = "train"
    eval_config: str | None = Field(
        None, description="Dataset config of the eval data (default: data_config)."
    )
    validation_split: str | None = Field(
        "validation",
        description="Split the checkpoint and the fusion weight are selected on (`pagefit pairs` carves it "
        "from train documents); none, or a dataset without it: the last step is kept, nothing is tuned.",
    )
    eval_split: str | None = Field(
        "eval", description="Eval split: the reported before/after numbers only; none: no evaluation."
    )
    select_on: Literal["hybrid", "model"] = Field(
        "hybrid",
        description="What checkpoint selection maximises on the validation split: NDCG@10 of the model "
        "fused with BM25 (`index --hybrid`, when the pages have text) or of the model alone.",
    )
    tune_fusion: bool | None = Field(
        None,
        description="Choose the model's weight in the BM25 fusion on the validation split; the weight is saved "
        "with the model either way (`index`, `eval` and `serve` use it). Default: only when the validation "
        "queries are your own: synthetic ones are built from page text and pull the weight towards BM25 "
        "(devset: tuned on them 0.2, hybrid NDCG@10 0.856 against 0.873 at 0.5).",
    )
    fusion_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="The model's weight in the BM25 fusion when it is not tuned (default: the fusion default, "
        "`pagefit.evaluation.fusion.DEFAULT_WEIGHT`, with keyword-like queries at DEFAULT_KEYWORD_WEIGHT).",
    )
    bm25_language: str = Field("en", description="Language of the page text, for BM25 (`eval --language`).")
    hybrid_loss: bool = Field(
        False,
        description="Train on the fused score: the ranking loss' logits carry BM25's share of the hybrid "
        "(train-split pages only), so the model learns what BM25 misses (`pagefit.train.hybrid_loss`).",
    )
    eval_corpus: str | None = Field(
        None,
        description="Corpus folder the held-out queries are searched in during training (default, for a "
        "pairs/mined folder: every page of its eval-split documents, from the corpus it records).",
    )
    passages: bool | None = Field(
        None,
        description="Held-out evaluation of a text-reading model scores a page as `pagefit eval` and "
        "`pagefit index` do: page vector mixed with its best 100-word passage (default: on for such "
        "models; false: page vectors only).",
    )
    passage_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="The page vector's share in passage scoring."
    )
    num_negatives: int | None = Field(
        None,
        ge=0,
        description="Hard negatives per row used for training, at most (all when unset; eval uses all).",
    )
    eval_loss: bool = Field(
        True, description="Also compute the loss on the eval split (one more pass per eval)."
    )
    max_train_samples: int | None = Field(None, gt=0)
    max_eval_samples: int | None = Field(None, gt=0)

    # Loss: CachedMultipleNegativesRankingLoss inside MatryoshkaLoss
    matryoshka_dims: list[int] | None = Field(
        None, description="Matryoshka dimensions, largest first (none: plain ranking loss)."
    )
    mini_batch_size: int = Field(32, gt=0, description="GradCache mini-batch: memory, not results.")

    # Optimisation
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="Stop after this many steps (overrides epochs).")
    batch_size: int = Field(32, gt=1, description="Per-device batch: the in-batch negatives of the loss.")
    eval_batch_size: int | None = Field(
        None, gt=0, description="Batch of the eval loss (default: batch_size)."
    )
    encode_batch_size: int = Field(32, gt=0, description="Batch of the retrieval evaluator's encoding.")
    lr: float = Field(2e-5, gt=0)
    warmup: float = Field(0.1, ge=0, description="Warmup: a fraction of the steps if < 1, else steps.")
    weight_decay: float = Field(0.0, ge=0)
    seed: int = 42
    eval_every: float = Field(
        0.1, gt=0, description="Evaluate every this fraction of training (< 1) or steps."
    )
    save_every: float = Field(0.1, gt=0, description="Checkpoint every this fraction (< 1) or steps.")
    save_total_limit: int | None = Field(2, gt=0, description="Checkpoints kept.")
    logging_every: float = Field(0.05, gt=0)
    report_to: list[Tracker] = Field(default_factory=list, description="Experiment trackers.")
    dataloader_workers: int = Field(0, ge=0)
    show_progress: bool = Field(True, description="Progress bars on stderr.")

    # Output
    output: str | None = Field(None, description="Output folder: the trained model and its records.")
    truncate_dim: int | None = Field(
        None, gt=0, description="Default embedding dimension of the saved model."
    )
    resume: bool = Field(False, description="Continue from the last checkpoint in the output folder.")

    @field_validator("matryoshka_dims")
    @classmethod
    def _dims_descending(cls, dims: list[int] | None) -> list[int] | None:
        if dims is None:
            return None
        if not dims or any(d <= 0 for d in dims):
            raise ValueError("matryoshka_dims must be positive integers")
        return sorted(set(dims), reverse=True)

    @field_validator("report_to", mode="before")
    @classmethod
    def _report_to_list(cls, value: Any) -> Any:
        if value in (None, "none"):
            return []
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_router(self) -> TrainConfig:
        if self.architecture == "router" and not (self.text_model and self.image_model):
            raise ValueError("architecture 'router' needs both text_model and image_model")
        if self.architecture == "load" and not self.model:
            raise ValueError("architecture 'load' needs a model")
        if self.multi_vector and (self.matryoshka_dims or self.truncate_dim):
            raise ValueError(
                "multi_vector models have no Matryoshka dimensions: set matryoshka_dims and truncate_dim to none"
            )
        if self.truncate_dim and self.matryoshka_dims and self.truncate_dim not in self.matryoshka_dims:
            raise ValueError(
                f"truncate_dim {self.truncate_dim} is not one of the matryoshka_dims {self.matryoshka_dims}"
            )
        return self


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def _presets_dir() -> Path:
    return Path(str(resources.files("pagefit") / "presets"))


def list_presets(folder: Path | None = None) -> dict[str, str]:
    """Preset name -> one-line description, for every preset shipped with pagefit (in `folder`)."""
    folder = folder or _presets_dir()
    return {path.stem: _read_yaml(path).get("description", "") for path in sorted(folder.glob("*.yaml"))}


def _read_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError as e:
        raise PagefitError(f"config file not found: {path}") from e
    except yaml.YAMLError as e:
        raise PagefitError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise PagefitError(f"{path} must hold a mapping of TrainConfig fields, got {type(data).__name__}")
    return data


def load_preset(name: str, folder: Path | None = None, command: str = "pagefit train") -> dict[str, Any]:
    """The fields a preset sets (plus `preset: name`); `folder` holds the presets of `command`."""
    path = (folder or _presets_dir()) / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(list_presets(folder))
        raise PagefitError(f"unknown preset '{name}': choose one of {known} (`{command} --list-presets`)")
    return {**_read_yaml(path), "preset": name}


def merge_layers(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """`layer` over `base`; a layer that sets `data` drops the base's other data fields (`DATA_FIELDS`)."""
    if "data" in layer:
        base = {k: v for k, v in base.items() if k not in DATA_FIELDS}
    return {**base, **layer}


def resolve_train_config(
    preset: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """Build the config from a preset, then a user YAML file, then explicit overrides (CLI flags).

    Args:
        preset: preset name; default: the YAML file's `preset` key, else `ocr-minilm`.
        config_file: user YAML file of `TrainConfig` fields (may name its `preset`).
        overrides: fields that win over both (a key given with None sets the field to None).
    """
    return resolve_config(TrainConfig, preset=preset, config_file=config_file, overrides=overrides)


def resolve_config(
    schema: type[ConfigT],
    preset: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    folder: Path | None = None,
    default_preset: str = DEFAULT_PRESET,
    command: str = "pagefit train",
) -> ConfigT:
    """`resolve_train_config` for any stage config `schema` whose presets live in `folder`."""
    user = _read_yaml(config_file) if config_file else {}
    if config_file:
        _check_keys(user, str(config_file), schema)
    name = preset or user.get("preset") or default_preset
    values = load_preset(name, folder, command)
    values = merge_layers(values, {k: v for k, v in user.items() if k != "preset"})
    values = merge_layers(values, dict(overrides or {}))
    values["preset"] = name
    origins = {k: str(config_file) for k in user if k not in (overrides or {})}
    return validate_config(values, schema, origins)


def _check_keys(values: dict[str, Any], where: str, schema: type[BaseModel] = TrainConfig) -> None:
    """Unknown keys in a config file, named with the closest field (a typo must not be ignored)."""
    import difflib

    fields = list(schema.model_fields)
    unknown = [k for k in values if k not in fields]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise PagefitError(
            f"{where}: unknown config key(s) {', '.join(hints)}; the keys are {schema.__name__} fields "
            "(`--help`, or a saved train_config.yaml, lists them)"
        )


def validate_config(
    values: dict[str, Any],
    schema: type[ConfigT] = TrainConfig,
    origins: dict[str, str] | None = None,  # type: ignore[assignment]
) -> ConfigT:
    """`schema(**values)` (default `TrainConfig`) with validation errors as one actionable line.

    `origins` maps a key to the file that set it, named in its problem.
    """
    try:
        return schema(**values)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            key = ".".join(map(str, err["loc"])) or "config"
            source = (origins or {}).get(str(err["loc"][0])) if err["loc"] else None
            given = f" (got {err['input']!r})" if err["loc"] and not isinstance(err["input"], dict) else ""
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                import difflib

                close = difflib.get_close_matches(key, list(schema.model_fields), n=1)
                msg = "not a config key" + (f" (did you mean '{close[0]}'?)" if close else "")
            problems.append(f"{key}{given}: {msg}" + (f" [in {source}]" if source else ""))
        raise PagefitError(f"invalid training config: {'; '.join(problems)}") from e


def save_train_config(config: TrainConfig, folder: str | os.PathLike[str]) -> Path:
    """Write the resolved config as `train_config.yaml`; `pagefit train --config` repeats the run."""
    import yaml

    from pagefit._io import atomic_write_text

    path = Path(folder) / CONFIG_FILE
    # `resume` steers one invocation; the saved file repeats the run from its start.
    values = config.model_dump(mode="json") | {"resume": False}
    atomic_write_text(path, yaml.safe_dump(values, sort_keys=False, allow_unicode=True))
    return path
