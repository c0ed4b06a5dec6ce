"""`pagefit mine`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pagefit.cli._app import app


@app.command("mine")
def mine_command(
    pairs: Annotated[Path, typer.Argument(help="Pairs folder from `pagefit pairs`.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Mined folder to write (an earlier one is replaced).")
    ],
    corpus: Annotated[
        Path | None, typer.Option(help="Corpus folder (default: the one the pairs were made from).")
    ] = None,
    model: Annotated[
        str, typer.Option(help="Retrieval model: ocr-minilm, a model folder or a hub name.")
    ] = "ocr-minilm",
    num_negatives: Annotated[int, typer.Option(help="Hard negatives per pair.")] = 4,
    range_max: Annotated[
        int | None,
        typer.Option(help="Candidates: the most similar pages considered (default 10 x negatives)."),
    ] = None,
    relative_margin: Annotated[
        float,
        typer.Option(
            help="Skip candidates scoring above positive - |positive| x margin (NV-Retriever); 0 = off."
        ),
    ] = 0.05,
    exclude_neighbors: Annotated[
        int, typer.Option(help="Never take pages within +-K pages of the positive in its document.")
    ] = 0,
    batch_size: Annotated[int, typer.Option(help="Pages per forward pass when encoding uncached pages.")] = 8,
    trust_remote_code: Annotated[bool, typer.Option(help="Allow custom code in the model folder.")] = False,
    query_prompt: Annotated[
        str | None,
        typer.Option(help="Prompt put before every query, replacing the model's own (e.g. 'query: ')."),
    ] = None,
    document_prompt: Annotated[
        str | None,
        typer.Option(help="Prompt put before every page text, replacing the model's own (e.g. 'passage: ')."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Add hard negatives to every pair, from the pages of its own split's documents; save score distributions."""
    from rich.console import Console
    from rich.table import Table

    from pagefit.mine import mine
    from pagefit.models.page_text import announce_routes

    announce_routes()  # the console says which route each model takes

    result = mine(
        pairs, corpus, model, out, num_negatives=num_negatives, range_max=range_max,
        relative_margin=relative_margin or None, exclude_neighbors=exclude_neighbors, batch_size=batch_size,
        trust_remote_code=trust_remote_code, show_progress=progress, query_prompt=query_prompt,
        document_prompt=document_prompt,
    )  # fmt: skip
    console = Console(stderr=True)
    table = Table("split", "pairs", "dropped", "positive mean", "negative mean", "difference mean", "difference min",
                  box=None, header_style="bold")  # fmt: skip
    for split, stats in result.stats.items():
        pos, neg, diff = stats["positive"], stats["negative"], stats["difference"]
        cell = lambda s, k: f"{s[k]:.3f}" if k in s else "-"  # noqa: E731
        table.add_row(split, str(result.rows[split]), str(result.dropped[split]), cell(pos, "mean"), cell(neg, "mean"),
                      cell(diff, "mean"), cell(diff, "min"))  # fmt: skip
    console.print(table)
    console.print(
        f"[bold green]mined[/] {result.num_negatives} negatives per pair -> {result.out} in {result.seconds:.1f} s "
        f"(encoding {result.encode_seconds:.1f} s); scores: {result.files['stats']}, {result.files['plot']}",
        highlight=False,
        soft_wrap=True,
    )
