"""Paired significance tests on per-query scores, checked against scipy's implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from _reference import bootstrap_ci_reference, sign_flip_p_value  # tests/ is on sys.path (conftest)
from pagefit.evaluation.significance import bootstrap_ci, compare_paired


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


def test_p_value_equals_the_exact_sign_flip_enumeration():
    """10 queries: all 1024 sign assignments enumerated give the exact p-value to compare with."""
    diffs = np.array([0.30, 0.10, -0.05, 0.20, 0.00, 0.15, -0.10, 0.25, 0.05, 0.12])
    a = np.full(len(diffs), 0.5)
    exact = sign_flip_p_value(diffs)
    assert 0.01 < exact < 0.2  # neither trivially significant nor trivially not
    ours = compare_paired(a, a + diffs, n_resamples=50_000, seed=0)
    assert ours.p_value == pytest.approx(exact, abs=0.006)


def test_bootstrap_ci_of_a_mean_equals_scipy():
    values = np.random.default_rng(7).uniform(0, 1, 50) ** 2
    reference = bootstrap_ci_reference(values)
    ours = bootstrap_ci(values, n_resamples=20_000, seed=0)
    assert ours == pytest.approx(reference, abs=0.01)
    assert ours[1] - ours[0] == pytest.approx(reference[1] - reference[0], rel=0.1)


def test_rejects_unpaired_input():
    with pytest.raises(ValueError):
        compare_paired([], [])
