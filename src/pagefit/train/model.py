"""The model `pagefit train` starts from: load or compose it, set precision/attention/pixels, add LoRA."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import MissingDependencyError, PagefitError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from pagefit.train.config import Precision, TrainConfig

__all__ = [
    "LORA_STATE_FILE",
    "add_lora",
    "build_model",
    "check_dims",
    "has_lora",
    "load_lora_state",
    "merge_lora",
    "resolve_attention",
    "resolve_precision",
    "save_lora_state",
    "uses_router",
]

logger = logging.getLogger(__name__)

_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def resolve_precision(requested: Precision) -> Precision:
    """The precision this machine can train in: bf16/fp16 need a CUDA GPU (that supports bf16)."""
    import torch

    if requested == "fp32":
        return requested
    if torch.cuda.is_available() and (requested == "fp16" or torch.cuda.is_bf16_supported()):
        return requested
    logger.warning(
        "precision %s needs a CUDA GPU that supports it and none was found: training in fp32 instead",
        requested,
    )
    return "fp32"


def resolve_attention(requested: str | None) -> str | None:
    """`auto` -> flash_attention_2 when flash-attn is installed and a GPU is present, else sdpa."""
    import torch

    has_flash = importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()
    if requested == "auto":
        return "flash_attention_2" if has_flash else "sdpa"
    if requested == "flash_attention_2" and not has_flash:
        raise PagefitError(
            "attn_implementation flash_attention_2 needs a CUDA GPU and the flash-attn package "
            "(`pip install flash-attn`); use `auto` to fall back to sdpa"
        )
    return requested


def _load_kwargs(config: TrainConfig, precision: Precision, *, images: bool) -> dict[str, Any]:
    model_kwargs: dict[str, Any] = {}
    if precision in _DTYPES:
        model_kwargs["dtype"] = _DTYPES[precision]
    attention = resolve_attention(config.attn_implementation)
    if attention:
        model_kwargs["attn_implementation"] = attention
    processor_kwargs: dict[str, Any] = {}
    if images and (config.min_pixels or config.max_pixels):
        size = {}
        if config.min_pixels:
            size["shortest_edge"] = config.min_pixels
        if config.max_pixels:
            size["longest_edge"] = config.max_pixels
        processor_kwargs["size"] = size
    return {"model_kwargs": model_kwargs or None, "processor_kwargs": processor_kwargs or None}


def _load(
    name: str, config: TrainConfig, precision: Precision, *, images: bool = True, prompts: bool = False
) -> SentenceTransformer:
    from pagefit.models import load_model

    kwargs = _load_kwargs(config, precision, images=images)
    if prompts:  # the model trained: the configured prompts replace its own (the route says which it reads)
        kwargs |= {"query_prompt": config.query_prompt, "document_prompt": config.document_prompt}
    return load_model(name, trust_remote_code=config.trust_remote_code, **kwargs)


def build_model(config: TrainConfig, precision: Precision) -> SentenceTransformer:
    """The untrained model: `config.model` as loaded, or a Router of `text_model` and `image_model`."""
    from pagefit.models import require_modality

    if config.multi_vector:
        from pagefit.train.multivector import load_multivector_model

        model = load_multivector_model(config, _load_kwargs(config, precision, images=True))
    elif config.architecture == "router":
        model = compose_router(config, precision)
    else:
        model = _load(config.model, config, precision, prompts=True)
    if config.query_prompt is not None or config.document_prompt is not None:
        from pagefit.models.page_text import set_prompts

        # set on the model, so that training, its held-out evaluation and the saved folder all read them
        set_prompts(model, query=config.query_prompt, document=config.document_prompt)
    require_modality(model, "text", role="the query encoder of `pagefit train`")
    require_modality(model, "image", role="the page encoder of `pagefit train`")
    model.model_card_data.local_files_only = True
    return model


def compose_router(config: TrainConfig, precision: Precision) -> SentenceTransformer:
    """Text route: the text encoder + Dense; image route: the image encoder + Dense; then Normalize."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Router

    from pagefit.models import require_modality

    text = _load(config.text_model, config, precision, images=False)  # pixel bounds are the image side's
    image = _load(config.image_model, config, precision)
    require_modality(text, "text", role="the text encoder of a router")
    require_modality(image, "image", role="the image encoder of a router")
    text_dim = text.get_embedding_dimension()
    image_dim = image.get_embedding_dimension()
    dim = config.shared_dim or image_dim
    router = Router(
        sub_modules={
            "query": [*text.children(), Dense(text_dim, dim, activation_function=None)],
            "document": [*image.children(), Dense(image_dim, dim, activation_function=None)],
        },
        default_route="document",
        route_mappings={(None, "text"): "query", (None, "image"): "document"},
    )
    model = SentenceTransformer(modules=[router, Normalize()], similarity_fn_name="cosine")
    model.model_card_data.model_name = (
        f"Router of {config.text_model} (text) and {config.image_model} (images)"
    )
    return model


