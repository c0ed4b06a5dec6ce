"""Paired significance tests on per-query scores, checked against scipy's implementations."""

from __future__ import annotations

import numpy as np
import pytest

from pagefit.evaluation.significance import compare_paired


def _scores(n: int = 60, gain: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, n)
    b = np.clip(a + gain + rng.normal(0, 0.15, n), 0, 1)
    return a, b


def test_identical_models_have_no_difference():
    a, _ = _scores()
    result = compare_paired(a, a)
    assert (result.diff, result.ci95, result.p_value) == (0.0, (0.0, 0.0), 1.0)


def test_clear_gain_is_significant_and_seeded():
    a, b = _scores(gain=0.2)
    result = compare_paired(a, b, seed=3)
    assert result.diff == pytest.approx(float(np.mean(b - a)))
    assert 0 < result.ci95[0] < result.diff < result.ci95[1]
    assert result.p_value < 0.01
    assert compare_paired(a, b, seed=3) == result
    swapped = compare_paired(b, a, seed=3)
    assert swapped.diff == pytest.approx(-result.diff)


def test_agrees_with_scipy_bootstrap_and_permutation_test():
    stats = pytest.importorskip("scipy.stats")
    a, b = _scores(n=40, gain=0.03, seed=5)
    ours = compare_paired(a, b, n_resamples=20_000, seed=0)
    diffs = b - a
    boot = stats.bootstrap(
        (diffs,), np.mean, method="percentile", n_resamples=20_000, rng=np.random.default_rng(1)
    )
    assert ours.ci95[0] == pytest.approx(boot.confidence_interval.low, abs=0.01)
    assert ours.ci95[1] == pytest.approx(boot.confidence_interval.high, abs=0.01)
    perm = stats.permutation_test(
        (b, a),
        lambda x, y: np.mean(x - y),
        permutation_type="samples",
        n_resamples=20_000,
        rng=np.random.default_rng(2),
    )
    assert ours.p_value == pytest.approx(perm.pvalue, abs=0.02)
    assert 0.0 < ours.p_value <= 1.0


def test_rejects_unpaired_input():
    with pytest.raises(ValueError):
        compare_paired([], [])
