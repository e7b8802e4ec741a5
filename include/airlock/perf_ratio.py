"""Serving performance judged as a ratio with a confidence interval, from interleaved runs.

Why: on a shared or small host, two runs of the same benchmark on the same weights differ by
5-80% (bench/eval_fidelity.py measured 1.05-1.8x on 2 cores), so a raw delta against a number
recorded days ago says more about the host than about the candidate. Runs of the candidate and
the baseline are interleaved (A B B A ...: slow drift hits both alike), each round gives one
ratio, and the verdict looks at the interval of the ratio's geometric mean:

* a **regression** only when the whole interval is beyond the allowed change
  (throughput or goodput below ``1 - allowed``, latency above ``1 + allowed``);
* a **pass** as soon as the interval is wholly inside it, so a sweep point stops early;
* undecided after the last round: not a regression (nothing was shown), reported as such.

Student-t on log ratios (a ratio's noise is multiplicative); the quantile comes from the
Cornish-Fisher expansion (within 1.2% of the exact value from 2 degrees of freedom on), so
the package needs no scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean, stdev
from typing import Literal

Outcome = Literal["pass", "regression", "undecided"]
MIN_ROUNDS = 3


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (Cornish-Fisher)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    z = NormalDist().inv_cdf(p)
    v = float(df)
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4)
    )


@dataclass(frozen=True)
class RatioInterval:
    """Candidate / baseline: the geometric mean over rounds and its two-sided interval."""

    ratio: float
    low: float
    high: float
    rounds: int

    def outcome(self, allowed: float, higher_is_better: bool) -> Outcome:
        """``allowed``: the change tolerated, as a fraction (0.3 = 30%)."""
        if higher_is_better:
            bound = 1 - allowed
            if self.high < bound:
                return "regression"
            return "pass" if self.low >= bound else "undecided"
        bound = 1 + allowed
        if self.low > bound:
            return "regression"
        return "pass" if self.high <= bound else "undecided"


def ratio_interval(candidate: Sequence[float], baseline: Sequence[float], alpha: float = 0.05) -> RatioInterval:
    """The ``1 - 2 alpha`` interval of candidate/baseline from paired rounds (one-sided ``alpha`` each way)."""
    pairs = [(c, b) for c, b in zip(candidate, baseline, strict=True) if c > 0 and b > 0]
    if not pairs:
        raise ValueError("no round with both figures above zero")
    logs = [math.log(c / b) for c, b in pairs]
    mean = fmean(logs)
    if len(logs) < 2:
        return RatioInterval(math.exp(mean), 0.0, math.inf, len(logs))
    half = t_quantile(1 - alpha, len(logs) - 1) * stdev(logs) / math.sqrt(len(logs))
    return RatioInterval(math.exp(mean), math.exp(mean - half), math.exp(mean + half), len(logs))
