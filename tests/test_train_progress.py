"""`pagefit.train.progress`: off a terminal (a log file, CI, `nohup`) `train` and `train-reranker` write
plain progress lines while they run, not only a summary at the end."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from pagefit.train.progress import TrainProgress
from test_train import write_pairs

PAGEFIT = str(Path(sys.executable).parent / "pagefit")
STEP_LINE = re.compile(
    r"^train step (\d+)/(\d+) \(\d+%\) \| loss \d+\.\d{4} \| lr \S+ \|( ndcg@10 \d\.\d{4} \|)? "
    r"elapsed \d+:\d\d:\d\d \| eta \d+:\d\d:\d\d$"
)
EVAL_LINE = re.compile(r"^eval step (\d+)/(\d+) \(\d+%\) \| ndcg@10 \d\.\d{4} .*\| eta \d+:\d\d:\d\d$")


@pytest.fixture
def mined(tmp_path, monkeypatch) -> Path:
    """test_train's tiny mined folder with a validation split (what train evaluates on while it runs)."""
    import datasets

    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))  # write_pairs puts the page text there
    source = write_pairs(tmp_path / "source")
    dsd = datasets.load_from_disk(str(source))
    out = tmp_path / "data" / "mined"
    datasets.DatasetDict({**dsd, "validation": dsd["eval"]}).save_to_disk(str(out))
    shutil.copy2(source / "pagefit_pairs.json", out / "pagefit_pairs.json")
    return out


def _run_to_file(args: list[str], log: Path) -> str:
    """Run `pagefit ARGS` with stdout and stderr redirected to `log` (no terminal), as a batch job does."""
    with open(log, "w") as f:
        proc = subprocess.run([PAGEFIT, *args], stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    return text


def _progress_lines(text: str, total: int) -> tuple[list[int], list[int]]:
    """Steps of the plain train lines and eval lines in a log (each line checked against its shape)."""
    steps = [
        int(m.group(1)) for m in map(STEP_LINE.match, text.splitlines()) if m and int(m.group(2)) == total
    ]
    evals = [
        int(m.group(1)) for m in map(EVAL_LINE.match, text.splitlines()) if m and int(m.group(2)) == total
    ]
    return steps, evals


def test_train_with_output_to_a_file_writes_progress_lines(mined, tmp_path):
    text = _run_to_file(["train", "--data", str(mined), "--out", str(tmp_path / "model"), "--max-steps", "2",
                         "--batch-size", "4", "--eval-every", "1", "--set", "logging_every=1"],
                        tmp_path / "train.log")  # fmt: skip
    steps, evals = _progress_lines(text, total=2)
    assert steps == [1, 2], text  # a line every 5% of 2 steps: every step, with its loss and ETA
    assert evals == [1, 2], text  # and one per held-out evaluation, with its metric
    assert "\x1b[" not in text  # plain text: no terminal control codes in a log file
    assert "train done: 2 steps" in text


def test_train_reranker_with_output_to_a_file_writes_progress_lines(tmp_path, monkeypatch):
    from test_train_reranker import _write_bert_checkpoint, write_mined

    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(tmp_path / "cache"))
    mined, bert = write_mined(tmp_path / "data"), tmp_path / "bert"
    _write_bert_checkpoint(bert, seed=0)  # a tiny text encoder: the CPU preset's code path, fast
    text = _run_to_file(["train-reranker", str(mined), "--out", str(tmp_path / "reranker"), "--model", str(bert),
                         "--max-steps", "2", "--batch-size", "4", "--eval-every", "2", "--set", "max_length=64",
                         "--set", "logging_every=1"], tmp_path / "reranker.log")  # fmt: skip
    steps, evals = _progress_lines(text, total=2)
    assert steps == [1, 2] and evals == [2], text
    assert "\x1b[" not in text


def test_off_a_terminal_a_long_run_writes_a_line_every_few_percent():
    """200 steps, evaluated every 50: a line every 10 steps (5%) and one per evaluation, nothing between."""
    out = io.StringIO()
    progress = TrainProgress(console=Console(file=out, force_terminal=False, width=60))
    args = control = None
    state = SimpleNamespace(is_world_process_zero=True, max_steps=200, global_step=0)
    progress.on_train_begin(args, state, control)
    for step in range(1, 201):
        state.global_step = step
        progress.on_step_end(args, state, control)
        progress.on_log(args, state, control, logs={"loss": 1.0 / step, "learning_rate": 1e-5})
        if step % 50 == 0:
            progress.on_evaluate(args, state, control, metrics={"eval_x_cosine_ndcg@10": step / 400})
    progress.on_train_end(args, state, control)
    text = out.getvalue()
    steps, evals = _progress_lines(text, total=200)
    assert steps == list(range(10, 201, 10)) and evals == [50, 100, 150, 200], text
    assert (
        "train step 60/200 (30%) | loss 0.0167 | lr 1.0e-05 | ndcg@10 0.1250 |" in text
    )  # the last eval's metric
    assert all(len(line) > 60 for line in text.splitlines() if line.startswith("train step"))  # never wrapped
