"""The console a person reads: one training display, quiet libraries, `--version`, `pagefit doctor`."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from typer.testing import CliRunner

import pagefit
from pagefit import doctor
from pagefit._console import quiet_libraries
from pagefit.cli import app
from pagefit.train.progress import eval_metrics
from test_train import DIMS, write_pairs


def test_version_flag_prints_the_package_version():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"pagefit {pagefit.__version__}"


def test_eval_metrics_reads_the_evaluator_keys_first_score_function_first():
    metrics = {
        "eval_pagefit-eval_cosine_ndcg@10": 0.5,
        "eval_pagefit-eval_dot_ndcg@10": 0.9,
        "eval_pagefit-eval_cosine_mrr@10": 0.25,
        "eval_loss": 1.0,
        "epoch": 1.0,
    }
    assert eval_metrics(metrics) == {"ndcg@10": 0.5, "mrr@10": 0.25}


def test_quiet_libraries_silences_and_restores_transformers():
    from transformers.utils import logging as hf_logging

    before = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled())
    with quiet_libraries(verbose=False):
        assert hf_logging.get_verbosity() == hf_logging.ERROR
        assert not hf_logging.is_progress_bar_enabled()
        assert logging.getLogger("sentence_transformers").level == logging.ERROR
    assert (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()) == before
    with quiet_libraries(verbose=True):
        assert hf_logging.get_verbosity() == before[0]


def test_train_shows_one_display_and_an_evaluation_table(tmp_path, tiny_qwen3vl_path):
    """No printed log dicts, no third-party bars: a progress line and a table of held-out evaluations."""
    mined = write_pairs(
        tmp_path / "data", validation=True
    )  # evaluations during training read the validation split
    res = CliRunner().invoke(app, ["train", str(mined), "--preset", "qwen3-vl-2b-vdr", "--model", str(tiny_qwen3vl_path),
                                   *DIMS, "--max-steps", "2", "--batch-size", "4", "--eval-every", "1",
                                   "--out", str(tmp_path / "model")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "{'loss'" not in res.output and "'grad_norm'" not in res.output
    assert "Loading weights" not in res.output
    assert "held-out evaluation" in res.output
    table = res.output[res.output.index("held-out evaluation") :]
    assert "ndcg@10" in table and any(line.split()[:1] == ["1"] for line in table.splitlines())


def _by_name(checks):
    return {c.name: c for c in checks}


def test_doctor_reports_torch_cache_size_and_fixes(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    (cache / "text" / "ab").mkdir(parents=True)
    (cache / "text" / "ab" / "x.json").write_bytes(b"x" * 1000)
    (cache / "emb.npy").write_bytes(b"y" * 24)
    monkeypatch.setenv("PAGEFIT_CACHE_DIR", str(cache))
    assert doctor.folder_size(cache) == (1024, 2)
    res = CliRunner().invoke(app, ["doctor", "--json", "--no-ocr"])
    assert res.exit_code == 0, res.output
    checks = {c["name"]: c for c in json.loads(res.output)}
    assert torch.__version__ in checks["torch"]["detail"]
    assert str(cache) in checks["cache"]["detail"] and "1.0 KiB in 2 files" in checks["cache"]["detail"]


def test_doctor_gives_the_command_for_a_missing_extra_and_fails_on_a_missing_core(monkeypatch):
    real = doctor._installed
    monkeypatch.setattr(doctor, "_installed", lambda module: module != "peft" and real(module))
    peft = _by_name(doctor.diagnose(run_ocr=False))["peft"]
    assert peft.status == "info" and peft.fix == "pip install 'pagefit[lora]'"
    real_version = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda d: None if d == "datasets" else real_version(d))
    res = CliRunner().invoke(app, ["doctor", "--no-ocr"])
    assert res.exit_code == 1
    assert "datasets" in res.output and "missing" in res.output


@pytest.mark.slow
def test_doctor_runs_the_ocr_engine():
    ocr = _by_name(doctor.diagnose(run_ocr=True))["ocr (rapidocr)"]
    assert ocr.status == "ok" and "42" in ocr.detail
