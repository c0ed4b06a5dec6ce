"""Is model B better than model A on these queries? Paired tests on per-query scores.

The confidence interval comes from a paired bootstrap (resample queries with replacement, keep each
query's pair of scores together); the p-value from a paired randomization test (flip the sign of
each query's difference at random), which tests "no difference" without assuming normality. Both
are seeded, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PairedComparison", "bootstrap_ci", "compare_paired"]

_CHUNK = 1000


@dataclass(frozen=True)
class PairedComparison:
    """Mean of (b - a) over queries, its 95 % bootstrap CI, and the two-sided p-value."""

    diff: float
    ci95: tuple[float, float]
    p_value: float


def compare_paired(
    a: Sequence[float], b: Sequence[float], *, n_resamples: int = 10_000, seed: int = 0
) -> PairedComparison:
    """Compare per-query scores `b` against `a` (same queries, same order).

    Args:
        a: baseline per-query scores.
        b: per-query scores of the model compared with the baseline.
        n_resamples: bootstrap resamples and random sign flips.
        seed: seed of both random generators.
    """
    import numpy as np

    diffs = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    if diffs.ndim != 1 or len(diffs) == 0:
        raise ValueError("compare_paired needs two equally long, non-empty lists of per-query scores")
    observed = float(diffs.mean())
    if not np.any(diffs):
        return PairedComparison(diff=0.0, ci95=(0.0, 0.0), p_value=1.0)
    rng = np.random.default_rng(seed)
    boot = np.concatenate(
        [diffs[rng.integers(0, len(diffs), size=(n, len(diffs)))].mean(axis=1) for n in _chunks(n_resamples)]
    )
    lo, hi = np.quantile(boot, [0.025, 0.975])
    flipped = np.concatenate(
        [(diffs * rng.choice([-1.0, 1.0], size=(n, len(diffs)))).mean(axis=1) for n in _chunks(n_resamples)]
    )
    # Add-one: the observed assignment is one of the possible ones, so p is never exactly 0.
    extreme = int(np.count_nonzero(np.abs(flipped) >= abs(observed) - 1e-12))
    p_value = (extreme + 1) / (n_resamples + 1)
    return PairedComparison(diff=observed, ci95=(float(lo), float(hi)), p_value=float(p_value))


def bootstrap_ci(values: Sequence[float], *, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean of per-query scores."""
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or len(data) == 0:
        raise ValueError("bootstrap_ci needs a non-empty list of per-query scores")
    rng = np.random.default_rng(seed)
    means = np.concatenate(
        [data[rng.integers(0, len(data), size=(n, len(data)))].mean(axis=1) for n in _chunks(n_resamples)]
    )
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)


def _chunks(total: int) -> list[int]:
    return [min(_CHUNK, total - start) for start in range(0, total, _CHUNK)]
