"""`make bench`: run every `benchmarks/*.py` (not `_*.py`, not this file), then write RESULTS.md.

Each benchmark runs in its own process with a time limit (`--limit`, seconds) and reports through
`_common.report`; a benchmark that fails or runs out of time is listed as such. `--only a,b` runs some.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/run.py [--only eval_sweep,ingest] [--limit 900]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "RESULTS.md"


def benchmarks() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_") and p.name != "run.py")


def run(path: Path, limit: int) -> tuple[str, float]:
    start = time.perf_counter()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
        [str(HERE), str(HERE.parent / "src"), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    try:
        proc = subprocess.run([sys.executable, str(path)], env=env, timeout=limit, text=True,
                              stdout=sys.stdout, stderr=subprocess.PIPE)  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"ran out of time ({limit} s)", time.perf_counter() - start
    status = (
        "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    )
    return status, time.perf_counter() - start


def write_results(statuses: dict[str, tuple[str, float]]) -> None:
    lines = ["# Benchmark results", "", "Written by `make bench` (`benchmarks/run.py`); each row compares two "
             "ways of doing the same work, measured in the same run.", "",
             "| benchmark | comparison | measured | goal | verdict | detail |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    notes, machines = [], set()
    for path in sorted((HERE / "results").glob("*.json")):
        record = json.loads(path.read_text())
        machines.add(f"{record['machine']} ({record['when']})")
        for g in record["goals"]:
            sign = ">=" if g["higher_is_better"] else "<="
            lines.append(f"| {record['bench']} | {g['name']} | {g['measured']:.3g}{g['unit']} | {sign} "
                         f"{g['goal']:g}{g['unit']} | {'met' if g['met'] else '**not met**'} | {g['detail']} |")  # fmt: skip
        for n in record["notes"]:  # a multi-line note (a table) is its own block
            notes += [f"- {record['bench']}:", "", n, ""] if "\n" in n else [f"- {record['bench']}: {n}"]
    runs = [f"- {name}: {status} in {seconds:.0f} s" for name, (status, seconds) in statuses.items()]
    lines += [
        "",
        "## Notes",
        "",
        *notes,
        "",
        "## Last run",
        "",
        *runs,
        "",
        "Machines: " + "; ".join(sorted(machines)),
        "",
        "Profiles behind the verdicts (measured by hand): [PROFILES.md](PROFILES.md).",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--limit", type=int, default=900, help="seconds per benchmark")
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    statuses = {}
    for path in benchmarks():
        if only and path.stem not in only:
            continue
        print(f"== {path.stem}", flush=True)
        statuses[path.stem] = run(path, args.limit)
        print(f"== {path.stem}: {statuses[path.stem][0]}", flush=True)
    write_results(statuses)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
