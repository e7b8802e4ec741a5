"""Group-sequential accuracy decisions: stop sampling once the answer is decided.

A suite that sees a few-point drop costs minutes per task, yet most candidates
are clearly equal or clearly worse long before its last doc. So docs are scored
in planned looks (:func:`looks`), and after each a repeated-confidence interval
(RCI; Jennison & Turnbull 2000, ch. 9) decides:

* paired, on the drop ``d_i = champion_i - candidate_i`` over shared docs:
  ``regression`` when the lower bound is above 0 and the observed drop above the
  practical tolerance (checked first); ``pass`` when the upper bound is below
  min_effect; at the last look a drop not significant passes, so false rejection
  stays <= alpha (normal approx.) whatever the churn; :func:`recommend_n_max` sizes n.
* against an absolute floor (no champion): ``pass``/``fail`` when the lower/upper
  bound clears the floor; at the last look the mean decides: with no champion
  neither error is the costlier, and both stay small at floor +- min_effect.

Bounds are ``mean +- c_k x se``; ``c_k`` spends alpha as ``alpha x t^RHO`` per side
(Kim & DeMets power family, t = look / last look), so each side holds at all looks
at once with probability >= 1 - alpha, however one stops (the pass stop is
non-binding). Mean and variance include two pseudo items (Agresti & Min 2005: 0.5
per paired cell; one right, one wrong for the floor): identical weights (every
d_i = 0) get a small finite interval and pass where a Wald interval has width 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any

import numpy as np

FIRST_LOOK = 100  # docs at the first look: identical weights pass there (needs ~20 x c_1)
RHO = 2.0  # alpha spent as alpha * t**RHO: between Pocock (1) and O'Brien-Fleming (~3)
CHURN = 0.05  # assumed share of items an equal model flips each way (retrained model)
POWER = 0.96  # design power at a drop of min_effect: the 95% goal + 1 point the normal approximation overstates
TF = 0.5  # the config's default tolerance_fraction: regression needs an observed drop > TF x min_effect
_GRID = 401  # points per look of the numerical integration

Arr = np.ndarray[Any, np.dtype[np.float64]]
Scores = Mapping[str, float]  # doc id -> score (0/1 for accuracy)
Plan = Sequence[int]  # the look sizes, the last one the suite size
_N = NormalDist()
_erfc = np.vectorize(math.erfc, otypes=[float])  # numpy and the stdlib only: no scipy at runtime


@dataclass(frozen=True)
class Decision:
    """One look's answer, with the figures a report shows."""

    outcome: str  # "regression" | "pass" | "fail" | "continue"
    estimate: float  # observed drop (paired) or accuracy (floor), unadjusted
    low: float  # repeated-confidence bounds at this look
    high: float
    boundary: float  # critical z at this look (nominal one-sided level: normal sf of it)
    p_value: float  # nominal one-sided p of "no drop" (paired) or "at the floor" (floor)
    n: int  # items used
    look: int  # 1-based index in the plan
    looks: int  # looks in the plan
    final: bool


@dataclass(frozen=True)
class NextLook:
    """What the evaluation loop does next: stop with ``decision`` or score ``next_n`` docs in all."""

    go_on: bool
    next_n: int | None
    decision: Decision


def looks(n_max: int, first: int = FIRST_LOOK, growth: float = 2.0) -> list[int]:
    """Planned look sizes: ``first`` x growth^k while below ``n_max``, then ``n_max``.

    Doubling keeps the number of (costly to start) lm-eval chunks logarithmic, and
    a look within 3/4 of ``n_max`` is dropped: it would cost alpha and save little.
    """
    if n_max < 1 or first < 1 or growth <= 1:
        raise ValueError("looks: n_max and first must be >= 1 and growth > 1")
    return [*(round(first * growth**k) for k in range(64) if first * growth**k < 0.75 * n_max), n_max]


def _cross(x: Arr, wf: Arr, prev: float, t: float, theta: float, z: float) -> float:
    """P(W(t) >= z sqrt t, not stopped before) for a Brownian motion W with drift theta, from
    its sub-density ``wf`` on grid ``x`` at ``prev`` (recursive integration: Armitage, McPherson
    & Rowe 1969), exact up to the quadrature."""
    sd = math.sqrt(t - prev)
    return float(wf @ (0.5 * _erfc((z * math.sqrt(t) - x - theta * (t - prev)) / (sd * math.sqrt(2)))))


