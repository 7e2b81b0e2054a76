"""The table statistics on constructed cases whose answers are known by hand or from the textbook formulas:
bootstrap intervals of a mean, paired differences with permutation p-values, Holm's correction, the cell text."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mdit.results.stats import (
    Interval,
    Paired,
    format_interval,
    format_paired,
    holm,
    mean_interval,
    over_seeds,
    paired_difference,
    significant,
)


def width(interval: Interval | Paired) -> float:
    assert interval.low is not None and interval.high is not None
    return interval.high - interval.low


# --- mean_interval -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data_seed", [1, 2, 3])
def test_bootstrap_interval_of_normal_data_is_the_textbook_interval(data_seed: int) -> None:
    """n = 400 normal values: the 95 % interval is mean +- 1.96 s / sqrt(n) up to 0.1 standard error per end.

    The tolerance: with 9,999 resamples a 2.5 % / 97.5 % bootstrap quantile has a Monte Carlo standard deviation
    of sqrt(0.025 * 0.975 / 9999) / phi(1.96) ~ 0.027 standard errors; the bootstrap's plug-in s (divisor n),
    t(399) against z and BCa's skewness correction for normal data move an end by under 0.01 standard errors.
    So 0.1 is about four Monte Carlo standard deviations, and a wrong interval (percentile of the wrong
    statistic, a missing or doubled 1/sqrt(n)) is off by far more.
    """
    x = np.random.default_rng(data_seed).normal(10.0, 2.0, size=400)
    mean, se = x.mean(), x.std(ddof=1) / math.sqrt(x.size)
    interval = mean_interval(x)
    assert interval.mean == pytest.approx(mean, abs=1e-12)
    assert interval.n == 400 and interval.method == "BCa bootstrap"
    assert interval.low == pytest.approx(mean - 1.96 * se, abs=0.1 * se)
    assert interval.high == pytest.approx(mean + 1.96 * se, abs=0.1 * se)


def test_the_interval_shrinks_with_more_samples() -> None:
    """Same distribution, n = 20 against n = 2,000: the width goes as 1 / sqrt(n), so about 10 times narrower."""
    rng = np.random.default_rng(7)
    small, large = mean_interval(rng.normal(0.0, 1.0, size=20)), mean_interval(rng.normal(0.0, 1.0, size=2000))
    assert width(large) < width(small) / 5
    assert 2 * 1.96 / math.sqrt(2000) == pytest.approx(width(large), rel=0.15)


def test_the_interval_is_reproducible_and_the_seed_is_what_varies_it() -> None:
    x = np.random.default_rng(3).exponential(size=60)
    assert mean_interval(x) == mean_interval(x) == mean_interval(x, seed=0)
    assert mean_interval(x, seed=1) != mean_interval(x, seed=0)


def test_one_value_has_no_interval() -> None:
    interval = mean_interval([3.5])
    assert (interval.mean, interval.low, interval.high, interval.n) == (3.5, None, None, 1)
    assert "n=1" in interval.method
    assert format_interval(interval) == "3.50"


def test_all_equal_values_have_a_zero_width_interval() -> None:
    interval = mean_interval([2.25] * 12)
    assert (interval.mean, interval.low, interval.high, interval.n) == (2.25, 2.25, 2.25, 12)
    assert "equal" in interval.method


def test_two_values_fall_back_to_the_percentile_interval() -> None:
    """n = 2: BCa's jackknife is degenerate; the percentile bootstrap of the mean of (a, b) runs from a to b."""
    interval = mean_interval([1.0, 2.0])
    assert (interval.mean, interval.low, interval.high) == (1.5, 1.0, 2.0)
    assert "percentile" in interval.method


@pytest.mark.parametrize("bad", [[1.0, float("nan"), 2.0], [1.0, float("inf")], [], [[1.0, 2.0], [3.0, 4.0]]])
def test_nan_empty_and_2d_values_are_errors(bad: list) -> None:
    with pytest.raises(ValueError):
        mean_interval(bad)


def test_over_seeds_says_how_many_seeds_and_when_they_are_few() -> None:
    few, many, one = over_seeds([80.0, 81.0, 82.0]), over_seeds(np.linspace(80, 82, 8)), over_seeds([80.0])
    assert few.mean == 81.0 and few.n == 3 and "3 seeds" in few.method and "few" in few.method
    assert few.low is not None and few.high is not None and 80.0 <= few.low < 81.0 < few.high <= 82.0
    assert many.n == 8 and "8 seeds" in many.method and "few" not in many.method
    assert one.low is None and "1 seed" in one.method


# --- paired_difference ---------------------------------------------------------------------------------------


def test_identical_rows_differ_by_nothing() -> None:
    x = np.random.default_rng(0).normal(90.0, 5.0, size=50)
    paired = paired_difference(x, x.copy())
    assert (paired.mean_difference, paired.low, paired.high, paired.n) == (0.0, 0.0, 0.0, 50)
    assert paired.p_value == pytest.approx(1.0)


