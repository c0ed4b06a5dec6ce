"""`pagefit ingest`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pagefit.cli._app import RayAddress, app


@app.command("ingest")
def ingest_command(
    sources: Annotated[
        list[Path], typer.Argument(help="PDFs, images (png jpg tif webp bmp) or folders of them.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Corpus folder to create or update.")],
    dpi: Annotated[int, typer.Option(help="Resolution for rendering PDF pages.")] = 120,
    max_pixels: Annotated[int, typer.Option(help="Bound on width*height of each stored page image.")] = 1800
    * 1800,
    ocr: Annotated[
        str, typer.Option(help="auto: OCR only pages without a usable text layer; always; never.")
    ] = "auto",
    image_format: Annotated[
        str, typer.Option(help="Stored page images: png, or tiff (lossless PackBits, much faster to write).")
    ] = "png",
    workers: Annotated[int, typer.Option(help="Processes rendering documents in parallel.")] = 1,
    password: Annotated[
        str | None, typer.Option(help="Password for encrypted PDFs.", envvar="PAGEFIT_PDF_PASSWORD")
    ] = None,
    prune: Annotated[bool, typer.Option(help="Drop documents of earlier runs not among SOURCES.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    engine: Annotated[
        str,
        typer.Option(
            help="local: a process pool on this machine; ray: a Ray Data pipeline on a local Ray or a "
            "cluster (pip install 'pagefit[ray]'). The same corpus either way."
        ),
    ] = "local",
    ray_address: RayAddress = None,
) -> None:
    """Turn documents into a corpus: page images + text layer (or OCR). Resumable and idempotent."""
    from rich.console import Console

    from pagefit.errors import PagefitError
    from pagefit.ingest import ingest

    if ocr not in {"auto", "always", "never"}:
        raise PagefitError(f"--ocr must be auto, always or never, not {ocr!r}")
    if image_format not in {"png", "tiff"}:
        raise PagefitError(f"--image-format must be png or tiff, not {image_format!r}")
    result = ingest(
        sources,
        out,
        dpi=dpi,
        max_pixels=max_pixels,
        ocr=ocr,  # type: ignore[arg-type]
        image_format=image_format,  # type: ignore[arg-type]
        workers=workers,
        password=password,
        prune=prune,
        show_progress=progress,
        engine=engine,  # type: ignore[arg-type]
        ray_address=ray_address,
    )
    console = Console(stderr=True)
    console.print(
        f"[bold green]ingested[/] {result.documents} documents, {result.pages} pages into {result.corpus} "
        f"in {result.seconds:.1f} s ({result.skipped} unchanged, skipped)"
    )
    if result.rejects:
        console.print(
            f"[yellow]{len(result.rejects)} file(s)/page(s) rejected[/]: see {result.corpus / 'rejects.jsonl'}"
        )
        for reject in result.rejects[:10]:
            where = f"{reject['source']}" + (f" page {reject['page']}" if "page" in reject else "")
            console.print(f"  [yellow]-[/] {where}: {reject['reason']}", highlight=False)
    if result.pages == 0:  # nothing useful was made: say so with a non-zero exit
        raise PagefitError(
            f"no page could be ingested into {result.corpus}: every file was rejected "
            f"(reasons above and in {result.corpus / 'rejects.jsonl'}); fix or replace them and run again"
        )
