"""Power of the accuracy verdict at the shipped suite's sample size, simulated.

For each base accuracy, draws a champion's per-sample scores (n per task, the
private suite's 50), then a candidate that is either *equal* (same accuracy,
with some per-item churn, as a retrained model has) or *worse by min_effect*
(paired: items flip from right to wrong). Runs the real verdict
(:func:`airlock.verdict.accuracy_check`, paired bootstrap) on each pair and
prints the detection rate (goal >= 95%) and the false-rejection rate
(goal <= 5%).
Run: ``PYTHONPATH=include .venv/bin/python bench/verdict_power.py``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from airlock.config import load_config  # noqa: E402
from airlock.verdict import Score, accuracy_check  # noqa: E402


def pair(rng, n: int, p0: float, drop: float, churn: float) -> tuple[Score, Score]:
    champ = (rng.random(n) < p0).astype(float)
    right, wrong = champ == 1, champ == 0
    # flip right->wrong with prob a and wrong->right with prob b so that the
    # candidate's expected accuracy is p0 - drop
    b = churn
    a = min(1.0, (drop + b * (1 - p0)) / p0) if p0 > 0 else 0.0
    cand = champ.copy()
    cand[right & (rng.random(n) < a)] = 0.0
    cand[wrong & (rng.random(n) < b)] = 1.0

    def score(x: np.ndarray) -> Score:
        m = float(x.mean())
        return Score(m, float(x.std(ddof=1) / np.sqrt(n)), n, {str(i): float(v) for i, v in enumerate(x)})

    return score(cand), score(champ)


def main() -> None:
    cfg = load_config().verdict
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50, help="samples per task (the private suite has 50)")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--churn", type=float, default=0.05, help="share of items an equal model answers differently")
    ap.add_argument("--base", type=float, nargs="+", default=[0.6, 0.8, 0.95])
    args = ap.parse_args()
    rng = np.random.default_rng(7)
    print(
        f"verdict: min_effect={cfg.min_effect}, tolerance={cfg.min_effect * cfg.tolerance_fraction:.3f}, "
        f"alpha={cfg.alpha}, n={args.n}, trials={args.trials}, churn={args.churn}"
    )
    print(f"{'base acc':>9} {'detect drop of min_effect':>27} {'false reject (equal)':>22}")
    worst_detect, worst_false = 1.0, 0.0
    for p0 in args.base:
        det = (
            sum(
                not accuracy_check("t", *pair(rng, args.n, p0, cfg.min_effect, args.churn), cfg).passed
                for _ in range(args.trials)
            )
            / args.trials
        )
        fr = (
            sum(
                not accuracy_check("t", *pair(rng, args.n, p0, 0.0, args.churn), cfg).passed for _ in range(args.trials)
            )
            / args.trials
        )
        worst_detect, worst_false = min(worst_detect, det), max(worst_false, fr)
        print(f"{p0:>9.2f} {det:>26.1%} {fr:>22.1%}")
    print(f"worst case: detection {worst_detect:.1%} (goal >= 95%), false rejection {worst_false:.1%} (goal <= 5%)")


if __name__ == "__main__":
    main()
