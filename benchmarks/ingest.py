"""Ingest throughput: `pagefit ingest` vs a bare pypdfium2 render loop, same PDFs, same run.

Run by hand or by `make bench` (never by the tests):

    .venv/bin/python benchmarks/ingest.py [--docs 12 --pages 8 --dpi 120]

Prints pages/s for the bare loop and for `pagefit ingest --ocr never` at 1 and 2 workers, the
ratio of each to the bare loop, and the peak RSS of each run's whole process tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

BARE_LOOP = """
import sys, pypdfium2 as pdfium
from pathlib import Path
dpi = int(sys.argv[2])
paths = sorted(Path(sys.argv[1]).rglob("*.pdf"))
assert paths, "no PDFs found"
for path in paths:
    pdf = pdfium.PdfDocument(str(path))
    for page in pdf:
        page.render(scale=dpi / 72).to_pil().convert("RGB")
        page.close()
    pdf.close()
"""


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB, summed over the process tree, sampled every 20 ms)."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=12)
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--dpi", type=int, default=120)
    parser.add_argument("--copies", type=int, default=3, help="copies of the generated documents")
    args = parser.parse_args()

    from pagefit.demo.documents import write_sample_documents

    work = Path(tempfile.mkdtemp(prefix="pagefit-bench-ingest-"))
    sample = write_sample_documents(
        work / "sample", n_docs=args.docs, pages_per_doc=args.pages, seed=0, with_images=False
    ).docs_dir
    docs = work / "docs"  # the generator's names run out past ~100 pages: repeat its documents
    for copy in range(args.copies):
        shutil.copytree(sample, docs / f"set{copy}")
    n_pages = args.docs * args.pages * args.copies
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PAGEFIT_CACHE_DIR": str(work / "cache")}
    pagefit = str(Path(sys.executable).with_name("pagefit"))

    rows = []
    seconds, rss = run_measured([sys.executable, "-c", BARE_LOOP, str(docs), str(args.dpi)], env)
    rows.append(("bare pypdfium2 render loop", seconds, rss))

    def ingest_cmd(workers: int, fmt: str = "png") -> list[str]:
        return [pagefit, "ingest", str(docs), "--out", str(work / f"corpus-{workers}-{fmt}"), "--ocr", "never",
                "--dpi", str(args.dpi), "--workers", str(workers), "--image-format", fmt, "--no-progress"]  # fmt: skip

    for workers in (1, 2):
        seconds, rss = run_measured(ingest_cmd(workers), env)
        rows.append((f"pagefit ingest --workers {workers}", seconds, rss))
    seconds, rss = run_measured(ingest_cmd(1), env)  # same sources, same corpus: everything is unchanged
    rows.append(("pagefit ingest, second run (all unchanged)", seconds, rss))
    seconds, rss = run_measured(ingest_cmd(1, "tiff"), env)
    rows.append(("pagefit ingest --image-format tiff", seconds, rss))
    # peak RSS as the corpus grows: twice the documents, one worker
    more = work / "more"  # the same documents twice, under two folders: twice the pages
    for copy in ("a", "b"):
        shutil.copytree(docs, more / copy)
    seconds, rss_big = run_measured([pagefit, "ingest", str(more), "--out", str(work / "corpus-big"), "--ocr",
                                     "never", "--dpi", str(args.dpi), "--no-progress"], env)  # fmt: skip

    base = rows[0][1]
    print(
        f"{n_pages} pages ({args.copies} x {args.docs} PDFs x {args.pages}) at {args.dpi} dpi, {os.cpu_count()} CPUs"
    )
    print(f"{'run':45s} {'seconds':>8s} {'pages/s':>8s} {'vs bare':>8s} {'peak RSS':>10s}")
    for name, seconds, rss in rows:
        print(f"{name:45s} {seconds:8.2f} {n_pages / seconds:8.1f} {base / seconds:7.2f}x {rss:8.0f} MiB")
    print("(process start-up included in every row; 'vs bare' = bare seconds / run seconds)")
    from _common import Goal, report

    one, two = rows[1][1], rows[2][1]
    report(
        "ingest",
        [
            Goal("pagefit ingest (1 worker, png) vs bare pypdfium2 render loop, per core", base / one, 0.9,
                 detail=f"{n_pages / one:.1f} vs {n_pages / base:.1f} pages/s"),
            Goal("pagefit ingest (1 worker, --image-format tiff) vs bare loop, per core", base / rows[4][1], 0.9,
                 detail=f"{n_pages / rows[4][1]:.1f} vs {n_pages / base:.1f} pages/s"),
            Goal("peak RSS, twice the documents vs once", rss_big / rows[1][2], 1.2, higher_is_better=False,
                 detail=f"{rss_big:.0f} vs {rows[1][2]:.0f} MiB"),
            Goal("2 workers vs 1 worker", one / two, 1.5, detail=f"{one:.1f} s vs {two:.1f} s"),
            Goal("peak RSS, 1 worker, vs the bare loop", rows[1][2] / rows[0][2], 3.0, higher_is_better=False,
                 detail=f"{rows[1][2]:.0f} vs {rows[0][2]:.0f} MiB"),
        ],
        notes=[f"{n_pages} pages ({args.copies} x {args.docs} PDFs x {args.pages}) at {args.dpi} dpi, --ocr never; a second run "
               f"with every document unchanged took {rows[3][1]:.1f} s"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
