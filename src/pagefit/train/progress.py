"""One progress display for a training run: step / total, loss, lr, the last eval metric, ETA.

Replaces the transformers Trainer's tqdm bar and its printed log dicts; at the end the evaluations
of the run are shown as a small table. Only the main process of a distributed run draws.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["TrainProgress", "eval_metrics", "train_progress_callback"]

# The metrics shown, by their suffix in the evaluator's keys (e.g. `eval_pagefit-eval_cosine_ndcg@10`).
_SHOWN = ("ndcg@10", "mrr@10", "map@100", "recall@10")
_KEY = re.compile(r"(ndcg|mrr|map|recall|accuracy|precision)@\d+$")


def eval_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """`{"ndcg@10": 0.81, ...}` from a Trainer's evaluation metrics (first score function wins)."""
    found: dict[str, float] = {}
    for key, value in metrics.items():
        match = _KEY.search(key)
        if match and match.group(0) not in found and isinstance(value, int | float):
            found[match.group(0)] = float(value)
    return found


def train_progress_callback(primary: str = "ndcg@10") -> Any:
    """A `TrainerCallback` drawing the run with rich (transformers is imported only here)."""
    from transformers import TrainerCallback

    class _Callback(TrainProgress, TrainerCallback):
        pass

    return _Callback(primary)


class TrainProgress:
    """The display's state; mixed into a `TrainerCallback` by `train_progress_callback`."""

    def __init__(self, primary: str = "ndcg@10") -> None:
        self.primary = primary
        self.evaluations: list[tuple[int, dict[str, float]]] = []
        self._progress: Any = None
        self._task: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._progress is not None:
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

        self._progress = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TextColumn("{task.fields[loss]}"),
            TextColumn("{task.fields[lr]}", style="dim"),
            TextColumn("{task.fields[metric]}", style="cyan"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=state.max_steps or None, completed=state.global_step, loss="", lr="", metric=""
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any):
        if self._progress is None or not logs:
            return
        fields = {}
        if isinstance(logs.get("loss"), int | float):
            fields["loss"] = f"loss {logs['loss']:.4f}"
        if isinstance(logs.get("learning_rate"), int | float):
            fields["lr"] = f"lr {logs['learning_rate']:.1e}"
        if fields:
            self._progress.update(self._task, **fields)

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw: Any
    ) -> None:
        found = eval_metrics(metrics or {})
        if not found:
            return
        self.evaluations.append((state.global_step, found))
        if self._progress is not None and self.primary in found:
            self._progress.update(self._task, metric=f"{self.primary} {found[self.primary]:.4f}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is None:
            return
        self._progress.update(self._task, completed=state.global_step)
        self._progress.stop()
        console = self._progress.console
        self._progress = None
        if self.evaluations:
            console.print(evaluation_table(self.evaluations))


def evaluation_table(evaluations: list[tuple[int, dict[str, float]]]) -> Any:
    """The run's evaluations, one row per step, as a rich table."""
    from rich.table import Table

    shown = [m for m in _SHOWN if any(m in found for _, found in evaluations)]
    table = Table("step", *shown, title="held-out evaluation", box=None, header_style="bold")
    for step, found in evaluations:
        table.add_row(str(step), *(f"{found[m]:.4f}" if m in found else "" for m in shown))
    return table
