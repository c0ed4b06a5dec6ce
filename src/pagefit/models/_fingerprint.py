"""A model's fingerprint: what the embedding cache is keyed by.

Two models with the same fingerprint give the same page embeddings: it hashes every module's class
and configuration, the text length limit, the tokenizer vocabulary, image processor settings, prompts
and every parameter and buffer. It does not depend on where the model was loaded from, on the process,
or on ``truncate_dim`` (the cache always holds full-dimension embeddings).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

__all__ = ["model_fingerprint"]

_FORMAT = "pagefit-fingerprint-1"
# transformers config keys that name places or versions, not computation
_VOLATILE_CONFIG_KEYS = {"_name_or_path", "transformers_version", "_commit_hash", "name_or_path"}


def model_fingerprint(model: SentenceTransformer) -> str:
    """Hex digest identifying a model's embedding function (configuration and weights).

    Stable across processes and save/reload for identical weights and configuration; changes after
    any weight update. Hashes all tensors once (about 0.1 s for MiniLM on CPU).
    """
    h = hashlib.sha256(_FORMAT.encode())
    h.update(_json({"config": _config_state(model)}).encode())
    for name, tensor in _unique_tensors(model):
        h.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        h.update(_tensor_bytes(tensor))
    return h.hexdigest()[:32]


def _config_state(model: SentenceTransformer) -> dict[str, Any]:
    from sentence_transformers.base.modules import Module, Router
    from sentence_transformers.util import fullname

    modules = {}
    for name, module in model.named_modules():
        if not isinstance(module, Module):
            continue
        state: dict[str, Any] = {"class": fullname(module), "config": _safe_config(module)}
        # a Router only reports its routes' lengths, which their own modules record
        if (
            not isinstance(module, Router)
            and (max_len := getattr(module, "max_seq_length", None)) is not None
        ):
            state["max_seq_length"] = max_len
        if (hf_config := getattr(getattr(module, "auto_model", None), "config", None)) is not None:
            state["hf_config"] = {
                k: v for k, v in hf_config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS
            }
        if (processor := getattr(module, "processor", None)) is not None:
            state["processor"] = _processor_state(processor)
        modules[name] = state
    return {
        "modules": modules,
        "prompts": dict(getattr(model, "prompts", {}) or {}),
        "default_prompt_name": getattr(model, "default_prompt_name", None),
    }


def _safe_config(module: Any) -> Any:
    try:
        return module.get_config_dict()
    except Exception:  # a third-party module whose config cannot be read still hashes by class + weights
        return None


def _processor_state(processor: Any) -> dict[str, Any]:
    tokenizer = getattr(processor, "tokenizer", processor)
    state: dict[str, Any] = {"class": type(processor).__name__}
    if hasattr(tokenizer, "get_vocab"):
        state["tokenizer"] = {"class": type(tokenizer).__name__, "digest": _tokenizer_digest(tokenizer)}
        state["do_lower_case"] = getattr(tokenizer, "do_lower_case", None)
    for attr in ("image_processor", "video_processor"):
        sub = getattr(processor, attr, None)
        if sub is not None and hasattr(sub, "to_dict"):
            state[attr] = {k: v for k, v in sub.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
    return state


def _tokenizer_digest(tokenizer: Any) -> str:
    """Hash of the tokenization rules (vocabulary, normalizer, ...), not of runtime padding/truncation."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        text = json.dumps(spec, sort_keys=True)
    else:
        text = "\n".join(f"{token}\t{index}" for token, index in sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()


def _unique_tensors(model: SentenceTransformer) -> list[tuple[str, torch.Tensor]]:
    """Parameters and buffers in a fixed order, each shared tensor once (under its first name)."""
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    tensors = []
    for name, tensor in model.state_dict(keep_vars=True).items():
        ident = (tensor.data_ptr(), tensor.numel(), tuple(tensor.shape))
        if ident in seen:
            continue
        seen.add(ident)
        tensors.append((name, tensor))
    return tensors


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    import torch

    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return memoryview(flat.view(torch.uint8).numpy())


def _json(obj: Any) -> str:
    return json.dumps(_canonical(obj), sort_keys=True)


def _canonical(obj: Any) -> Any:
    """A JSON-ready copy: keys as strings, sets sorted, anything else by its string form."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(str(v) for v in obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
