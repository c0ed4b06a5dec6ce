"""The `pagefit` command line: a thin shell over the library; one module per verb."""

from __future__ import annotations

import importlib
import logging
import sys

from pagefit.cli._app import app

__all__ = ["app", "main"]

# One module per verb; each registers its command on `app` when imported. Keep these imports light:
# a command imports its stage (and torch) only when it runs.
_COMMAND_MODULES = (
    "ingest",
    "eval",
    "train",
    "pairs",
    "mine",
    "demo",
    "doctor",
    "train_reranker",
    "index",
    "search",
    "serve",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"pagefit.cli.{_name}")


def main() -> None:
    """Console entry point: user errors become one red line and exit code 1, not a traceback."""
    from rich.console import Console
    from rich.markup import escape

    from pagefit.errors import PagefitError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except PagefitError as e:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except OSError as e:  # a full disk or an unwritable folder is the user's to fix, not a traceback
        from pagefit.errors import disk_error_message

        if (message := disk_error_message(e)) is None:
            raise
        Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(1)
