"""One progress bar look for every stage (rich), silent when disabled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ProgressBar", "progress_bar"]


class ProgressBar:
    def __init__(self, progress, task) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1, status: str | None = None) -> None:
        if self._progress is not None:
            fields = {"status": status} if status is not None else {}
            self._progress.update(self._task, advance=n, **fields)


@contextmanager
def progress_bar(
    label: str, total: int | None, unit: str = "it", enabled: bool = True
) -> Iterator[ProgressBar]:
    """A rich progress bar on stderr: `with progress_bar("ingest", total=n) as bar: bar.advance()`."""
    if not enabled:
        yield ProgressBar(None, None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}", style="dim"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        yield ProgressBar(progress, progress.add_task(label, total=total, status=""))
