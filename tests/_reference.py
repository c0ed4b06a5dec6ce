"""Reference statistics computed independently of pagefit (scipy, exact enumeration), for oracle tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy import stats


def bootstrap_ci_reference(values: Sequence[float], n_resamples: int = 20_000) -> tuple[float, float]:
    """scipy's 95 % percentile bootstrap interval of the mean."""
    result = stats.bootstrap(
        (np.asarray(values, dtype=np.float64),),
        np.mean,
        method="percentile",
        n_resamples=n_resamples,
        rng=np.random.default_rng(12345),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def sign_flip_p_value(diffs: Sequence[float]) -> float:
    """Two-sided paired randomization p-value: exact over all 2^n sign flips for n <= 16, else scipy."""
    d = np.asarray(diffs, dtype=np.float64)
    observed = abs(d.mean())
    if len(d) <= 16:
        signs = np.array(list(itertools.product([-1.0, 1.0], repeat=len(d))))
        return float(np.mean(np.abs((signs * d).mean(axis=1)) >= observed - 1e-12))
    result = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=20_000, rng=np.random.default_rng(54321)
    )
    return float(result.pvalue)
