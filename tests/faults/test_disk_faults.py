"""A full disk and a read-only output folder: one line saying so, nothing half-written, and the same
command completes once there is room (identical to a run that never hit the wall)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _helpers import (
    assert_nothing_half_written,
    assert_one_line_error,
    parse_size,
    readonly_folder,
    run_pagefit,
    small_disk,
)

import pagefit
from test_ingest import make_pdf


def _docs(root: Path, n: int = 8) -> Path:
    for i in range(n):
        make_pdf(
            root / f"doc-{i}.pdf", [[f"Document {i} page {p}", f"amount {i * 7 + p} units"] for p in range(3)]
        )
    return root


@pytest.mark.parametrize("simulate", [False, True], ids=["tmpfs-where-allowed", "simulated"])
def test_ingest_on_a_full_disk_fails_cleanly_and_completes_after_space_is_freed(tmp_path: Path, monkeypatch,
                                                                                 simulate: bool) -> None:  # fmt: skip
    docs = _docs(tmp_path / "docs")
    with small_disk(tmp_path / "disk", "640k", simulate=simulate) as disk:
        out = disk.path / "corpus"
        outcome = run_pagefit(["ingest", docs, "--out", out, "--ocr", "never", "--no-progress"], monkeypatch)
        line = assert_one_line_error(outcome, "disk is full", "run the same command again")
        assert str(disk.path) in line
        assert not list(out.rglob("*.tmp")), "a half-written file was left"
        assert not (out / "pages").exists()  # no page table that lacks pages
        disk.make_room()  # the same command now completes
        outcome = run_pagefit(["ingest", docs, "--out", out, "--ocr", "never", "--no-progress"], monkeypatch)
        assert outcome.code == 0, outcome.err
        resumed = pagefit.load_corpus(out).to_list()
    clean = tmp_path / "clean"
    assert (
        run_pagefit(["ingest", docs, "--out", clean, "--ocr", "never", "--no-progress"], monkeypatch).code
        == 0
    )
    assert resumed == pagefit.load_corpus(clean).to_list() and len(resumed) == 24


def test_the_simulated_small_disk_fills_up_and_make_room_lifts_it(tmp_path: Path) -> None:
    """The helper itself, as it runs where mounting is not allowed: sizes such as `640k`, writes through
    a module that imported `atomic_write_bytes` refused past the size, room made by `make_room`."""
    import errno

    import datasets

    from pagefit import ingest

    assert parse_size("640k") == 640 << 10 and parse_size("2m") == 2 << 20 and parse_size("4096") == 4096
    with small_disk(tmp_path / "disk", "64k", simulate=True) as disk:
        assert disk.how == "simulated" and disk.free() == 64 << 10
        ingest.atomic_write_bytes(disk.path / "a.bin", b"x" * (40 << 10))  # fits
        with pytest.raises(OSError) as full:
            ingest.atomic_write_bytes(disk.path / "b.bin", b"x" * (40 << 10))
        assert full.value.errno == errno.ENOSPC and not (disk.path / "b.bin").exists()
        with pytest.raises(OSError, match="No space"):
            datasets.Dataset.from_dict({"t": ["y" * 1000] * 100}).save_to_disk(str(disk.path / "ds"))
        ingest.atomic_write_bytes(tmp_path / "elsewhere.bin", b"x" * (100 << 10))  # other folders: no limit
        (disk.path / "a.bin").unlink()  # deleting frees room, as on a disk
        shutil.rmtree(disk.path / "ds")  # what the failed save had written
        ingest.atomic_write_bytes(disk.path / "b.bin", b"x" * (40 << 10))
        disk.make_room()
        ingest.atomic_write_bytes(disk.path / "c.bin", b"x" * (200 << 10))
    assert (disk.path / "c.bin").stat().st_size == 200 << 10


@pytest.mark.parametrize("simulate", [False, True], ids=["tmpfs-where-allowed", "simulated"])
def test_pairs_on_a_full_disk_keeps_the_previous_pairs_folder(road, tmp_path: Path, monkeypatch,
                                                               simulate: bool) -> None:  # fmt: skip
    corpus, _ = road
    with small_disk(tmp_path / "disk", "8m", simulate=simulate) as disk:
        out = disk.path / "pairs"
        args = ["pairs", corpus, "--out", out, "--generate", "text", "--no-progress"]
        free = disk.free()
        first = run_pagefit([*args, "--per-page", "1"], monkeypatch)
        assert first.code == 0, first.err  # an 8 MB disk holds one pairs folder of the sample corpus
        used = free - disk.free()
        assert used > 0
        before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
        disk.fill(leave=used // 2)  # a second, bigger copy written beside the first does not fit
        outcome = run_pagefit([*args, "--per-page", "4"], monkeypatch)
        assert_one_line_error(outcome, "disk is full")
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before  # the old one, whole
        assert_nothing_half_written(out)
        import datasets

        assert len(datasets.load_from_disk(str(out))["train"]) > 0


def test_a_read_only_output_folder_is_one_line(tmp_path: Path, monkeypatch) -> None:
    docs = _docs(tmp_path / "docs", n=1)
    with readonly_folder(tmp_path / "locked") as locked:
        outcome = run_pagefit(["ingest", docs, "--out", locked / "corpus", "--no-progress"], monkeypatch)
        line = assert_one_line_error(outcome, "choose a folder you can write (--out)")
        assert ("cannot write" in line and "read-only" in line) or (
            "cannot access" in line and "permission" in line
        )
        assert list(locked.iterdir()) == []
