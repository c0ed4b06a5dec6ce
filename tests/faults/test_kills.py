"""`kill -9` at random points (one seed per point) during ingest, pairs (openai backend against a
local fake server), mine, train, train-reranker and index: the same command run again completes, and its result equals a
run that was never interrupted.

Kill points are picked by polling the stage's own progress files (ingest parts, cached VLM answers,
embedding shards, checkpoints), then waiting a seeded random extra delay. `PAGEFIT_KILL_SEEDS=N`
tries N seeds per stage (default: 2 for the cheap stages, 1 for mine, train and train-reranker).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import datasets
import pytest
from _helpers import PAGEFIT, kill_when, run_in_process

import pagefit
from test_ingest import make_pdf

EXTRA = int(os.environ.get("PAGEFIT_KILL_SEEDS", "0"))
CHEAP_SEEDS = list(range(max(2, EXTRA)))
COSTLY_SEEDS = list(range(max(1, EXTRA)))


def _rows(folder: Path) -> dict[str, list[dict]]:
    dsd = datasets.load_from_disk(str(folder))
    return {split: dsd[split].to_list() for split in dsd}


def _count(folder: Path, pattern: str) -> int:
    return len(list(folder.rglob(pattern))) if folder.exists() else 0


# ------------------------------------------------------------------------------------------------- ingest


@pytest.mark.parametrize("seed", CHEAP_SEEDS)
def test_ingest_killed_anywhere_resumes_to_the_same_corpus(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    docs = tmp_path / "docs"
    for i in range(10):
        make_pdf(docs / f"d{i}.pdf", [[f"Document {i} page {p}", f"value {i * 10 + p}"] for p in range(3)])
    out = tmp_path / "corpus"
    cmd = [PAGEFIT, "ingest", str(docs), "--out", str(out), "--ocr", "never", "--no-progress"]
    target = rng.randint(1, 8)
    killed = kill_when(
        cmd, lambda: _count(out / ".pagefit" / "parts", "*.json") >= target, delay=rng.random() * 0.3
    )
    run_in_process(cmd)
    pagefit.ingest.ingest([docs], tmp_path / "clean", ocr="never", show_progress=False)
    assert pagefit.load_corpus(out).to_list() == pagefit.load_corpus(tmp_path / "clean").to_list()
    assert killed or target >= 8  # (a very late kill point may land after the run ended)


# ------------------------------------------------------------------------------- pairs --generate openai


class _DeterministicVLM:
    """An OpenAI-compatible endpoint: the answer depends only on the image, after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                url = next(
                    c["image_url"]["url"] for c in body["messages"][0]["content"] if c["type"] == "image_url"
                )
                page = hashlib.sha1(url.encode()).hexdigest()[:6]
                with fake.lock:
                    fake.calls[page] += 1
                time.sleep(delay)
                answer = {"specific": [f"what total does report {page} give for freight"],
                          "general": [f"overview of the {page} harbour budget"]}  # fmt: skip
                message = f"```json\n{json.dumps(answer)}\n```"
                payload = json.dumps({"model": body["model"], "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": message}}]}).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"


@pytest.fixture
def fake_vlm():
    fake = _DeterministicVLM(delay=0.15)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.mark.parametrize("seed", CHEAP_SEEDS)
