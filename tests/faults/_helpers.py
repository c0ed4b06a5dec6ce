"""What every fault test checks: a one-line actionable error, the exit code, nothing half-written.

Extension point for new stages (train-reranker, index, serve, multi-vector): run the stage with
`run_pagefit([...])`, check the outcome with `assert_one_line_error(...)` and the output folder with
`assert_nothing_half_written(...)`; kill it with `kill_when(...)` (see test_kills.py).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PAGEFIT = str(Path(sys.executable).with_name("pagefit"))


@dataclass
class Outcome:
    code: int
    err: str


def run_pagefit(args: list[object], monkeypatch: pytest.MonkeyPatch) -> Outcome:
    """Run the real console entry point (`pagefit.cli.main`) in this process; exit code and stderr."""
    import pagefit.cli

    monkeypatch.setattr(sys, "argv", ["pagefit", *map(str, args)])
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            pagefit.cli.main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Outcome(code, err.getvalue())


def assert_one_line_error(outcome: Outcome, *needles: str) -> str:
    """Exit 1, one `error:` line holding every needle, no traceback. Returns the line."""
    assert outcome.code == 1, outcome.err
    assert "Traceback" not in outcome.err, outcome.err
    lines = [line for line in outcome.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, outcome.err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in: {lines[0]}"
    return lines[0]


def assert_nothing_half_written(out: Path) -> None:
    """No temporary sibling of `out` (stages write `.OUT.*` and publish it whole) and no `*.tmp` file in it."""
    parent = out.parent
    leftovers = [p.name for p in parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert not leftovers, f"temporary folders left beside {out}: {leftovers}"
    if out.is_dir():
        tmp_files = [str(p) for p in out.rglob("*.tmp")]
        assert not tmp_files, f"half-written files in {out}: {tmp_files}"


# ------------------------------------------------------------------------------------ small and read-only disks


def _can_mount() -> bool:
    return os.geteuid() == 0 and sys.platform.startswith("linux")


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "2m") -> Iterator[tuple[Path, str]]:
    """A folder on a tiny tmpfs (a real full disk: ENOSPC), or, where mounting is not allowed, one
    where pagefit's writes fail with a simulated ENOSPC once `size` bytes were written.

    Yields (folder, how): how is "tmpfs" or "simulated".
    """
    folder.mkdir(parents=True, exist_ok=True)
    if _can_mount() and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                       capture_output=True).returncode == 0:  # fmt: skip
        try:
            yield folder, "tmpfs"
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    limit = int(size.rstrip("m")) << 20
    with _simulated_enospc(folder, limit):
        yield folder, "simulated"


@contextlib.contextmanager
def _simulated_enospc(folder: Path, limit: int) -> Iterator[None]:
    import pagefit._io as pio

    written = {"bytes": 0}
    original = pio.atomic_write_bytes

    def write(path, data):  # type: ignore[no-untyped-def]
        if str(Path(path).resolve()).startswith(str(folder.resolve())):
            written["bytes"] += len(data)
            if written["bytes"] > limit:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return original(path, data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pio, "atomic_write_bytes", write)
        yield


@contextlib.contextmanager
def readonly_folder(folder: Path) -> Iterator[Path]:
    """A folder nobody can write: a read-only tmpfs as root (root ignores file modes), else chmod 555."""
    folder.mkdir(parents=True, exist_ok=True)
    if _can_mount() and subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                                       capture_output=True).returncode == 0:  # fmt: skip
        try:
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


# -------------------------------------------------------------------------------------------------------- kills


def kill_when(cmd: list[str], ready: Callable[[], bool], *, delay: float = 0.0, timeout: float = 600,
              env: dict[str, str] | None = None) -> bool:  # fmt: skip
    """Start `cmd`, SIGKILL it `delay` s after `ready()` first holds; False if it finished first."""
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise AssertionError(f"{cmd} made no progress in {timeout} s")
            time.sleep(0.01)
        time.sleep(delay)
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
