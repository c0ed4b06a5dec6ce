"""`pagefit demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pagefit.cli._app import app


@app.command("demo")
def demo_command(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Working folder for everything the demo writes.")
    ] = Path("demo-output"),
    quick: Annotated[bool, typer.Option(help="A reduced run (few pages, two training steps).")] = False,
    seed: Annotated[int, typer.Option(help="Seed of documents, split, queries and training.")] = 0,
    fresh: Annotated[bool, typer.Option(help="Delete OUT first (caches are kept).")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """The whole road on generated documents, on a CPU: ingest, pairs, mine, eval, train, eval, report."""
    from pagefit.demo import demo

    demo(out, quick=quick, seed=seed, fresh=fresh, show_progress=progress)