def test_pairs_with_a_vlm_killed_anywhere_resumes_from_cached_answers(sample_corpus: Path, tmp_path: Path,
                                                                     fake_vlm, seed: int) -> None:  # fmt: skip

    rng = random.Random(100 + seed)
    n_pages = len(pagefit.load_corpus(sample_corpus))
    cache = tmp_path / "cache"
    env = {"PAGEFIT_CACHE_DIR": str(cache)}
    out = tmp_path / "pairs"
    cmd = [PAGEFIT, "pairs", str(sample_corpus), "--out", str(out), "--generate", "openai", "--model", "tiny-vlm",
           "--base-url", fake_vlm.base_url, "--concurrency", "1", "--per-page", "2", "--no-progress"]  # fmt: skip
    target = rng.randint(1, n_pages - 2)
    answers = cache / "querygen"
    assert kill_when(cmd, lambda: _count(answers, "*.json") >= target, delay=rng.random() * 0.1, env=env)
    cached = _count(answers, "*.json")
    assert not out.exists()  # nothing published by the killed run
    time.sleep(0.5)  # the killed run's last request may still be counted by a slow server thread
    asked_before = sum(fake_vlm.calls.values())
    run_in_process(cmd, env)
    asked_again = sum(fake_vlm.calls.values()) - asked_before
    assert asked_again == n_pages - cached  # exactly the pages not answered before the kill
    run_in_process([str(tmp_path / "clean") if c == str(out) else c for c in cmd],
                   {"PAGEFIT_CACHE_DIR": str(tmp_path / "clean-cache")})  # fmt: skip
    assert _rows(out) == _rows(tmp_path / "clean")
    assert (out / "queries.jsonl").read_text() == (tmp_path / "clean" / "queries.jsonl").read_text()


# --------------------------------------------------------------------------------------------------- mine


def _cache_with_text(source: Path, dest: Path) -> Path:
    """A fresh cache holding only the session's page text (so no OCR runs), no embeddings."""
    if (source / "text").is_dir():
        shutil.copytree(source / "text", dest / "text")
    return dest


@pytest.mark.parametrize("seed", COSTLY_SEEDS)
def test_mine_killed_anywhere_resumes_to_the_same_negatives(road, tmp_path: Path, seed: int) -> None:

    rng = random.Random(200 + seed)
    _, pairs = road
    session_cache = Path(os.environ["PAGEFIT_CACHE_DIR"])
    env = {"PAGEFIT_CACHE_DIR": str(_cache_with_text(session_cache, tmp_path / "cache"))}
    out = tmp_path / "mined"
    cmd = [PAGEFIT, "mine", str(pairs), "--model", "ocr-minilm", "--out", str(out), "--num-negatives", "2",
           "--batch-size", "2", "--no-progress"]  # fmt: skip
    shards = tmp_path / "cache" / "embeddings"
    target = rng.randint(1, 5)
    killed = kill_when(cmd, lambda: _count(shards, "*.npy") >= target, delay=rng.random() * 0.5, env=env)
    run_in_process(cmd, env)
    clean_env = {"PAGEFIT_CACHE_DIR": str(_cache_with_text(session_cache, tmp_path / "clean-cache"))}
    run_in_process([str(tmp_path / "clean") if c == str(out) else c for c in cmd], clean_env)
    assert killed
    assert _rows(out) == _rows(tmp_path / "clean")


def _killed_training_resumes_to_the_same_model(verb: str, data: Path, tmp_path: Path, args: list[str], steps: int,
                                               rng: random.Random, env: dict[str, str]) -> None:  # fmt: skip
    """`pagefit VERB` killed once a checkpoint at a seeded step exists, then `--resume`d, ends with the
    step count and weights of a run never interrupted."""

    import numpy as np
    from safetensors.numpy import load_file

    out, clean = tmp_path / "run", tmp_path / "clean"
    target = rng.randint(1, steps - 2)

    def ready() -> bool:  # a complete checkpoint at or past the target (older ones are rotated away)
        done = [
            int(p.parent.name.split("-")[1])
            for p in (out / "checkpoints").glob("checkpoint-*/trainer_state.json")
        ]
        return max(done, default=0) >= target

    assert kill_when([PAGEFIT, verb, str(data), "--out", str(out), *args], ready,
                     delay=rng.random() * 0.3, env=env)  # fmt: skip
    assert not (out / "train_summary.json").exists()
    run_in_process([PAGEFIT, verb, "--out", str(out), "--resume", "--no-progress"], env)
    run_in_process([PAGEFIT, verb, str(data), "--out", str(clean), *args], env)
    resumed, straight = (json.loads((d / "train_summary.json").read_text()) for d in (out, clean))
    assert resumed["steps"] == straight["steps"] == steps
    assert int(resumed["resumed_from"].rsplit("-", 1)[1]) >= target and straight["resumed_from"] is None
    a, b = (load_file(next(d.rglob("model.safetensors"))) for d in (out, clean))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-5, err_msg=name)


