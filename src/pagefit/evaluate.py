"""Alias of `pagefit.evaluation`, kept so `from pagefit.evaluate import evaluate` keeps working."""

from __future__ import annotations

from pagefit.evaluation import *  # noqa: F403
from pagefit.evaluation import __all__ as __all__
