"""The Typer application every command module registers itself on."""

from __future__ import annotations

import os
from typing import Annotated

import typer

app = typer.Typer(
    name="pagefit",
    help="Turn your documents into a better visual document retriever: "
    "ingest, pairs, mine, train, train-reranker, eval, index, search, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)

# `--ray-address` of every verb with `--engine ray` (ingest, index)
RayAddress = Annotated[
    str | None,
    typer.Option(
        help="With --engine ray: the cluster to join (e.g. ray://head:10001 or auto); default a local Ray.",
        envvar="RAY_ADDRESS",
    ),
]


def _print_version(value: bool) -> None:
    if value:
        from pagefit import __version__

        typer.echo(f"pagefit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show third-party logs, progress bars and warnings (quiet by default)."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """pagefit: from your own documents to a measured, better visual document retriever."""
    from pagefit._console import VERBOSE_ENV, quiet_libraries

    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    ctx.with_resource(quiet_libraries(verbose or None))