# -------------------------------------------------------------------------------------------------- train


@pytest.mark.parametrize("seed", COSTLY_SEEDS)
def test_train_killed_after_a_checkpoint_resumes_to_the_same_model(tmp_path: Path, tiny_qwen3vl_path: Path,
                                                                   seed: int) -> None:  # fmt: skip
    from test_train import write_pairs

    rng = random.Random(300 + seed)
    env = {"PAGEFIT_CACHE_DIR": str(tmp_path / "cache")}
    mined = write_pairs(tmp_path / "data")
    steps = 6
    args = ["--preset", "qwen3-vl-2b-vdr", "--model", str(tiny_qwen3vl_path), "--matryoshka-dims", "64,32",
            "--truncate-dim", "32", "--max-steps", str(steps), "--batch-size", "4", "--lr", "1e-3",
            "--set", "save_every=1", "--set", "eval_split=null", "--no-progress"]  # fmt: skip
    _killed_training_resumes_to_the_same_model("train", mined, tmp_path, args, steps, rng, env)


# ----------------------------------------------------------------------------------------- train-reranker


@pytest.mark.parametrize("seed", COSTLY_SEEDS)
def test_train_reranker_killed_after_a_checkpoint_resumes_to_the_same_model(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:

    from _tiny_models import _write_bert_checkpoint
    from test_train_reranker import write_mined

    rng = random.Random(400 + seed)
    env = {"PAGEFIT_CACHE_DIR": str(tmp_path / "cache")}
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", env["PAGEFIT_CACHE_DIR"])  # page text where the runs read it
    mined = write_mined(tmp_path / "data")
    bert = tmp_path / "bert"
    _write_bert_checkpoint(bert, seed=0)  # a tiny text encoder: the CPU preset's code path
    steps = 6
    args = ["--model", str(bert), "--max-steps", str(steps), "--batch-size", "4", "--set", "save_every=1",
            "--eval-every", str(steps), "--set", "max_length=64", "--no-progress"]  # fmt: skip
    _killed_training_resumes_to_the_same_model("train-reranker", mined, tmp_path, args, steps, rng, env)


# -------------------------------------------------------------------------------------------------- index


@pytest.mark.parametrize("seed", CHEAP_SEEDS)
def test_index_killed_anywhere_resumes_to_the_same_index(sample_corpus: Path, tiny_clip_path: Path,
                                                         tmp_path: Path, seed: int) -> None:  # fmt: skip

    import numpy as np

    from pagefit.index import open_index

    rng = random.Random(500 + seed)
    env = {"PAGEFIT_CACHE_DIR": str(tmp_path / "cache")}  # nothing embedded yet: the run has work to kill
    out = tmp_path / "index"
    cmd = [PAGEFIT, "index", str(sample_corpus), "--model", str(tiny_clip_path), "--out", str(out), "--hybrid",
           "--batch-size", "1", "--commit-every", "2", "--no-progress"]  # fmt: skip
    target = rng.randint(1, 4)  # commits to the page table (one data file each) before the kill
    killed = kill_when(cmd, lambda: _count(out, "*.lance") >= target, delay=rng.random() * 0.2, env=env)
    run_in_process(cmd, env)
    clean = tmp_path / "clean"
    run_in_process([clean.as_posix() if c == str(out) else c for c in cmd],
                   {"PAGEFIT_CACHE_DIR": str(tmp_path / "clean-cache")})  # fmt: skip
    assert killed
    a, b = open_index(out), open_index(clean)
    assert sorted(a.page_ids) == sorted(b.page_ids) and len(a.page_ids) == len(set(a.page_ids))
    order_a, order_b = np.argsort(a.page_ids), np.argsort(b.page_ids)
    np.testing.assert_allclose(a.searcher.vectors[order_a], b.searcher.vectors[order_b], atol=1e-6)
    top = [[r["page_id"] for r in i.search("annual revenue", k=5, hybrid="rrf")["results"]] for i in (a, b)]
    assert top[0] == top[1]
