"""pagefit: from your documents to a measured, better visual document retriever.

The package import is light: each stage is imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "PagefitError",
    "__version__",
    "evaluate",
    "ingest",
    "load_corpus",
    "load_model",
    "load_pairs",
    "mine",
    "pairs",
    "read_queries",
    "train",
]

_LAZY = {
    "PagefitError": "pagefit.errors",
    "evaluate": "pagefit.evaluate",
    "ingest": "pagefit.ingest",
    "load_corpus": "pagefit.corpus",
    "load_model": "pagefit.models",
    "load_pairs": "pagefit.pairs",
    "mine": "pagefit.mine",
    "pairs": "pagefit.pairs",
    "read_queries": "pagefit.queries",
    "train": "pagefit.train",
}

if TYPE_CHECKING:
    from pagefit.corpus import load_corpus
    from pagefit.errors import PagefitError
    from pagefit.evaluate import evaluate
    from pagefit.ingest import ingest
    from pagefit.mine import mine
    from pagefit.models import load_model
    from pagefit.pairs import load_pairs, pairs
    from pagefit.queries import read_queries
    from pagefit.train import train


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pagefit' has no attribute {name!r}")
