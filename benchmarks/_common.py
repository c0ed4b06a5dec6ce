"""What every benchmark shares: one comparison per goal, printed as met / not met, saved for RESULTS.md.

A benchmark (`benchmarks/NAME.py`, run by `make bench` through `benchmarks/run.py`) measures both sides
of each comparison in the same run and ends with::

    from _common import Goal, report
    report("NAME", [Goal("sweep vs re-encode", measured=7.3, goal=6.0, unit="x")], notes=["..."])

`report` prints one line per goal and writes `benchmarks/results/NAME.json`; `run.py` turns every
results file into one table in `benchmarks/RESULTS.md`.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["RESULTS_DIR", "Goal", "machine", "report"]

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass
class Goal:
    """One comparison: `measured` against `goal`; `higher_is_better` says which side of it is met."""

    name: str
    measured: float
    goal: float
    unit: str = "x"
    higher_is_better: bool = True
    detail: str = ""  # the two raw numbers behind the ratio, e.g. "12.1 s vs 1.6 s"
    met: bool = field(init=False)

    def __post_init__(self) -> None:
        self.met = self.measured >= self.goal if self.higher_is_better else self.measured <= self.goal

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        verdict = "met" if self.met else "NOT MET"
        return (
            f"{self.name}: {self.measured:.3g}{self.unit} (goal {sign} {self.goal:g}{self.unit}) {verdict}"
            + (f" [{self.detail}]" if self.detail else "")
        )


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{platform.machine()}, {cpus} CPUs (load {load:.1f} at the start), Python {platform.python_version()}"


def report(bench: str, goals: list[Goal], notes: list[str] | None = None) -> None:
    """Print each goal as met / not met and save them for RESULTS.md."""
    for goal in goals:
        print(goal.line(), flush=True)
    RESULTS_DIR.mkdir(exist_ok=True)
    record = {"bench": bench, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
              "goals": [asdict(g) for g in goals], "notes": notes or []}  # fmt: skip
    tmp = RESULTS_DIR / f".{bench}.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, RESULTS_DIR / f"{bench}.json")
