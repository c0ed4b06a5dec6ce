"""`pagefit demo --quick`: the whole road end to end through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PAGEFIT = str(Path(sys.executable).with_name("pagefit"))


@pytest.mark.slow
def test_quick_demo_runs_the_whole_road(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run([PAGEFIT, "demo", "--quick", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report" / "report.json").read_text())
    names = [m["name"] for m in report["models"]]
    assert names == ["ocr-minilm", "finetuned", "bm25"]
    tuned = report["models"][1]
    assert 0.0 <= tuned["metrics"]["ndcg@10"] <= 1.0
    low, high = tuned["vs_first"]["ci95"]
    assert low <= tuned["vs_first"]["ndcg@10_diff"] <= high
    assert set(tuned["by_dim"]) == {"384", "256", "128", "64"}
    assert report["queries"] >= 1
    for name in ["report.md", "report.html"]:
        assert (out / "report" / name).stat().st_size > 0
    summary = json.loads((out / "model" / "train_summary.json").read_text())
    assert summary["base_model"] == "ocr-minilm" and summary["data"]["train_rows"] > 0
    assert "ndcg@10" in summary["final_metrics"]
    # every stage wrote its artifact
    for folder in ["corpus/pages", "pairs", "mined", "model"]:
        assert (out / folder).exists(), folder
    assert "NDCG@10 on" in proc.stderr and "report.html" in proc.stderr
    for folder in ["index", "index-base"]:  # the demo ends with indexes to serve, base vs finetuned
        assert json.loads((out / folder / "manifest.json").read_text())["complete"], folder
    assert f"pagefit serve {out / 'index'} --compare {out / 'index-base'}" in proc.stderr
