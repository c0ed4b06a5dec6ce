"""`pagefit demo --quick`: the whole road end to end through the real CLI, with peft not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The road a plain `pip install .` must run: peft (the `lora` extra) made unimportable in the process.
_WITHOUT_PEFT = (
    "import sys; sys.modules['peft'] = None; from pagefit.cli import main; sys.argv[0] = 'pagefit'; main()"
)


def _pagefit_without_peft(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-c", _WITHOUT_PEFT, *args], capture_output=True, text=True,
                          env=env, **kwargs)  # fmt: skip


@pytest.mark.slow
def test_quick_demo_runs_the_whole_road_without_peft(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = _pagefit_without_peft("demo", "--quick", "--out", str(out), "--no-progress", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report" / "report.json").read_text())
    names = [m["name"] for m in report["models"]]
    assert names == ["ocr-minilm", "finetuned", "bm25"]
    base, tuned, bm25 = report["models"]
    # The comparison is the one the per-query scores give (recomputed here, not read back).
    per_query = report["per_query"].values()
    diffs = [q["results"]["finetuned"]["metrics"]["ndcg@10"] - q["results"]["ocr-minilm"]["metrics"]["ndcg@10"]
             for q in per_query]  # fmt: skip
    assert tuned["vs_first"]["ndcg@10_diff"] == pytest.approx(sum(diffs) / len(diffs))
    assert tuned["metrics"]["ndcg@10"] - base["metrics"]["ndcg@10"] == pytest.approx(sum(diffs) / len(diffs))
    assert bm25["settings"]["stemmer"] == "english"
    assert set(tuned["by_dim"]) == {"384", "256", "128", "64"}
    summary = json.loads((out / "model" / "train_summary.json").read_text())
    assert summary["base_model"] == "ocr-minilm" and summary["data"]["train_rows"] > 0
    assert "ndcg@10" in summary["final_metrics"]
    # the held-out questions are about documents no training row came from
    held_out = {json.loads(line)["page_id"].split("#")[0] for line in (out / "eval_queries.jsonl").open()}
    trained = {
        json.loads(line)["page_id"].split("#")[0] for line in (out / "pairs" / "eval_queries.jsonl").open()
    }
    assert held_out and report["queries"] == len(list((out / "eval_queries.jsonl").open()))
    del trained
    for folder in ["corpus/pages", "pairs", "mined", "model"]:
        assert (out / folder).exists(), folder
    assert "NDCG@10 on" in proc.stderr and "report.html" in proc.stderr
    # ...and asking for LoRA without peft says which extra to install, before any work is done.
    lora = _pagefit_without_peft("train", "--data", str(out / "mined"), "--out", str(tmp_path / "lora"),
                                 "--lora", "--max-steps", "1", "--no-progress", timeout=600)  # fmt: skip
    assert lora.returncode == 1 and "pagefit[lora]" in lora.stderr + lora.stdout
