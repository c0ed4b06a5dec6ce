"""`pagefit search`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pagefit.cli._app import app


@app.command("search")
def search_command(
    index: Annotated[Path, typer.Argument(help="Index folder written by `pagefit index`.")],
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many pages to return (1-100).")] = 10,
    reranker: Annotated[
        str | None, typer.Option(help="CrossEncoder (folder or hub name) reranking the top pages.")
    ] = None,
    rerank_top_k: Annotated[int, typer.Option(help="How many top pages the reranker reorders.")] = 20,
    hybrid: Annotated[
        str | None,
        typer.Option(help="Fuse with BM25: rrf, weighted or none (default: the index's setting)."),
    ] = None,
    fusion_weight: Annotated[
        float | None, typer.Option(help="Weighted fusion: the dense model's weight in [0, 1].")
    ] = None,
    rrf_k: Annotated[int | None, typer.Option(help="RRF constant k (default: the index's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Allow model folders that hold their own code (only if you trust it).")
    ] = False,
    device: Annotated[str | None, typer.Option(help="Torch device, e.g. cpu or cuda.")] = None,
) -> None:
    """Search an index: the top pages for a query, as a table or JSON."""
    from pagefit.index import search

    response = search(
        index,
        query,
        k=k,
        hybrid=hybrid,
        weight=fusion_weight,
        rrf_k=rrf_k,
        reranker=reranker,
        rerank_top_k=rerank_top_k,
        trust_remote_code=trust_remote_code,
        device=device,
    )
    if as_json:
        typer.echo(json.dumps(response, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{query!r}: top {len(response['results'])}", show_lines=False)
    for column in ("rank", "page_id", "score", "source", "page", "image", "snippet"):
        table.add_column(column, overflow="fold")
    for r in response["results"]:
        table.add_row(
            str(r["rank"]),
            r["page_id"],
            f"{r['score']:.4f}",
            r["source"],
            str(r["page_number"]),
            r["image"],
            r["snippet"],
        )
    Console().print(table)
