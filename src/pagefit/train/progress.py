"""One progress display for a training run: step / total, loss, lr, the last eval metric, ETA.

Replaces the transformers Trainer's tqdm bar and its printed log dicts; at the end the evaluations
of the run are shown as a small table. Only the main process of a distributed run draws.

On a terminal it is a live rich bar. Off a terminal (stderr redirected to a file: CI, `nohup`, a
cluster job) a live bar draws nothing until the run ends, so the run writes plain lines instead, one
every `PLAIN_EVERY` of the steps and one per evaluation, each flushed at once:
`train step 30/600 (5%) | loss 0.4211 | lr 2.0e-05 | ndcg@10 0.8120 | elapsed 0:01:02 | eta 0:19:40`.
`train` and `train-reranker` both draw through `train_progress_callback`.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

__all__ = ["TrainProgress", "eval_metrics", "train_progress_callback"]

# The metrics shown, by their suffix in the evaluator's keys (e.g. `eval_pagefit-eval_cosine_ndcg@10`).
_SHOWN = ("ndcg@10", "mrr@10", "map@100", "recall@10")
_KEY = re.compile(r"(ndcg|mrr|map|recall|accuracy|precision)@\d+$")
PLAIN_EVERY = 0.05  # off a terminal: a line every 5% of the steps


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

    def __init__(self, primary: str = "ndcg@10", console: Any = None) -> None:
        self.primary = primary
        self.evaluations: list[tuple[int, dict[str, float]]] = []
        self._progress: Any = None
        self._task: Any = None
        self._console = console  # None: stderr
        self._plain: _PlainLog | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._progress is not None or self._plain is not None:
            return
        from rich.console import Console

        console = self._console or Console(stderr=True)
        if not console.is_terminal:
            self._plain = _PlainLog(console, state.max_steps or 0, state.global_step, self.primary)
            return
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
            console=console,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "train", total=state.max_steps or None, completed=state.global_step, loss="", lr="", metric=""
        )

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._plain is not None:
            self._plain.flush()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=state.global_step)
        if self._plain is not None:
            self._plain.step(state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any):
        if self._plain is not None and logs:
            self._plain.log(logs)
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
        if self._plain is not None:
            self._plain.evaluation(state.global_step, found)
        if self._progress is not None and self.primary in found:
            self._progress.update(self._task, metric=f"{self.primary} {found[self.primary]:.4f}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._plain is not None:
            self._plain.end(state.global_step)
            console, self._plain = self._plain.console, None
            if self.evaluations:
                console.print(evaluation_table(self.evaluations))
            return
        if self._progress is None:
            return
        self._progress.update(self._task, completed=state.global_step)
        self._progress.stop()
        console = self._progress.console
        self._progress = None
        if self.evaluations:
            console.print(evaluation_table(self.evaluations))


class _PlainLog:
    """The run as plain lines (no live display): every `PLAIN_EVERY` of the steps, each evaluation, the end."""

    def __init__(self, console: Any, total: int, start_step: int, primary: str) -> None:
        self.console, self.total, self.primary = console, total, primary
        self.start_step, self.started = start_step, time.monotonic()
        self.every = max(1, round(total * PLAIN_EVERY)) if total else 10
        self.loss: float | None = None
        self.lr: float | None = None
        self.metric: float | None = None
        self._last_line_step = start_step
        self._pending: tuple[int, str] | None = None
        self._write(
            f"train: {total} steps" + (f", resuming at step {start_step}" if start_step else "")
            + f"; a line every {self.every} steps and after each evaluation"
        )  # fmt: skip

    def _write(self, line: str) -> None:
        # soft_wrap: one line whatever the width; markup/highlight off: the text as written. rich flushes.
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _position(self, step: int) -> str:
        if not self.total:
            return f"step {step}"
        return f"step {step}/{self.total} ({100 * step / self.total:.0f}%)"

    def _times(self, step: int) -> str:
        elapsed = time.monotonic() - self.started
        done = step - self.start_step
        text = f"elapsed {_duration(elapsed)}"
        if self.total and done > 0:
            text += f" | eta {_duration(elapsed / done * max(0, self.total - step))}"
        return text

    def _fields(self) -> list[str]:
        fields = []
        if self.loss is not None:
            fields.append(f"loss {self.loss:.4f}")
        if self.lr is not None:
            fields.append(f"lr {self.lr:.1e}")
        if self.metric is not None:
            fields.append(f"{self.primary} {self.metric:.4f}")
        return fields

    def step(self, step: int) -> None:
        """A step ended: its line waits for the step's loss (the Trainer logs it after `on_step_end`)
        and is written at the latest when the next step begins."""
        if step - self._last_line_step >= self.every or (self.total and step >= self.total):
            self._last_line_step = step
            self._pending = (step, self._times(step))

    def flush(self) -> None:
        if self._pending is not None:
            step, times = self._pending
            self._pending = None
            self._write(" | ".join([f"train {self._position(step)}", *self._fields(), times]))

    def log(self, logs: dict[str, Any]) -> None:
        if isinstance(logs.get("loss"), int | float):
            self.loss = float(logs["loss"])
        if isinstance(logs.get("learning_rate"), int | float):
            self.lr = float(logs["learning_rate"])
        if "loss" in logs:
            self.flush()

    def evaluation(self, step: int, found: dict[str, float]) -> None:
        self.flush()
        self.metric = found.get(self.primary, self.metric)
        shown = [f"{name} {found[name]:.4f}" for name in _SHOWN if name in found] or [
            f"{name} {value:.4f}" for name, value in found.items()
        ]
        self._write(" | ".join([f"eval {self._position(step)}", *shown, self._times(step)]))

    def end(self, step: int) -> None:
        self.flush()
        fields = self._fields()
        self._write(
            " | ".join(
                [f"train done: {step} steps", *fields, f"in {_duration(time.monotonic() - self.started)}"]
            )
        )


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def evaluation_table(evaluations: list[tuple[int, dict[str, float]]]) -> Any:
    """The run's evaluations, one row per step, as a rich table."""
    from rich.table import Table

    shown = [m for m in _SHOWN if any(m in found for _, found in evaluations)]
    table = Table("step", *shown, title="held-out evaluation", box=None, header_style="bold")
    for step, found in evaluations:
        table.add_row(str(step), *(f"{found[m]:.4f}" if m in found else "" for m in shown))
    return table
