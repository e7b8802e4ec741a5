"""The performance verdict's ratio interval: regression only when the interval is beyond the allowance."""

import math
import random

import pytest

from airlock.perf_ratio import RatioInterval, ratio_interval, t_quantile

# exact one-sided 95% quantiles of Student's t
T95 = {2: 2.920, 3: 2.353, 5: 2.015, 10: 1.812, 30: 1.697}


@pytest.mark.parametrize(("df", "exact"), sorted(T95.items()))
def test_t_quantile_is_close_to_the_exact_value(df, exact):
    assert t_quantile(0.95, df) == pytest.approx(exact, rel=0.012)


def test_identical_rounds_give_a_point_interval_that_passes():
    iv = ratio_interval([100.0, 110.0, 90.0], [100.0, 110.0, 90.0])
    assert (iv.ratio, iv.low, iv.high) == (1.0, 1.0, 1.0)
    assert iv.outcome(0.3, higher_is_better=True) == "pass"


def test_a_clear_drop_is_a_regression_a_noisy_one_is_not():
    slow = ratio_interval([50, 52, 49, 51], [100, 101, 99, 100])  # half the throughput, steady
    assert slow.high < 0.7 and slow.outcome(0.3, higher_is_better=True) == "regression"
    noisy = ratio_interval([50, 160, 60], [100, 100, 100])  # as likely a noisy host as a slow model
    assert noisy.low < 0.7 < noisy.high and noisy.outcome(0.3, higher_is_better=True) == "undecided"


def test_latency_regression_needs_the_whole_interval_above_the_allowance():
    iv = ratio_interval([300, 310, 290], [100, 100, 100])
    assert iv.outcome(0.5, higher_is_better=False) == "regression"
    assert RatioInterval(1.6, 1.2, 2.1, 3).outcome(0.5, higher_is_better=False) == "undecided"
    assert RatioInterval(1.1, 0.9, 1.3, 3).outcome(0.5, higher_is_better=False) == "pass"


def test_false_rejection_of_equal_servers_stays_under_alpha_by_simulation():
    rng = random.Random(3)
    trials, rejected = 4000, 0
    for _ in range(trials):  # the same server twice: 25% multiplicative noise per run
        a = [100 * math.exp(rng.gauss(0, 0.25)) for _ in range(5)]
        b = [100 * math.exp(rng.gauss(0, 0.25)) for _ in range(5)]
        rejected += ratio_interval(a, b).outcome(0.0, higher_is_better=True) == "regression"
    assert rejected / trials <= 0.06  # one-sided alpha 0.05 at the strictest allowance


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="no round with both figures above zero"):
        ratio_interval([0.0], [1.0])
    with pytest.raises(ValueError):
        ratio_interval([1.0, 2.0], [1.0])
