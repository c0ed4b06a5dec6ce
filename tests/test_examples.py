"""`examples/`: every script compiles, documents itself and imports nothing heavy; 01, 04 and 06 run end to end."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("[0-9][0-9]_*.py"))
RANKED_LINE = re.compile(r"^\s*(\d+)\s+(-?\d+\.\d+)\s+(\S+)")


def run_example(
    name: str, *args: str | os.PathLike[str], env: dict[str, str] | None = None, timeout: int = 600
):
    return subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_every_journey_has_an_example_listed_in_the_readme() -> None:
    assert [p.name[:2] for p in EXAMPLES] == ["01", "02", "03", "04", "05", "06"]
    readme = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    for path in EXAMPLES:
        assert f"({path.name})" in readme, path.name


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_compiles_and_documents_itself(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    compile(source, str(path), "exec")
    assert "# 1. " in source and "# 2. " in source, "steps are marked # 1. ..., # 2. ..."
    assert len(source.splitlines()) <= 90
    proc = run_example(path.name, "--help", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    journey = source.split('"""')[1].splitlines()[0]
    assert journey.split(":")[0] in proc.stdout  # the module docstring is the --help description
    assert "usage:" in proc.stdout


def test_importing_the_examples_runs_nothing_heavy() -> None:
    """Loading every script as a module (not as __main__) neither runs its journey nor imports torch."""
    code = (
        "import importlib.util, sys\n"
        f"for p in {[str(p) for p in EXAMPLES]!r}:\n"
        "    spec = importlib.util.spec_from_file_location('example', p)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------- 06: search


def _ranked(stdout: str) -> list[tuple[int, float, str]]:
    return [(int(m[1]), float(m[2]), m[3]) for line in stdout.splitlines() if (m := RANKED_LINE.match(line))]


@pytest.mark.slow
def test_search_example_prints_real_pages_and_encodes_them_once(
    sample_corpus: Path, sample_queries: Path, tmp_path: Path
) -> None:
    from pagefit.corpus import load_corpus
    from pagefit.ocr import PageTextCache

    # A fresh embeddings cache, with the page text ingest already read (no OCR again).
    cache = tmp_path / "cache"
    shutil.copytree(PageTextCache().root, cache / "text")
    env = {"PAGEFIT_CACHE_DIR": str(cache)}
    queries = [json.loads(line)["query"] for line in sample_queries.read_text().splitlines()[:2]]
    page_ids = set(load_corpus(sample_corpus)["page_id"])

    first = run_example("06_search_with_your_model.py", sample_corpus, "ocr-minilm", queries[0], env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    ranked = _ranked(first.stdout)
    assert [r[0] for r in ranked] == [1, 2, 3, 4, 5]
    assert ranked[0][2] in page_ids, first.stdout
    assert all(r[2] in page_ids for r in ranked)
    assert [r[1] for r in ranked] == sorted((r[1] for r in ranked), reverse=True)
    assert "Encoding pages" in first.stderr

    second = run_example("06_search_with_your_model.py", sample_corpus, "ocr-minilm", queries[1],
                         "--top-k", "3", "--dim", "128", env=env)  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Encoding pages" not in second.stderr  # every page came from the cache
    assert len(_ranked(second.stdout)) == 3 and all(r[2] in page_ids for r in _ranked(second.stdout))


# ----------------------------------------------------------------------------------- 01: the CPU road


@pytest.mark.slow
def test_cpu_finetune_example_runs_the_road(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from pagefit.demo.documents import write_sample_documents
    from pagefit.models.ocr_minilm import minilm_path

    docs = write_sample_documents(tmp_path / "sample", n_docs=3, pages_per_doc=2, with_images=False)
    out = tmp_path / "out"
    # Two steps: with the preset's warmup the first step runs at learning rate 0.
    proc = run_example(
        "01_cpu_finetune_your_pdfs.py", docs.docs_dir, out, "--max-steps", "2", "--batch-size", "8"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    report = json.loads((out / "report" / "report.json").read_text())
    assert [m["name"] for m in report["models"]] == ["base", "finetuned", "bm25"]
    for m in report["models"]:  # the printed numbers are the report's
        assert re.search(rf"{m['name']}\s+{m['metrics']['ndcg@10']:.3f}\s+95% CI", proc.stdout), proc.stdout
    assert "vs base" in proc.stdout and "report.html" in proc.stdout
    assert (out / "report" / "report.html").is_file()
    assert set(json.loads((out / "pairs" / "pagefit_pairs.json").read_text())["eval_docs"]).isdisjoint(
        json.loads((out / "pairs" / "pagefit_pairs.json").read_text())["train_docs"]
    )
    base = load_file(str(Path(minilm_path()) / "model.safetensors"))
    tuned = load_file(str(out / "model" / "text_0_Transformer" / "model.safetensors"))
    selection = json.loads((out / "model" / "train_summary.json").read_text())["selection"]

    def checkpoint(step: int) -> dict:
        return load_file(str(out / "model" / "checkpoints" / f"checkpoint-{step}" / "text_0_Transformer" /
                             "model.safetensors"))  # fmt: skip

    last = checkpoint(selection["last_step"])
    shared = sorted(set(base) & set(last))
    assert shared and any(not (base[k] == last[k]).all() for k in shared), "training did not move the weights"
    # The saved model is the checkpoint the held-out selection kept (the base's weights when none beat it).
    kept = checkpoint(selection["selected_step"]) if selection["selected_step"] else base
    assert all((tuned[k] == kept[k]).all() for k in shared)


# --------------------------------------------------------------------------- 04: queries from a VLM


class _FakeVLM:
    """An OpenAI-compatible /chat/completions endpoint on loopback that answers with a page's sample questions."""

    def __init__(self, questions_by_image: dict[str, list[str]]) -> None:
        self.models: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                url = next(
                    c["image_url"]["url"] for c in body["messages"][0]["content"] if c["type"] == "image_url"
                )
                fake.models.add(body["model"])
                questions = questions_by_image[url.split(",", 1)[1]]
                answer = json.dumps({"specific": questions, "general": []})
                payload = json.dumps({"model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer}}]}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @contextlib.contextmanager
    def running(self) -> Iterator[_FakeVLM]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


@pytest.mark.slow
def test_vlm_queries_example_pairs_and_mines(
    sample_corpus: Path, sample_queries: Path, tmp_path: Path
) -> None:
    from pagefit.corpus import corpus_image_paths, load_corpus

    pages = load_corpus(sample_corpus)
    questions: dict[str, list[str]] = {pid: [] for pid in pages["page_id"]}
    for line in sample_queries.read_text().splitlines():
        record = json.loads(line)
        questions[record["page_id"]].append(record["query"])
    by_image = {
        base64.b64encode(Path(path).read_bytes()).decode(): questions[pid]
        for pid, path in zip(pages["page_id"], corpus_image_paths(sample_corpus, pages), strict=True)
    }
    out = tmp_path / "out"
    with _FakeVLM(by_image).running() as fake:
        proc = run_example("04_synthetic_queries_from_a_vlm.py", sample_corpus, out, "--base-url", fake.base_url,
                           "--model", "fake-vlm", "--api-key-env", "PAGEFIT_TEST_NO_SUCH_KEY",
                           "--filter-top-k", "5", "--negatives", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fake.models == {"fake-vlm"}

    written = [json.loads(line) for line in (out / "pairs" / "queries.jsonl").read_text().splitlines()]
    served = {q for qs in questions.values() for q in qs}
    assert written and all(q["query"] in served for q in written)
    meta = json.loads((out / "pairs" / "pagefit_pairs.json").read_text())
    assert meta["config"]["filter_model"] == "ocr-minilm" and meta["config"]["filter_top_k"] == 5
    assert "roundtrip" in meta["filtered"]
    mined = json.loads((out / "mined" / "pagefit_pairs.json").read_text())
    assert mined["mine"]["config"]["num_negatives"] == 2
    assert f"{meta['train_queries']} train / {meta['eval_queries']} eval queries" in proc.stdout
