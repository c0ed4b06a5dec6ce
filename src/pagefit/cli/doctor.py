"""`pagefit doctor`."""

from __future__ import annotations

from typing import Annotated

import typer

from pagefit.cli._app import app

_STYLE = {"ok": "green", "missing": "bold red", "warning": "yellow", "info": "dim"}


@app.command("doctor")
def doctor_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    ocr: Annotated[
        bool, typer.Option("--ocr/--no-ocr", help="Run the OCR engine on a small test image.")
    ] = True,
) -> None:
    """What is installed and usable (torch build, GPU, OCR, extras, cache), and how to fix each gap."""
    from pagefit.doctor import diagnose

    checks = diagnose(run_ocr=ocr)
    if json_output:
        import json

        typer.echo(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("component", "status", "detail", "fix", box=None, header_style="bold")
        for c in checks:
            table.add_row(c.name, f"[{_STYLE[c.status]}]{c.status}[/]", c.detail, c.fix)
        Console().print(table)
    if any(c.status == "missing" for c in checks):
        raise typer.Exit(1)