def _advance(x: Arr, wf: Arr, prev: float, t: float, theta: float, z_lo: float, z_hi: float) -> tuple[Arr, Arr]:
    """The sub-density of W(t) on the continuation region (z_lo, z_hi) x sqrt t, on a grid."""
    rt, sd = math.sqrt(t), math.sqrt(t - prev)
    a, b = max(z_lo * rt, theta * t - 8 * rt), min(z_hi * rt, theta * t + 8 * rt)
    if b <= a:
        return np.zeros(1), np.zeros(1)
    y = np.linspace(a, b, _GRID)
    w = np.full(_GRID, (b - a) / (_GRID - 1))
    w[[0, -1]] /= 2
    dens = np.exp(-0.5 * ((y[None, :] - x[:, None] - theta * (t - prev)) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    return y, w * (wf @ dens)


@lru_cache(maxsize=512)
def boundaries(fracs: tuple[float, ...], alpha: float, rho: float = RHO) -> tuple[float, ...]:
    """Critical z per look so that P(Z_k >= c_k at some look | no effect) = alpha,
    spending alpha x t^rho up to information fraction t (the last look spends the rest)."""
    spent = [alpha * min(t, 1.0) ** rho for t in fracs[:-1]] + [alpha]
    c: list[float] = []
    x, wf, prev = np.zeros(1), np.ones(1), 0.0
    for k, t in enumerate(fracs):
        target = spent[k] - (spent[k - 1] if k else 0.0)
        lo, hi = -8.0, 40.0  # bisect c_k: P(first crossing at look k) falls as c_k rises
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _cross(x, wf, prev, t, 0.0, mid) > target else (lo, mid)
        c.append(hi)
        x, wf = _advance(x, wf, prev, t, 0.0, -math.inf, c[-1])
        prev = t
    return tuple(c)


def interval(s: Arr, s2: Arr, n: Arr, z: float, pseudo: float) -> tuple[Arr, Arr, Arr]:
    """Adjusted mean and its bounds ``+- z x se`` from sums of x and x^2 over n items,
    after adding two pseudo items with sum ``pseudo`` and squares summing to 1."""
    m = n + 2.0
    mean = (s + pseudo) / m
    se = np.sqrt(np.maximum((s2 + 1.0) / m - mean**2, 0.0) / m)
    return mean, mean - z * se, mean + z * se


def paired_outcome(
    s: Arr, s2: Arr, n: Arr, z: float, min_effect: float, tolerance: float, final: bool
) -> tuple[Arr, Arr, Arr]:
    """Vectorised paired rule on sums of d and d^2: outcomes, low and high bounds."""
    _, lo, hi = interval(s, s2, n, z, 0.0)
    reg = (lo > 0) & (s / np.maximum(n, 1) > tolerance)
    out = np.where(reg, "regression", np.where(hi < min_effect, "pass", "pass" if final else "continue"))
    return out, lo, hi


def floor_outcome(s: Arr, s2: Arr, n: Arr, z: float, floor: float, final: bool) -> tuple[Arr, Arr, Arr]:
    """Vectorised floor rule on sums of x and x^2: outcomes, low and high bounds."""
    _, lo, hi = interval(s, s2, n, z, 1.0)
    last = np.where(s / np.maximum(n, 1) >= floor, "pass", "fail") if final else "continue"
    return np.where(lo > floor, "pass", np.where(hi < floor, "fail", last)), lo, hi


def _decide(x: list[float], plan: Plan, alpha: float, final: bool, pair: bool, a: float, b: float) -> Decision:
    """The rule at the look ``len(x)`` reached: paired (a=min_effect, b=tolerance) or floor (a=floor)."""
    if not x:
        raise ValueError("no items to decide on")
    n, v = len(x), np.asarray(x, dtype=float)
    k = max(0, sum(1 for m in plan if m <= n) - 1)  # the look n reached: the largest size <= n, else the first
    z = boundaries(tuple(m / plan[-1] for m in plan), alpha)[k]
    final = final or n >= plan[-1]
    s, s2, nn = np.array([v.sum()]), np.array([v @ v]), np.array([float(n)])
    rule = paired_outcome(s, s2, nn, z, a, b, final) if pair else floor_outcome(s, s2, nn, z, a, final)
    mean, sd, centre = float(s[0]) / n, float(v.std(ddof=1)) if n > 1 else 0.0, 0.0 if pair else a
    p = _N.cdf(-(mean - centre) * math.sqrt(n) / sd) if sd > 0 else float(mean <= centre)
    return Decision(str(rule[0][0]), mean, float(rule[1][0]), float(rule[2][0]), z, p, n, k + 1, len(plan), final)


def paired(
    champ: Scores, cand: Scores, plan: Plan, min_effect: float, alpha: float, tolerance: float, final: bool = False
) -> Decision:
    """Decision on the drop over the docs both sides scored (at the look their count reached)."""
    d = [champ[i] - cand[i] for i in sorted(set(champ) & set(cand))]
    return _decide(d, plan, alpha, final, True, min_effect, tolerance)


def against_floor(cand: Scores, plan: Plan, floor: float, alpha: float, final: bool = False) -> Decision:
    """Decision of the candidate's accuracy against an absolute floor (no champion)."""
    return _decide(list(cand.values()), plan, alpha, final, False, floor, 0.0)


def next_look(
    champ: Scores | None,
    cand: Scores,
    plan: Plan,
    *,
    min_effect: float,
    alpha: float,
    tolerance: float,
    floor: float | None = None,
) -> NextLook:
    """Between chunks: stop (decided, the plan is done, or the champion has no more docs
    to pair with) or score the candidate up to ``next_n`` docs (the plan's next size).

    Docs must be scored in a fixed random order (prefixes), the champion's in the same."""
    if (champ is None and floor is None) or (champ is not None and not champ):
        raise ValueError("next_look: give the champion's per-doc scores (else None and a floor)")
    n = len(set(champ) & set(cand)) if champ is not None else len(cand)
    upcoming = [m for m in plan if m > n]
    cap = len(champ) if champ is not None else plan[-1]
    stuck = not upcoming or min(upcoming[0], cap) <= n
    if n < plan[0] and not stuck:  # no look yet
        nan = math.nan
        return NextLook(True, min(plan[0], cap), Decision("continue", nan, nan, nan, nan, nan, n, 0, len(plan), False))
    if champ is not None:
        d = paired(champ, cand, plan, min_effect, alpha, tolerance, final=stuck)
    else:
        d = against_floor(cand, plan, floor or 0.0, alpha, final=stuck)
    if d.outcome != "continue":
        return NextLook(False, None, d)
    return NextLook(True, min(upcoming[0], cap), d)


def _sigma1(min_effect: float, churn: float) -> float:  # sd of d at a drop of min_effect, churn each way on top
    return math.sqrt(2 * churn + min_effect - min_effect**2)


def fixed_n(min_effect: float, alpha: float = 0.05, power: float = POWER, churn: float = CHURN, tf: float = TF) -> int:
    """Items a one-look paired test at ``alpha`` (and observed drop > tf x min_effect)
    needs for ``power`` at a drop of min_effect."""
    z_a, z_b, sd = _N.inv_cdf(1 - alpha), _N.inv_cdf(power), _sigma1(min_effect, churn)
    return math.ceil(max((z_a + z_b) * sd / min_effect, z_b * sd / (min_effect * (1 - tf))) ** 2)


def design_power(
    n_max: int, min_effect: float, alpha: float, churn: float, first: int = FIRST_LOOK, tf: float = TF
) -> float:
    """P(regression) at a true drop of min_effect for ``looks(n_max, first)``, net of the
    early pass stops (upper bound below min_effect); normal approximation."""
    fracs = tuple(m / n_max for m in looks(n_max, first))
    c, theta = boundaries(fracs, alpha), min_effect * math.sqrt(n_max) / _sigma1(min_effect, churn)
    x, wf, prev, power = np.zeros(1), np.ones(1), 0.0, 0.0  # a point mass at W(0) = 0
    for t, ck in zip(fracs, c, strict=True):
        up = max(ck, tf * theta * math.sqrt(t))  # significant, and the observed drop above the tolerance
        power += _cross(x, wf, prev, t, theta, up)  # pass stop: Z < theta sqrt t - c (upper bound < min_effect)
        x, wf, prev = *_advance(x, wf, prev, t, theta, min(theta * math.sqrt(t) - ck, up), up), t
    return power


@lru_cache(maxsize=64)
def recommend_n_max(
    min_effect: float, alpha: float, power: float = POWER, churn: float = CHURN, first: int = FIRST_LOOK, tf: float = TF
) -> int:
    """Smallest last look whose sequential design has ``power`` at a drop of min_effect when an
    equal model flips ``churn`` of the items each way (tf: tolerance_fraction): the suite size."""
    lo, hi = 1, max(2, fixed_n(min_effect, alpha, power, churn, tf))
    while design_power(hi, min_effect, alpha, churn, first, tf) < power:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # bisect: the power grows with the last look
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if design_power(mid, min_effect, alpha, churn, first, tf) >= power else (mid, hi)
    return hi
