"""`pagefit ingest --engine ray` (a local Ray, 2 CPUs) vs the default process pool, same PDFs, same run.

Run by hand or by `make bench` (never by the tests):

    .venv/bin/python benchmarks/ray_ingest.py [--docs 12 --pages 8 --copies 6 --dpi 120]

Three timed runs of the CLI on the same documents, each into a fresh corpus (text layer, no OCR):
`--workers 2` (the process pool), `--engine ray` starting its own local Ray (what a laptop user types),
and `--engine ray --ray-address` joining a Ray started beforehand (as `ray start --head` would on a
cluster; its start-up is not part of the job). The corpora are checked to be equal.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A Ray started before the job, as `ray start --head` on a cluster's head node would be.
HEAD = """
import sys, time, ray, ray.data
ray.init(num_cpus=int(sys.argv[1]), include_dashboard=False, log_to_driver=False)
ray.data.range(4).materialize()  # a cluster that has run a job: Ray Data's helper actors are up
print(ray.get_runtime_context().gcs_address, flush=True)
try:
    while True:
        time.sleep(1)
except KeyboardInterrupt:  # SIGINT: ray.shutdown() stops the cluster this process started
    ray.shutdown()
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr[-2000:]}")
    return time.perf_counter() - start


def rows(corpus: Path) -> list[dict]:
    import pagefit

    return pagefit.load_corpus(corpus).to_list()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=12)
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--copies", type=int, default=6, help="copies of the generated documents")
    parser.add_argument("--dpi", type=int, default=120)
    args = parser.parse_args()

    from pagefit.demo.documents import write_sample_documents

    work = Path(tempfile.mkdtemp(prefix="pagefit-bench-ray-"))
    sample = write_sample_documents(
        work / "sample", n_docs=args.docs, pages_per_doc=args.pages, seed=0, with_images=False
    ).docs_dir
    docs = work / "docs"
    for copy in range(args.copies):
        shutil.copytree(sample, docs / f"set{copy}")
    n_pages = args.docs * args.pages * args.copies
    cpus = len(os.sched_getaffinity(0))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PAGEFIT_CACHE_DIR": str(work / "cache")}
    env.pop("RAY_ADDRESS", None)
    bin_dir = Path(sys.executable).parent
    pagefit = str(bin_dir / "pagefit")

    def ingest_cmd(name: str, *extra: str) -> list[str]:
        return [pagefit, "ingest", str(docs), "--out", str(work / name), "--ocr", "never", "--dpi", str(args.dpi),
                "--no-progress", *extra]  # fmt: skip

    pool = timed(ingest_cmd("pool", "--workers", str(cpus)), env)
    local_ray = timed(ingest_cmd("ray-local", "--engine", "ray"), env)
    head = subprocess.Popen(
        [sys.executable, "-c", HEAD, str(cpus)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        address = head.stdout.readline().strip()  # the running cluster's address, once it is up
        # Ray's token authentication (on by default): a joining client says so, the token is ~/.ray/auth_token
        joined = timed(ingest_cmd("ray-joined", "--engine", "ray", "--ray-address", address),
                       {**env, "RAY_AUTH_MODE": "token"})  # fmt: skip
    finally:
        head.send_signal(signal.SIGINT)
        head.wait(timeout=120)
    same = rows(work / "pool") == rows(work / "ray-local") == rows(work / "ray-joined")

    print(f"{n_pages} pages ({args.copies} x {args.docs} PDFs x {args.pages}) at {args.dpi} dpi, {cpus} CPUs")
    for name, seconds in [("process pool", pool), ("ray, own local Ray", local_ray), ("ray, joined", joined)]:
        print(f"{name:25s} {seconds:8.2f} s {n_pages / seconds:8.1f} pages/s {pool / seconds:6.2f}x")
    from _common import Goal, report

    report(
        "ray_ingest",
        [
            Goal(f"`ingest --engine ray` joining a running local Ray vs the process pool ({cpus} workers)",
                 pool / joined, 0.9, detail=f"{n_pages / joined:.1f} vs {n_pages / pool:.1f} pages/s"),
            Goal("`ingest --engine ray` starting its own local Ray vs the process pool", pool / local_ray, 0.9,
                 detail=f"{n_pages / local_ray:.1f} vs {n_pages / pool:.1f} pages/s (Ray start-up included)"),
            Goal("corpora of the three runs equal (1 = yes)", float(same), 1.0, unit="",
                 detail=f"{n_pages} pages"),
        ],
        notes=[f"{n_pages} pages ({args.copies} x {args.docs} PDFs x {args.pages}) at {args.dpi} dpi, --ocr never, "
               f"{cpus} CPUs, each run a fresh corpus, CLI start-up included; the joined Ray had run one job "
               "before (its Ray Data helper actors up, as on a cluster in use)"],
    )  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
