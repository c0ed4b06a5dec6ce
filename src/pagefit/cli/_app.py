"""The Typer application every command module registers itself on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pagefit",
    help="Turn your documents into a better visual document retriever: ingest, pairs, mine, train, eval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root() -> None:
    """pagefit: from your own documents to a measured, better visual document retriever."""
