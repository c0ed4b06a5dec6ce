"""`pagefit train` as a process: killed and resumed, under torchrun, and really learning on CPU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pagefit.cli import app
from test_train import DIMS, write_pairs

PAGEFIT = str(Path(sys.executable).parent / "pagefit")
TORCHRUN = str(Path(sys.executable).parent / "torchrun")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))


def run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def checkpoints(out: Path) -> list[Path]:
    """Complete checkpoints (the trainer writes trainer_state.json last)."""
    return sorted((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))


@pytest.mark.slow
def test_resume_after_the_process_is_killed(tmp_path, tiny_qwen3vl_path):
    """SIGKILL mid-run with evaluation on (a validation split selects the step), then `--resume`: the saved
    model is the uninterrupted run's, weights and selected step, with every evaluation from before the kill."""
    mined = write_pairs(tmp_path / "data", validation=True)
    common = [str(mined), "--preset", "qwen3-vl-2b-vdr", "--model", str(tiny_qwen3vl_path), *DIMS, "--max-steps", "8",
              "--batch-size", "4", "--set", "save_every=2", "--eval-every", "2"]  # fmt: skip
    whole, out = tmp_path / "whole", tmp_path / "model"
    uninterrupted = CliRunner().invoke(app, ["train", *common, "--out", str(whole), "--no-progress"])
    assert uninterrupted.exit_code == 0, uninterrupted.output
    proc = subprocess.Popen([PAGEFIT, "train", *common, "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while not checkpoints(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no chance to clean up, as when a machine goes away
    stderr = proc.communicate()[1]
    assert checkpoints(out), f"no checkpoint before the kill: {stderr[-2000:]}"
    assert not (out / "train_summary.json").exists()
    last = checkpoints(out)[-1].parent.name
    assert int(last.split("-")[1]) < 8  # killed mid-run

    # the reruns need no process of their own (only the killed run does)
    again = CliRunner().invoke(app, ["train", str(mined), "--out", str(out)])
    assert again.exit_code == 1 and "--resume" in str(again.exception)  # refuses to start over silently
    # the recorded config, from the checkpoint
    resumed = CliRunner().invoke(app, ["train", "--out", str(out), "--resume", "--no-progress"])
    assert resumed.exit_code == 0, resumed.output[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from"] == last and summary["steps"] == 8
    # the base model's metrics of the first run, read back (not measured again) after the resume
    assert (
        summary["base_metrics"] == json.loads((out / "checkpoints" / "base_metrics.json").read_text())["eval"]
    )
    state = json.loads(checkpoints(out)[-1].read_text())
    assert state["global_step"] == 8 and any(
        log["step"] <= int(last.split("-")[1]) for log in state["log_history"]
    )
    # the same selection as the uninterrupted run: evaluations from before the kill are still candidates
    reference = json.loads((whole / "train_summary.json").read_text())
    assert summary["selection"]["history"] == reference["selection"]["history"]
    assert [h["step"] for h in reference["selection"]["history"]] == [0, 2, 4, 6, 8]
    assert summary["selection"]["selected_step"] == reference["selection"]["selected_step"]
    assert reference["selection"]["selected_step"] <= int(last.split("-")[1])  # chosen from before the kill
    # the best weights kept on disk are only those a remaining checkpoint (or the run) still names
    best = {p.name for p in (out / "checkpoints" / "best").iterdir()}
    assert best == {f"step-{reference['selection']['selected_step']}.safetensors"}
    ours, theirs = tensors_of(out), tensors_of(whole)
    assert ours.keys() == theirs.keys()
    assert all(np.array_equal(ours[k], theirs[k]) for k in ours)
    assert summary["final_metrics"] == reference["final_metrics"]


def tensors_of(model_dir: Path) -> dict:
    """The saved model's weights (its checkpoints left out)."""
    from safetensors.numpy import load_file

    return {f"{f.name}:{k}": v for f in sorted(model_dir.rglob("*.safetensors")) if "checkpoints" not in f.parts
            for k, v in load_file(str(f)).items()}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_under_torchrun(tmp_path, tiny_qwen3vl_path):
    """The same command under `torchrun --nproc-per-node 2` (CPU, gloo): one model, one summary."""
    mined, out = write_pairs(tmp_path / "data"), tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [TORCHRUN, "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
            PAGEFIT, "train", str(mined), "--preset", "qwen3-vl-2b-vdr", "--model", str(tiny_qwen3vl_path), *DIMS,
            "--max-steps", "2", "--batch-size", "2", "--eval-every", "2", "--out", str(out)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 2
    assert "ndcg@10" in summary["final_metrics"]
    from pagefit.models import load_model

    assert load_model(out, device="cpu").encode_query(["revenue"]).shape == (1, 32)


@pytest.mark.slow
def test_finetuned_ocr_minilm_beats_the_untrained_one(tmp_path):
    """Generated reports -> ingest -> pairs (split by document) -> mine -> train: held-out NDCG@10 goes up."""
    from pagefit.demo.documents import write_sample_documents
    from pagefit.ingest import ingest
    from pagefit.mine import mine
    from pagefit.pairs import pairs
    from pagefit.train import train

    docs = write_sample_documents(tmp_path / "docs", n_docs=5, pages_per_doc=4, seed=1, with_images=False)
    ingest([docs.docs_dir], tmp_path / "corpus", show_progress=False)
    pairs(tmp_path / "corpus", tmp_path / "pairs", generate="text", per_page=3, eval_fraction=0.4, seed=1,
          show_progress=False)  # fmt: skip
    mine(tmp_path / "pairs", None, "ocr-minilm", tmp_path / "mined", num_negatives=1, show_progress=False)
    # the ocr-minilm preset as shipped (lr, one negative, Matryoshka), in a few steps; evaluated before and after
    result = train(data=str(tmp_path / "mined"), output=str(tmp_path / "model"), batch_size=16, eval_every=100,
                   save_every=100, seed=0)  # fmt: skip
    base, final = result.base_metrics["ndcg@10"], result.final_metrics["ndcg@10"]
    data = result.summary["data"]
    print(f"held-out NDCG@10 {base:.4f} -> {final:.4f}: {data['train_rows']} training pairs, {data['eval_queries']} "
          f"eval queries over {data['eval_corpus']} pages, {result.summary['steps']} steps, "
          f"{result.summary['samples_per_second']:.2f} samples/s")  # fmt: skip
    assert data["eval_queries"] >= 12
    assert final > base + 0.01
