"""Power and cost of the sequential accuracy verdict at the default min_effect, simulated.

For each base accuracy, draws a champion's per-doc scores (0/1) and a paired
candidate (:func:`pair`: items flip right->wrong and wrong->right) that is

* *worse by min_effect*, with ``--churn`` of the items flipping each way on top
  (a retrained model) and with none (only the drop);
* *equal*, with the same churn and with none (identical weights, served greedily).

Each pair runs through the group-sequential design of :mod:`airlock.sequential`
(the vectorised rule the verdict itself uses) with the suite size that
:func:`airlock.sequential.recommend_n_max` derives, looks at the planned sizes,
and stops at the first decided look. Printed per base accuracy: detection of
the drop (goal >= 95%), false rejection of the equal model (goal <= 5%), the
items used on average, and a one-look paired test of the same power (fixed n)
for comparison. Then the floor design (no champion) for a model at
floor +- min_effect, and a cross-check of the vectorised simulation against the
verdict's own functions (:func:`airlock.sequential.next_look`,
:func:`airlock.verdict.accuracy_check`) on a few pairs.
Run: ``PYTHONPATH=include .venv/bin/python bench/verdict_power.py``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from airlock import sequential as sq  # noqa: E402
from airlock.config import load_config  # noqa: E402
from airlock.verdict import Score, accuracy_check  # noqa: E402

Arr = np.ndarray[Any, Any]


def pair(rng: np.random.Generator, trials: int, n: int, p0: float, drop: float, churn: float) -> tuple[Arr, Arr]:
    """Champion and candidate 0/1 scores, ``trials`` x ``n``: the candidate flips ``churn``
    of all items wrong->right and ``churn + drop`` right->wrong (accuracy p0 - drop)."""
    champ = rng.random((trials, n)) < p0
    a = min(1.0, (churn + drop) / p0)  # P(right -> wrong)
    b = min(1.0, churn / (1 - p0)) if p0 < 1 else 0.0  # P(wrong -> right)
    u = rng.random((trials, n))
    cand = np.where(champ, u >= a, u < b)
    return champ.astype(np.int8), cand.astype(np.int8)


def run(d: Arr, plan: list[int], z: tuple[float, ...], rule: Any) -> tuple[Arr, Arr]:
    """First decided look per trial: (outcome, items used), sums taken at the planned sizes."""
    s, s2 = np.zeros(d.shape[0]), np.zeros(d.shape[0])
    out = np.full(d.shape[0], "continue", dtype=object)
    used = np.zeros(d.shape[0], dtype=int)
    for k, m in enumerate(plan):
        seg = d[:, plan[k - 1] if k else 0 : m].astype(np.int32)
        s, s2 = s + seg.sum(axis=1), s2 + (seg * seg).sum(axis=1)
        o, _, _ = rule(s, s2, np.full(d.shape[0], float(m)), z[k], k == len(plan) - 1)
        new = (out == "continue") & (o != "continue")
        out[new], used[new] = o[new], m
    return out, used


def main() -> None:
    cfg = load_config().verdict
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-effect", type=float, default=0.05, help="smallest true drop to catch (the new default)")
    ap.add_argument("--churn", type=float, default=sq.CHURN, help="share of items a retrained model flips each way")
    ap.add_argument("--alpha", type=float, default=cfg.alpha)
    ap.add_argument("--power", type=float, default=sq.POWER)
    ap.add_argument("--first", type=int, default=sq.FIRST_LOOK, help="docs at the first look")
    ap.add_argument("--trials", type=int, default=10000)
    ap.add_argument("--base", type=float, nargs="+", default=[0.3, 0.6, 0.8, 0.95])
    args = ap.parse_args()
    t0, rng = time.monotonic(), np.random.default_rng(7)
    eff, alpha = args.min_effect, args.alpha
    tol = eff * cfg.tolerance_fraction
    n_max = sq.recommend_n_max(eff, alpha, args.power, args.churn, args.first, cfg.tolerance_fraction)
    plan = sq.looks(n_max, args.first)
    z = sq.boundaries(tuple(m / n_max for m in plan), alpha)
    n_fix = sq.fixed_n(eff, alpha, args.power, args.churn, cfg.tolerance_fraction)
    z_fix = sq.boundaries((1.0,), alpha)[0]

    def paired(s: Arr, s2: Arr, n: Arr, zk: float, final: bool) -> tuple[Arr, Arr, Arr]:
        return sq.paired_outcome(s, s2, n, zk, eff, tol, final)

    print(
        f"sequential paired design: min_effect={eff}, tolerance={tol:.3f}, alpha={alpha}, power={args.power}, "
        f"churn={args.churn} each way, trials={args.trials} (Monte Carlo se about "
        f"{(0.05 * 0.95 / args.trials) ** 0.5:.1%} on a 95% or 5% rate)\n"
        f"n_max={n_max} per task (recommend_n_max), looks {plan}, z boundaries {[round(c, 2) for c in z]} "
        f"(alpha x t^{sq.RHO:g}); fixed-n paired test of the same power: n={n_fix}, z={z_fix:.3f}"
    )
    print(
        f"{'base':>5} {'detect':>7} {'detect':>7} {'false rej':>9} {'false rej':>9} | {'items used on average':^25} |"
        f" {'fixed n':>7} {'fixed-n':>7} {'items':>6}\n"
        f"{'acc':>5} {'churn':>7} {'no churn':>7} {'identical':>9} {'churn':>9} | {'drop':>7} {'equal':>8} "
        f"{'ident.':>8} | {'':>7} {'detect':>7} {'ratio':>6}"
    )
    worst = {"det": 1.0, "fr": 0.0, "items": 0.0}
    for p0 in args.base:
        rows = {}
        for key, drop, churn in (("d", eff, args.churn), ("d0", eff, 0.0), ("e0", 0.0, 0.0), ("e", 0.0, args.churn)):
            champ, cand = pair(rng, args.trials, n_max, p0, drop, churn)
            d = champ - cand
            out, used = run(d, plan, z, paired)
            rows[key] = ((out == "regression").mean(), used.mean())
            if key == "d":
                fo, _ = run(d[:, :n_fix], [n_fix], (z_fix,), paired)
                fix_det = (fo == "regression").mean()
        avg = max(rows[k][1] for k in rows)
        worst["det"] = min(worst["det"], rows["d"][0], rows["d0"][0])
        worst["fr"] = max(worst["fr"], rows["e"][0], rows["e0"][0])
        worst["items"] = max(worst["items"], avg)
        print(
            f"{p0:>5.2f} {rows['d'][0]:>7.1%} {rows['d0'][0]:>8.1%} {rows['e0'][0]:>9.1%} {rows['e'][0]:>9.1%} |"
            f" {rows['d'][1]:>7.0f} {rows['e'][1]:>8.0f} {rows['e0'][1]:>8.0f} | {n_fix:>7} {fix_det:>7.1%}"
            f" {avg / n_fix:>6.2f}"
        )

    print(f"\nfloor design (no champion), same plan: model at floor +- min_effect ({eff})")
    print(f"{'floor':>6} {'fail at floor+eff':>18} {'pass at floor-eff':>18} {'items (+/-)':>14}")
    for f in args.base:
        cells = []
        for p in (f + eff, f - eff):
            x = (rng.random((args.trials, n_max)) < p).astype(np.int8)

            def rule(s: Arr, s2: Arr, n: Arr, zk: float, final: bool, f: float = f) -> tuple[Arr, Arr, Arr]:
                return sq.floor_outcome(s, s2, n, zk, f, final)

            out, used = run(x, plan, z, rule)
            cells.append(((out == ("fail" if p > f else "pass")).mean(), used.mean()))
        worst["fr"] = max(worst["fr"], cells[0][0])
        worst["det"] = min(worst["det"], 1 - cells[1][0])
        print(f"{f:>6.2f} {cells[0][0]:>18.1%} {cells[1][0]:>18.1%} {cells[0][1]:>7.0f}/{cells[1][1]:<6.0f}")

    mis = []
    for drop in (eff, 0.0):  # the churn is twice the assumed one, the plan unchanged
        champ, cand = pair(rng, args.trials, n_max, 0.8, drop, 2 * args.churn)
        out, used = run(champ - cand, plan, z, paired)
        mis.append(((out == "regression").mean(), used.mean()))
    print(
        f"\nchurn {2 * args.churn} each way (twice the assumed), same plan, base 0.80: detection {mis[0][0]:.1%} "
        f"({mis[0][1]:.0f} items), false rejection {mis[1][0]:.1%} ({mis[1][1]:.0f} items; about alpha by design)"
    )

    agree, checks, vcfg = 0, 60, cfg.model_copy(update={"min_effect": eff, "alpha": alpha})
    for i in range(checks):
        champ, cand = pair(rng, 1, n_max, 0.8, eff if i % 2 else 0.0, args.churn)
        o, used = run(champ - cand, plan, z, paired)
        ch = {str(j): float(v) for j, v in enumerate(champ[0])}
        n = args.first
        while True:
            ca = {str(j): float(v) for j, v in enumerate(cand[0][:n])}
            step = sq.next_look(ch, ca, plan, min_effect=eff, alpha=alpha, tolerance=tol)
            if not step.go_on:
                break
            n = step.next_n or n
        sc = Score(float(cand[0][:n].mean()), None, n, ca)
        check = accuracy_check("t", sc, Score(float(champ[0].mean()), None, n_max, ch), vcfg, plan=plan)
        agree += step.decision.outcome == o[0] and n == used[0] and check.passed == (o[0] != "regression")
    print(f"cross-check: next_look and accuracy_check agree with the simulation on {agree}/{checks} pairs")
    print(
        f"worst case: detection {worst['det']:.1%} (goal >= 95%), false rejection {worst['fr']:.1%} (goal <= 5%), "
        f"items used on average at most {worst['items']:.0f} of n_max {n_max} vs fixed n {n_fix}: "
        f"ratio {worst['items'] / n_fix:.2f} ({time.monotonic() - t0:.0f} s)"
    )


if __name__ == "__main__":
    main()
