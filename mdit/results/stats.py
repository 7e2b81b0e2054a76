"""The statistics of the results tables: each cell a mean with a bootstrap confidence interval, each row's paired
difference to a reference row with its interval and a permutation-test p-value, Holm-corrected across the rows.

Pure functions on 1-D arrays of per-sample (or per-seed) numbers; resampling is scipy's (`stats.bootstrap`,
`stats.permutation_test`) and the correction statsmodels', each with a fixed seed so a table is reproducible.
A NaN or infinite value (a metric that is n/a for a sample) is an error: the caller drops such samples itself,
from every row alike, so that paired rows stay paired and the reported n is the n used.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 9999  # bootstrap resamples, and the permutation test's when it is not exact
SEED = 0
BATCH_ELEMENTS = 2**22  # resampled values held at once (tens of MB); BCa's jackknife is n x (n - 1) otherwise
FEW_SEEDS = 3  # up to this many seeds, an interval over seeds is rough and `method` says so


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval; low = high = None where there is none (n = 1), `method` says how."""

    mean: float
    low: float | None
    high: float | None
    n: int
    method: str


@dataclass(frozen=True)
class Paired:
    """Mean of the per-sample differences row - reference, its interval, and the two-sided permutation p-value."""

    mean_difference: float
    low: float | None
    high: float | None
    p_value: float
    n: int
    method: str


def _as_values(values: Sequence[float] | np.ndarray, name: str = "values") -> np.ndarray:
    """`values` as a finite 1-D float array; an empty, multi-dimensional or non-finite input is an error."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name}: no values")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name}: {int(bad.sum())} of {array.size} values are NaN or infinite (first at index "
            f"{int(np.argmax(bad))}); drop those samples from every compared row before computing statistics"
        )
    return array


def _batch(n: int) -> int:
    """Resamples per batch so that about BATCH_ELEMENTS values are held at once."""
    return max(1, BATCH_ELEMENTS // n)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _bootstrap(array: np.ndarray, confidence: float, resamples: int, seed: int, method: str) -> tuple[float, float]:
    """scipy's bootstrap interval of the mean; NaN bounds where the method is degenerate for these data."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (array,),
            _mean,
            n_resamples=resamples,
            batch=_batch(array.size),
            vectorized=True,
            confidence_level=confidence,
            method=method,
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _interval(array: np.ndarray, confidence: float, resamples: int, seed: int) -> Interval:
    """The mean of a checked array and its bootstrap interval: BCa where valid, else percentile, else none."""
    n, mean = array.size, float(np.mean(array))
    if n == 1:
        return Interval(mean, None, None, 1, "n=1: no interval")
    if np.all(array == array[0]):
        return Interval(mean, mean, mean, n, "all values equal: zero-width interval")
    if n >= 3:
        low, high = _bootstrap(array, confidence, resamples, seed, "BCa")
        if np.isfinite(low) and np.isfinite(high):
            return Interval(mean, low, high, n, "BCa bootstrap")
    low, high = _bootstrap(array, confidence, resamples, seed, "percentile")
    reason = "n < 3" if n < 3 else "BCa degenerate"
    return Interval(mean, low, high, n, f"percentile bootstrap ({reason})")


def mean_interval(
    values: Sequence[float] | np.ndarray,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """Mean of per-sample values with its bootstrap CI (BCa; percentile when BCa is degenerate or n < 3)."""
    return _interval(_as_values(values), confidence, resamples, seed)


def over_seeds(
    per_seed_means: Sequence[float] | np.ndarray,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval:
    """Mean over a setting's seeds with the bootstrap CI of the seed means (seed-to-seed spread, not within-run)."""
    array = _as_values(per_seed_means, "per_seed_means")
    interval = _interval(array, confidence, resamples, seed)
    note = f"over {array.size} seed{'s' if array.size > 1 else ''}"
    if 1 < array.size <= FEW_SEEDS:
        note += " (few seeds: rough interval)"
    return Interval(interval.mean, interval.low, interval.high, interval.n, f"{note}: {interval.method}")


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired_difference(
    values: Sequence[float] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Paired:
    """values - reference on the same samples in the same order: bootstrap CI and paired permutation p-value."""
    x, y = _as_values(values), _as_values(reference, "reference")
    if x.size != y.size:
        raise ValueError(f"paired rows need the same samples: {x.size} values against {y.size} in the reference")
    interval = _interval(x - y, confidence, resamples, seed)
    if x.size == 1:  # the two sign flips of one difference are d and -d: the exact two-sided p is 1 (scipy needs 2)
        return Paired(interval.mean, None, None, 1.0, 1, f"{interval.method}; n=1: no test, p=1")
    # Swapping each pair (the sign of its difference) independently; scipy enumerates all 2**n swaps (an exact
    # test) when there are no more than `resamples` of them, and draws `resamples` random ones otherwise.
    test = stats.permutation_test(
        (x, y),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=resamples,
        batch=_batch(x.size),
        alternative="two-sided",
        rng=np.random.default_rng(seed),
    )
    exact = 2**x.size <= resamples
    test_name = "exact paired permutation test" if exact else f"paired permutation test, {resamples} resamples"
    return Paired(
        interval.mean, interval.low, interval.high, float(test.pvalue), x.size, f"{interval.method}; {test_name}"
    )


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values (family-wise error over the given rows); None entries stay None and are not counted."""
    present = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if not present:
        return adjusted
    raw = np.asarray([p_values[i] for i in present], dtype=float)
    if not np.all((raw >= 0) & (raw <= 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {raw.tolist()}")
    from statsmodels.stats.multitest import multipletests  # statsmodels loads pandas: only when a table asks

    corrected = multipletests(raw, method="holm")[1]
    for i, p in zip(present, corrected):
        adjusted[i] = float(p)
    return adjusted


def significant(p_adjusted: float | None, alpha: float = 0.05) -> bool:
    """Whether an (adjusted) p-value rejects at level alpha (p <= alpha, as statsmodels decides); None is not."""
    return p_adjusted is not None and p_adjusted <= alpha


def _fixed(x: float, digits: int, sign: bool = False) -> str:
    """x with `digits` decimals; never "-0.00" (a tiny negative rounded to zero prints as zero)."""
    text = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    if float(text) == 0:
        text = f"{0.0:+.{digits}f}" if sign else f"{0.0:.{digits}f}"
    return text


def format_p(p: float) -> str:
    """A p-value for a table cell: three decimals, "<0.001" below that."""
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def format_interval(interval: Interval, digits: int = 2) -> str:
    """ "mean [low, high]", e.g. "89.95 [88.10, 91.70]"; the mean alone where there is no interval (n = 1)."""
    mean = _fixed(interval.mean, digits)
    if interval.low is None or interval.high is None:
        return mean
    return f"{mean} [{_fixed(interval.low, digits)}, {_fixed(interval.high, digits)}]"


def format_paired(paired: Paired, p_adjusted: float | None, digits: int = 2, alpha: float = 0.05) -> str:
    """ "+1.23 [0.40, 2.10] p=0.012*": signed mean difference, its interval, the adjusted p, * where significant."""
    text = _fixed(paired.mean_difference, digits, sign=True)
    if paired.low is not None and paired.high is not None:
        text += f" [{_fixed(paired.low, digits)}, {_fixed(paired.high, digits)}]"
    if p_adjusted is not None:
        text += f" {format_p(p_adjusted)}{'*' if significant(p_adjusted, alpha) else ''}"
    return text
