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
    scanned: Annotated[
        bool,
        typer.Option(
            help="Read every page through OCR instead of its PDF text layer, as for scans (much slower)."
        ),
    ] = False,
    reranker: Annotated[
        bool, typer.Option(help="Also train the CPU reranker and report retrieve vs retrieve + rerank.")
    ] = False,
    quick: Annotated[
        bool,
        typer.Option(
            help="A smoke test: five small documents, two training steps (its numbers mean nothing)."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the split, the synthetic queries and the training.")] = 0,
    fresh: Annotated[bool, typer.Option(help="Delete OUT first (caches are kept).")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """The whole road on shipped real PDFs, judged by hand-written questions about held-out documents.

    ingest, pairs, mine, train, eval (untrained vs finetuned vs BM25 vs the hybrids), index; ends with the
    report's path, the verdict and the `pagefit serve` command.
    """
    from pagefit.demo import demo

    demo(out, quick=quick, scanned=scanned, reranker=reranker, seed=seed, fresh=fresh, show_progress=progress)
