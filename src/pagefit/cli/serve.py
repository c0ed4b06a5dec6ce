"""`pagefit serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pagefit.cli._app import app


@app.command("serve")
def serve_command(
    index: Annotated[Path, typer.Argument(help="Index folder written by `pagefit index`.")],
    compare: Annotated[
        Path | None, typer.Option(help="A second index (e.g. the base model's) shown side by side.")
    ] = None,
    reranker: Annotated[
        str | None, typer.Option(help="CrossEncoder (folder or hub name) reranking the top pages.")
    ] = None,
    hybrid: Annotated[
        str | None,
        typer.Option(help="Fuse with BM25: rrf, weighted or none (default: each index's setting)."),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Also answer requests addressed to this host name (Host header), e.g. this machine's DNS "
            "name or a reverse proxy's; repeatable. Others are refused (no DNS rebinding); '*' answers any.",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="PAGEFIT_API_KEY", help="Require this key on every API call (X-API-Key header)."),
    ] = None,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Allow model folders that hold their own code (only if you trust it).")
    ] = False,
    device: Annotated[str | None, typer.Option(help="Torch device, e.g. cpu or cuda.")] = None,
) -> None:
    """Serve a search API and web page over an index (optionally beside a second one) on this machine."""
    from rich.console import Console

    from pagefit.serve import serve

    Console(stderr=True).print(
        f"[bold green]serving[/] http://{host}:{port}/  (API docs: /docs)", highlight=False
    )
    serve(
        index, compare=compare, reranker=reranker, hybrid=hybrid, host=host, port=port, api_key=api_key,
        allow_hosts=allow_host or (), trust_remote_code=trust_remote_code, device=device,
    )  # fmt: skip
