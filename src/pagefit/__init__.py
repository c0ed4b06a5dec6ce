"""pagefit: from your documents to a measured, better visual document retriever.

The package import is light: each stage is imported when first used. The stages are modules named
after their verbs, each with a same-named function: `from pagefit.ingest import ingest`,
`pagefit.pairs.pairs`, `pagefit.mine.mine`, `pagefit.train.train`, `pagefit.evaluation.evaluate`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "PagefitError",
    "__version__",
    "load_corpus",
    "load_model",
    "load_pairs",
    "read_queries",
]

_LAZY = {
    "PagefitError": "pagefit.errors",
    "load_corpus": "pagefit.corpus",
    "load_model": "pagefit.models",
    "load_pairs": "pagefit.pairs",
    "read_queries": "pagefit.queries",
}

if TYPE_CHECKING:
    from pagefit.corpus import load_corpus
    from pagefit.errors import PagefitError
    from pagefit.models import load_model
    from pagefit.pairs import load_pairs
    from pagefit.queries import read_queries


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pagefit' has no attribute {name!r}")
