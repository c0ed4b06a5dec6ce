"""What a person sees: third-party bars and warnings quieted unless asked for, one look for tables."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["VERBOSE_ENV", "is_verbose", "quiet_libraries"]

VERBOSE_ENV = "PAGEFIT_VERBOSE"

# Libraries whose INFO logs, progress bars and warnings a pagefit run does not show by default.
_NOISY_LOGGERS = (
    "transformers",
    "sentence_transformers",
    "datasets",
    "huggingface_hub",
    "accelerate",
    "torch",
    "peft",
    "rapidocr",
    "RapidOCR",
    "bm25s",
    "httpx",
)


def is_verbose() -> bool:
    """`pagefit --verbose` (or PAGEFIT_VERBOSE=1): show third-party logs, bars and warnings."""
    return os.environ.get(VERBOSE_ENV, "").lower() in {"1", "true", "yes"}


# Read by the libraries when they are imported (pagefit imports them lazily, inside a command).
_QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@contextmanager
def quiet_libraries(verbose: bool | None = None) -> Iterator[None]:
    """Inside the block, transformers / datasets / hub progress bars, INFO logs and library warnings are
    off (pagefit shows its own progress); with `verbose` nothing changes. Everything is restored after."""
    if verbose if verbose is not None else is_verbose():
        yield
        return
    saved_env = {key: os.environ.get(key) for key in _QUIET_ENV}
    os.environ.update({k: v for k, v in _QUIET_ENV.items() if os.environ.get(k) is None})
    # Libraries imported before the block read the environment already: tell them directly.
    restore = [undo() for name, undo in _ALREADY_IMPORTED.items() if name in sys.modules]
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for module in (
                "transformers",
                "torch",
                "sentence_transformers",
                "accelerate",
                "datasets",
                "peft",
            ):
                warnings.filterwarnings("ignore", module=rf"{module}(\.|$)")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for undo in restore:
            if undo is not None:
                undo()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    def undo() -> None:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()

    return undo


def _quiet_hub():
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    return None if was_disabled else enable_progress_bars


def _quiet_datasets():
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    return datasets.enable_progress_bars if was_enabled else None


_ALREADY_IMPORTED = {
    "transformers": _quiet_transformers,
    "huggingface_hub": _quiet_hub,
    "datasets": _quiet_datasets,
}