def test_a_shifted_row_is_found_and_its_interval_holds_the_shift() -> None:
    """reference + 1 + centred noise (sd 0.1), n = 50: the mean difference is exactly 1 and far from 0."""
    rng = np.random.default_rng(1)
    reference = rng.normal(90.0, 5.0, size=50)
    noise = rng.normal(0.0, 0.1, size=50)
    paired = paired_difference(reference + 1.0 + (noise - noise.mean()), reference)
    assert paired.mean_difference == pytest.approx(1.0)
    assert paired.low is not None and paired.high is not None
    assert 0.0 < paired.low < 1.0 < paired.high
    assert paired.p_value < 0.01
    assert "9999 resamples" in paired.method  # 2**50 sign patterns: drawn, not enumerated


def test_small_n_is_an_exact_sign_flip_test() -> None:
    """Five positive differences: of the 2**5 sign patterns only all-plus reaches the observed mean and only
    all-minus its negative, so the exact two-sided p is 2 / 32."""
    paired = paired_difference([1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 0.0, 0.0, 0.0, 0.0])
    assert paired.mean_difference == 3.0
    assert paired.p_value == pytest.approx(2 / 32)
    assert "exact" in paired.method


def test_pairing_matters_when_samples_vary_more_than_their_differences() -> None:
    """Samples spread sd 10, per-sample differences 0.3 +- 0.05: the paired interval is about 200 times narrower
    than the difference of the two rows' own intervals, and only the paired one excludes 0."""
    rng = np.random.default_rng(2)
    reference = rng.normal(50.0, 10.0, size=200)
    values = reference + 0.3 + rng.normal(0.0, 0.05, size=200)
    paired = paired_difference(values, reference)
    a, b = mean_interval(values), mean_interval(reference)
    assert a.low is not None and a.high is not None and b.low is not None and b.high is not None
    unpaired_half = math.hypot(width(a) / 2, width(b) / 2)  # independent intervals combined
    assert width(paired) < 0.05 * 2 * unpaired_half
    assert abs(a.mean - b.mean) < unpaired_half  # unpaired: no difference to see
    assert paired.low is not None and paired.low > 0 and paired.p_value < 0.01


def test_paired_rows_must_have_the_same_samples() -> None:
    with pytest.raises(ValueError, match="same samples"):
        paired_difference([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        paired_difference([1.0, float("nan")], [1.0, 2.0])


def test_one_pair_has_no_interval_and_no_evidence() -> None:
    paired = paired_difference([2.0], [1.5])
    assert (paired.mean_difference, paired.low, paired.high, paired.p_value, paired.n) == (0.5, None, None, 1.0, 1)
    assert "n=1" in paired.method
    assert format_paired(paired, 1.0) == "+0.50 p=1.000"


def test_constant_differences_give_a_zero_width_interval() -> None:
    reference = np.arange(20.0)
    paired = paired_difference(reference + 0.5, reference)
    assert (paired.mean_difference, paired.low, paired.high) == (0.5, 0.5, 0.5)
    assert paired.p_value < 0.01


# --- Holm ----------------------------------------------------------------------------------------------------


def test_holm_on_hand_computed_p_values() -> None:
    """Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max 0.02, 0.03, 0.06,
    0.06; back in the given order."""
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_passes_none_through_and_does_not_count_it() -> None:
    adjusted = holm([0.01, None, 0.04, 0.03, None, 0.005])
    assert [p is None for p in adjusted] == [False, True, False, False, True, False]
    assert [p for p in adjusted if p is not None] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([None, None]) == [None, None] and holm([]) == []


def test_holm_caps_at_one() -> None:
    """0.5 * 2 = 1.0, then max(1.0, 0.6 * 1) = 1.0."""
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([0.02]) == pytest.approx([0.02])  # one test: nothing to correct


def test_holm_rejects_p_values_outside_0_1() -> None:
    with pytest.raises(ValueError):
        holm([0.2, 1.5])


def test_significance_at_alpha() -> None:
    assert significant(0.01) and significant(0.05) and not significant(0.051) and not significant(None)
    assert significant(0.09, alpha=0.1)


# --- formatting ----------------------------------------------------------------------------------------------


def test_format_interval() -> None:
    assert format_interval(Interval(89.95, 88.1, 91.7, 100, "BCa bootstrap")) == "89.95 [88.10, 91.70]"
    assert format_interval(Interval(0.81234, 0.8, 0.825, 100, "BCa bootstrap"), digits=3) == "0.812 [0.800, 0.825]"


def test_format_paired() -> None:
    paired = Paired(1.23, 0.4, 2.1, 0.004, 50, "BCa bootstrap; paired permutation test")
    assert format_paired(paired, 0.012) == "+1.23 [0.40, 2.10] p=0.012*"
    assert format_paired(paired, 0.2) == "+1.23 [0.40, 2.10] p=0.200"
    assert format_paired(paired, 0.0002) == "+1.23 [0.40, 2.10] p<0.001*"
    assert format_paired(paired, None) == "+1.23 [0.40, 2.10]"
    negative = Paired(-0.5, -0.9, -0.1, 0.01, 50, "")
    assert format_paired(negative, 0.03, digits=1) == "-0.5 [-0.9, -0.1] p=0.030*"
    assert format_paired(Paired(-0.0001, -0.01, 0.01, 0.9, 50, ""), 0.9) == "+0.00 [-0.01, 0.01] p=0.900"
