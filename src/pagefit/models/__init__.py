"""Embedding models: the built-in ``ocr-minilm``, safe loading, fingerprints and modality checks.

Importing this package is light; torch and Sentence Transformers load when a model is built or loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pagefit.models._fingerprint import model_fingerprint
from pagefit.models._loading import BUILTIN_MODELS, inspect_model_folder, load_model, model_name
from pagefit.models._modality import can_mix_modalities, require_modality
from pagefit.models.ocr_minilm import build_ocr_minilm

if TYPE_CHECKING:
    from pagefit.models.ocr_text import OcrText

__all__ = [
    "BUILTIN_MODELS",
    "OcrText",
    "build_ocr_minilm",
    "can_mix_modalities",
    "inspect_model_folder",
    "load_model",
    "model_fingerprint",
    "model_name",
    "require_modality",
]


def __getattr__(name: str) -> Any:
    if name == "OcrText":  # imports Sentence Transformers: only when asked for
        return importlib.import_module("pagefit.models.ocr_text").OcrText
    raise AttributeError(f"module 'pagefit.models' has no attribute {name!r}")