def uses_router(model: SentenceTransformer) -> bool:
    from sentence_transformers.base.modules import Router

    return any(isinstance(module, Router) for module in model.children())


def check_dims(model: SentenceTransformer, config: TrainConfig) -> int:
    """The model's embedding dimension, after checking the Matryoshka and truncate dims fit in it."""
    dim = model.get_embedding_dimension()
    too_big = [d for d in (config.matryoshka_dims or []) if d > dim]
    if config.truncate_dim and config.truncate_dim > dim:
        too_big.append(config.truncate_dim)
    if too_big:
        raise PagefitError(
            f"the model embeds into {dim} dimensions but the config asks for {sorted(set(too_big))}: "
            f"set --matryoshka-dims (and --truncate-dim) to values <= {dim}"
        )
    return dim


LORA_STATE_FILE = "pagefit_lora.safetensors"


def _transformers(model: SentenceTransformer) -> list[Any]:
    from sentence_transformers.base.modules import Transformer

    return [module for module in model.modules() if isinstance(module, Transformer)]


def add_lora(model: SentenceTransformer, config: TrainConfig) -> int:
    """Wrap every transformer of the model in LoRA adapters (peft); the rest of its weights freeze.

    peft is used directly rather than through transformers' adapter integration, which needs a newer
    peft than many environments have. Modules outside the transformers (e.g. a Router's Dense
    projections) stay trainable.

    Returns:
        how many transformers got adapters.
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:
        raise MissingDependencyError("peft", "lora", "--lora") from e
    wrapped = 0
    for transformer in _transformers(model):
        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules,
        )
        try:
            transformer.model = get_peft_model(transformer.model, lora)
        except ValueError as e:
            raise PagefitError(f"cannot add LoRA adapters to {type(transformer.model).__name__}: {e}") from e
        wrapped += 1
    if not wrapped:
        raise PagefitError("--lora needs a model with a transformers backbone; this model has none")
    return wrapped


def has_lora(model: SentenceTransformer) -> bool:
    """Whether `add_lora` wrapped the model; never imports peft (a run without --lora needs none)."""
    peft = sys.modules.get("peft")
    if peft is None:  # nothing was wrapped: wrapping imports peft (None: made unimportable)
        return False
    return any(isinstance(t.model, peft.PeftModel) for t in _transformers(model))


def _trainable(model: SentenceTransformer) -> dict[str, Any]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def save_lora_state(model: SentenceTransformer, folder: str) -> None:
    """Write every trainable weight of a LoRA model (the adapters, and the modules outside the
    transformers such as a Router's Dense projections) to one file of a checkpoint (for `--resume`)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in _trainable(model).items()}
    save_file(state, str(Path(folder) / LORA_STATE_FILE))


def load_lora_state(model: SentenceTransformer, folder: str) -> None:
    """Load the trainable weights `save_lora_state` wrote into a model wrapped by `add_lora`.

    Raises:
        PagefitError: the checkpoint lacks the file, or does not hold every trainable weight of this
            model (e.g. one written before the Dense projections were saved): resuming from it would
            silently restart those weights.
    """
    from safetensors.torch import load_file

    path = Path(folder) / LORA_STATE_FILE
    if not path.is_file():
        raise PagefitError(
            f"checkpoint {folder} has no LoRA weights ({LORA_STATE_FILE}): it is not from a --lora run"
        )
    state = load_file(str(path))
    missing = sorted(set(_trainable(model)) - set(state))
    if missing:
        raise PagefitError(
            f"checkpoint {folder} lacks {len(missing)} trainable weight(s) of this model (e.g. {missing[0]}): "
            "it cannot be resumed exactly; train again without --resume"
        )
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise PagefitError(
            f"checkpoint {folder} does not match this model's adapters: {result.unexpected_keys[:3]}"
        )


def merge_lora(model: SentenceTransformer) -> int:
    """Fold trained adapters into the base weights, so the saved model loads without peft.

    Returns:
        how many transformers were merged.
    """
    from peft import PeftModel

    merged = 0
    for transformer in _transformers(model):
        if isinstance(transformer.model, PeftModel):
            transformer.model = transformer.model.merge_and_unload()
            merged += 1
    return merged
