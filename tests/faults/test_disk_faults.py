"""A full disk and a read-only output folder: one line saying so, nothing half-written, and the same
command completes once there is room (identical to a run that never hit the wall)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _helpers import (
    assert_nothing_half_written,
    assert_one_line_error,
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


def test_ingest_on_a_full_disk_fails_cleanly_and_completes_after_space_is_freed(tmp_path: Path,
                                                                                 monkeypatch) -> None:  # fmt: skip
    docs = _docs(tmp_path / "docs")
    with small_disk(tmp_path / "disk", "640k") as (disk, how):
        out = disk / "corpus"
        outcome = run_pagefit(["ingest", docs, "--out", out, "--ocr", "never", "--no-progress"], monkeypatch)
        line = assert_one_line_error(outcome, "disk is full", "run the same command again")
        assert str(disk) in line
        assert not list(out.rglob("*.tmp")), "a half-written file was left"
        assert not (out / "pages").exists()  # no page table that lacks pages
        if how == "tmpfs":  # make room: the same command now completes
            subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        else:
            monkeypatch.undo()
        outcome = run_pagefit(["ingest", docs, "--out", out, "--ocr", "never", "--no-progress"], monkeypatch)
        assert outcome.code == 0, outcome.err
        resumed = pagefit.load_corpus(out).to_list()
    clean = tmp_path / "clean"
    assert (
        run_pagefit(["ingest", docs, "--out", clean, "--ocr", "never", "--no-progress"], monkeypatch).code
        == 0
    )
    assert resumed == pagefit.load_corpus(clean).to_list() and len(resumed) == 24


def test_pairs_on_a_full_disk_keeps_the_previous_pairs_folder(road, tmp_path: Path, monkeypatch) -> None:
    corpus, _ = road
    with small_disk(tmp_path / "disk", "96k") as (disk, how):
        out = disk / "pairs"
        args = ["pairs", corpus, "--out", out, "--generate", "text", "--no-progress"]
        first = run_pagefit([*args, "--per-page", "1"], monkeypatch)
        if first.code != 0:
            pytest.skip(f"the tiny disk cannot hold even one pairs folder here ({how})")
        before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
        outcome = run_pagefit([*args, "--per-page", "4"], monkeypatch)  # a second, bigger copy does not fit
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
