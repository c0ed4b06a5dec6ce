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


def run_in_process(cmd: list[str], env: dict[str, str] | None = None) -> None:
    """Run `cmd` (`[PAGEFIT, verb, ...]`, as given to `kill_when`) through the real console entry point in this
    process, with `env` set for the call; fail with its stderr unless it exits 0. The reruns of the kill tests
    need no fresh interpreter: only the killed run must be a process of its own (it saves ~5 s of imports
    a run)."""
    assert cmd[0] == PAGEFIT, cmd
    with pytest.MonkeyPatch.context() as patch:
        for key, value in (env or {}).items():
            patch.setenv(key, value)
        outcome = run_pagefit(cmd[1:], patch)
    assert outcome.code == 0, outcome.err[-3000:]


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


def parse_size(size: str) -> int:
    """Bytes in a tmpfs-style size: `640k`, `2m`, `1g` or a plain number of bytes."""
    text = size.strip().lower()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    if not number.isdigit():
        raise ValueError(f"not a disk size: {size!r} (e.g. 640k, 2m)")
    return int(number) * scale


def disk_usage(folder: Path) -> int:
    """Bytes the files under `folder` take (what a small file system would count against its size)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@dataclass
class SmallDisk:
    """A tiny disk (see `small_disk`): `path`, `how` ("tmpfs" or "simulated"), and `make_room()`."""

    path: Path
    how: str
    size: int
    _lift: Callable[[], None] | None = None

    def free(self) -> int:
        """Bytes still free on the disk."""
        if self.how == "tmpfs":
            stats = os.statvfs(self.path)
            return stats.f_bavail * stats.f_frsize
        return self.size - disk_usage(self.path)

    def fill(self, leave: int) -> None:
        """Take all but `leave` bytes with a filler file (written around pagefit: the disk is just full)."""
        (self.path / "filler").write_bytes(b"\0" * max(0, self.free() - leave))

    def make_room(self) -> None:
        """Grow the disk so the same command fits: a bigger tmpfs, or the simulation lifted."""
        if self.how == "tmpfs":
            subprocess.run(["mount", "-o", "remount,size=64m", str(self.path)], check=True)
        elif self._lift is not None:
            self._lift()


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "2m", *, simulate: bool = False) -> Iterator[SmallDisk]:
    """A folder on a tiny tmpfs (a real full disk: ENOSPC), or, where mounting is not allowed (or
    `simulate`), one where pagefit's writes fail with ENOSPC once the files in it would pass `size`.

    The simulation counts the folder's real usage (so deleted files free room, as on a disk) and
    intercepts every write pagefit makes: `pagefit._io.atomic_write_bytes` wherever a module imported
    it, and `datasets`' `save_to_disk` (it writes through Arrow, checked once it is done).
    """
    folder.mkdir(parents=True, exist_ok=True)
    limit = parse_size(size)
    if not simulate and _can_mount() and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    ).returncode == 0:  # fmt: skip
        try:
            yield SmallDisk(folder, "tmpfs", limit)
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    patch = pytest.MonkeyPatch()
    state = {"full": True}  # also read by wrappers a module imported while the simulation was on

    def lift() -> None:
        state["full"] = False
        patch.undo()

    try:
        _simulate_enospc(patch, state, folder, limit)
        yield SmallDisk(folder, "simulated", limit, lift)
    finally:
        lift()


def _simulate_enospc(patch: pytest.MonkeyPatch, state: dict[str, bool], folder: Path, limit: int) -> None:
    import datasets

    import pagefit._io as pio

    root = folder.resolve()
    original = pio.atomic_write_bytes

    def inside(path: object) -> bool:
        return state["full"] and Path(str(path)).resolve().is_relative_to(root)

    def full(path: object) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    def write(path, data):  # type: ignore[no-untyped-def]
        if inside(path) and disk_usage(root) + len(data) > limit:
            raise full(path)
        return original(path, data)

    for module in [m for name, m in sys.modules.items() if name.startswith("pagefit") and m is not None]:
        if getattr(module, "atomic_write_bytes", None) is original:
            patch.setattr(module, "atomic_write_bytes", write)
    for cls in (datasets.Dataset, datasets.DatasetDict):
        saved = cls.save_to_disk

        def save_to_disk(self, dataset_path, *args, _saved=saved, **kwargs):  # type: ignore[no-untyped-def]
            result = _saved(self, dataset_path, *args, **kwargs)
            if inside(dataset_path) and disk_usage(root) > limit:
                raise full(dataset_path)
            return result

        patch.setattr(cls, "save_to_disk", save_to_disk)


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
