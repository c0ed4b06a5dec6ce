"""Durable stage outputs (`pagefit._io`): bytes on the disk before a name points at them, and what a
kill leaves beside an output folder repaired by the next run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pagefit._io as pio


def test_atomic_write_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:  # type: ignore[no-untyped-def]
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(pio.os, "fsync", fsync)
    monkeypatch.setattr(pio.os, "replace", replace)
    target = tmp_path / "out.json"
    pio.atomic_write_json(target, {"a": 1})
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"], events
    assert events[0][1].startswith(str(tmp_path / ".out.json.")) and events[0][1].endswith(".tmp")
    assert events[1][1] == str(target) and events[2][1] == str(tmp_path)
    assert target.read_text() == '{\n  "a": 1\n}\n'


def test_publish_fsyncs_every_file_of_the_new_output_before_it_takes_the_name(tmp_path, monkeypatch):
    out = tmp_path / "out"
    tmp = pio.prepare_out(out, "marker.json", "test")
    (tmp / "sub").mkdir()
    for name in ("marker.json", "sub/data.bin"):
        (tmp / name).write_bytes(b"x")
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(pio.os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")),
                                                     real_fsync(fd))[1])  # fmt: skip
    pio.publish(tmp, out)
    assert {str(tmp / "marker.json"), str(tmp / "sub" / "data.bin"), str(tmp / "sub")} <= set(synced)
    assert (out / "sub" / "data.bin").read_bytes() == b"x"


_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import pagefit._io as pio

    out, step = Path(sys.argv[1]), sys.argv[2]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    tmp = pio.prepare_out(out, "marker.json", "test")
    (tmp / "marker.json").write_text("new")
    if step == "writing":
        die()
    if step == "between-renames":  # no atomic swap here: the two-rename path, killed after the first
        pio._exchange = lambda a, b: False
        real = os.replace
        calls = []
        def replace(src, dst):
            real(src, dst)
            calls.append(dst)
            if len(calls) == 1:
                die()
        pio.os.replace = replace
    if step == "after-swap":  # killed after the swap, before the old output is deleted
        pio.shutil.rmtree = die
    pio.publish(tmp, out)
    """
)


def _killed_run(out: Path, step: str) -> None:
    proc = subprocess.run([sys.executable, "-c", _RUN, str(out), step], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def _siblings(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def _old_output(out: Path) -> None:
    out.mkdir()
    (out / "marker.json").write_text("old")


@pytest.mark.parametrize("step", ["writing", "between-renames", "after-swap"])
def test_the_next_run_cleans_what_a_killed_run_left(tmp_path, step):
    out = tmp_path / "out"
    _old_output(out)
    _killed_run(out, step)
    assert _siblings(out), "the killed run left nothing to clean: the test kills too late"
    if step == "after-swap":
        assert (out / "marker.json").read_text() == "new"
    tmp = pio.prepare_out(out, "marker.json", "test")  # the next run
    assert _siblings(out) == [tmp.name]
    assert (out / "marker.json").read_text() in ("old", "new")
    (tmp / "marker.json").write_text("next")
    pio.publish(tmp, out)
    assert (out / "marker.json").read_text() == "next" and _siblings(out) == []


def test_a_kill_between_the_two_renames_of_publish_is_recovered(tmp_path):
    out = tmp_path / "out"
    _old_output(out)
    _killed_run(out, "between-renames")
    assert not out.exists() and any(".old." in name for name in _siblings(out))  # the window itself
    assert pio.recover_out(out) == out  # what a loader calls
    assert (out / "marker.json").read_text() == "old" and _siblings(out) == []


def test_publish_swaps_atomically_where_the_system_can(tmp_path, monkeypatch):
    """With renameat2(RENAME_EXCHANGE) `out` is never missing: publish renames nothing aside."""
    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux's")
    out = tmp_path / "out"
    _old_output(out)
    tmp = pio.prepare_out(out, "marker.json", "test")
    (tmp / "marker.json").write_text("new")
    replaced: list[str] = []
    monkeypatch.setattr(pio.os, "replace", lambda src, dst: replaced.append(str(dst)))
    pio.publish(tmp, out)
    assert replaced == [] and (out / "marker.json").read_text() == "new" and _siblings(out) == []


def test_a_live_runs_temporary_folder_is_left_alone(tmp_path):
    out = tmp_path / "out"
    _old_output(out)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".out.{sleeper.pid}.abcdefgh"
        live.mkdir()
        stale = tmp_path / ".out.abcdefgh"  # an older pagefit's name (no pid): nobody owns it now
        stale.mkdir()
        other = tmp_path / ".outside.abcdefgh"  # not a sibling of `out`
        other.mkdir()
        tmp = pio.prepare_out(out, "marker.json", "test")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".out." + f"{sleeper.pid}.abcdefgh",
                                                                     tmp.name, ".outside.abcdefgh", "out"])  # fmt: skip
    finally:
        sleeper.kill()
        sleeper.wait()
