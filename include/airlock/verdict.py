"""The verdict: pure comparison of a candidate with the champion (or floors).

Accuracy, per task, with per-doc scores on both sides (>= 10 shared docs): the
group-sequential paired design of :mod:`airlock.sequential`, applied to the
data the evaluation stopped at (the look its doc count reached, never
"continue"). Its drop ``D = champion - candidate`` on shared docs is a
regression when the lower bound of its repeated-confidence interval is above 0
and ``D > min_effect x tolerance_fraction`` (the practical tolerance: with a
huge sample a trivial drop is significant but does not matter); it passes when
the upper bound is below ``min_effect`` or, at the last look, when the drop is
not significant. False rejection stays <= alpha across looks; the suite size
from :func:`airlock.sequential.recommend_n_max` gives the power to catch a true
drop of ``min_effect``; ``bench/verdict_power.py`` measures both rates and the
items used. Without per-doc scores (or fewer than 10 shared docs) a z-test on
the stderrs decides: ``p < alpha`` and ``D`` above the tolerance.

With no champion, each task must reach its absolute floor: by the sequential
floor design on per-doc scores, else on the mean.

Performance, per sweep point, from runs interleaved with a baseline (the
champion on its own node, else the candidate's re-runs: see
:func:`airlock.benchmark.compare`): output throughput and goodput may drop by
at most ``max_throughput_drop_pct`` and TTFT p99 may rise by at most
``max_latency_increase_pct``, judged on the ratio's interval (a regression only
when the whole interval is beyond); at least ``min_slo_attainment`` of the
requests meet the model's SLOs; the benchmark failed no request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from airlock import sequential
from airlock.config import VerdictConfig
from airlock.payloads import PerformanceResult


@dataclass(frozen=True)
class Score:
    """One task's result: mean metric, its stderr, and per-sample scores."""

    value: float
    stderr: float | None = None
    n: int = 0
    samples: dict[str, float] | None = None


@dataclass
class Check:
    name: str
    passed: bool
    detail: str
    candidate: float | None = None
    baseline: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


@dataclass
class Verdict:
    passed: bool
    against: str  # "champion v<N>" or "floors"
    checks: list[Check] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        failed = [c.detail for c in self.checks if not c.passed]
        return failed or [f"every check passed against {self.against}"]

    @property
    def label(self) -> str:
        return "pass" if self.passed else "fail"

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "label": self.label,
            "against": self.against,
            "reasons": self.reasons,
            "checks": [asdict(c) for c in self.checks],
        }


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def default_plan(cfg: VerdictConfig) -> list[int]:
    """The look sizes the verdict assumes when the caller gives none: the suite size
    :func:`sequential.recommend_n_max` derives for the configured min_effect and alpha."""
    n_max = sequential.recommend_n_max(
        cfg.min_effect, cfg.alpha, cfg.power, cfg.assumed_churn, tf=cfg.tolerance_fraction
    )
    return sequential.looks(n_max)


def accuracy_check(
    task: str, cand: Score, champ: Score, cfg: VerdictConfig, plan: Sequence[int] | None = None
) -> Check:
    """Candidate vs champion on one task; ``plan``: the look sizes the evaluation used."""
    tol = cfg.min_effect * cfg.tolerance_fraction
    head = f"{task}: {cand.value:.3f} vs champion {champ.value:.3f}"
    if cand.samples and champ.samples and len(set(cand.samples) & set(champ.samples)) >= 10:
        d = sequential.paired(
            champ.samples, cand.samples, plan or default_plan(cfg), cfg.min_effect, cfg.alpha, tol, final=True
        )
        regression = d.outcome == "regression"
        detail = (
            f"{head} (delta {-d.estimate:+.3f} on {d.n} shared docs, repeated {1 - 2 * cfg.alpha:.0%} CI "
            f"[{-d.high:+.3f}, {-d.low:+.3f}], nominal p={d.p_value:.3f}, boundary z={d.boundary:.2f} at look "
            f"{d.look}/{d.looks} by sequential paired test); "
        )
        if regression:
            detail += f"a significant drop above the tolerance {tol:.3f} — regression"
        elif d.high < cfg.min_effect:
            detail += f"any drop is below min_effect {cfg.min_effect:.3f} with confidence"
        elif d.low > 0:
            detail += f"a significant drop within the tolerance {tol:.3f}"
        else:
            detail += "drop not significant at the last look"
        return Check(
            f"accuracy/{task}", not regression, detail, cand.value, champ.value, -d.estimate, -d.high, -d.low, d.p_value
        )
    drop = champ.value - cand.value
    se = math.sqrt((cand.stderr or 0) ** 2 + (champ.stderr or 0) ** 2)
    p = normal_sf(drop / se) if se > 0 else (0.0 if drop > 0 else 1.0)
    lo, hi = drop - 1.96 * se, drop + 1.96 * se
    regression = drop > tol and p < cfg.alpha
    detail = f"{head} (delta {-drop:+.3f}, 95% CI [{-hi:+.3f}, {-lo:+.3f}], p={p:.3f} by z-test on stderr); "
    if regression:
        detail += f"a significant drop above the tolerance {tol:.3f} — regression"
    elif drop > tol:
        detail += f"drop above the tolerance {tol:.3f} but not significant at alpha {cfg.alpha}"
    else:
        detail += f"within the tolerance {tol:.3f}"
    return Check(f"accuracy/{task}", not regression, detail, cand.value, champ.value, -drop, -hi, -lo, p)


def floor_check(task: str, cand: Score, cfg: VerdictConfig, plan: Sequence[int] | None = None) -> Check:
    """The candidate's task against its absolute floor (no champion)."""
    floor = cfg.floors.get(task, cfg.default_floor)
    detail = f"{task}: {cand.value:.3f} {'>=' if cand.value >= floor else '<'} floor {floor:.3f} (no champion)"
    if cand.samples and len(cand.samples) >= 10:  # the repeated-confidence bounds go in ci_low/ci_high
        d = sequential.against_floor(cand.samples, plan or default_plan(cfg), floor, cfg.alpha, final=True)
        ok = d.outcome == "pass"
        return Check(f"accuracy/{task}", ok, detail, cand.value, floor, d.estimate - floor, d.low, d.high, d.p_value)
    se = cand.stderr or 0.0
    return Check(
        f"accuracy/{task}",
        cand.value >= floor,
        detail,
        cand.value,
        floor,
        cand.value - floor,
        cand.value - 1.96 * se,
        cand.value + 1.96 * se,
    )


FIGURE_NAMES = {"output_throughput": "output throughput", "request_goodput": "goodput", "ttft_p50_ms": "median TTFT"}


def perf_checks(perf: PerformanceResult, cfg: VerdictConfig) -> list[Check]:
    """Per sweep point: no failed request; each figure's ratio to the baseline (interleaved runs)
    is a regression only when its whole interval is beyond the allowance; and at least
    ``min_slo_attainment`` of the requests meet the model's SLOs (goodput / throughput)."""
    out = []
    base = {p.concurrency: p for p in perf.baseline_points}
    for p in perf.points:
        if p.failed:
            out.append(
                Check(
                    f"perf/c{p.concurrency}/failed",
                    False,
                    f"benchmark at concurrency {p.concurrency}: {p.failed} failed requests",
                    p.failed,
                )
            )
        if p.request_goodput is not None and p.request_throughput > 0:
            share = p.request_goodput / p.request_throughput
            out.append(
                Check(
                    f"perf/c{p.concurrency}/slo_attainment",
                    share >= cfg.min_slo_attainment,
                    f"requests within the SLOs at concurrency {p.concurrency}: {share:.0%} "
                    f"({'>=' if share >= cfg.min_slo_attainment else '<'} {cfg.min_slo_attainment:.0%}; goodput "
                    f"{p.request_goodput:.2f} of {p.request_throughput:.2f} req/s)",
                    share,
                    cfg.min_slo_attainment,
                    share - cfg.min_slo_attainment,
                )
            )
    for comp in perf.comparisons:
        for f in comp.figures:
            name = FIGURE_NAMES[f.figure]
            limit = f"{'-' if f.higher_is_better else '+'}{f.allowed:.0%}"
            what = {"pass": "within the allowance", "undecided": "not shown beyond the allowance"}.get(
                f.outcome, "beyond the allowance — regression"
            )
            out.append(
                Check(
                    f"perf/c{comp.concurrency}/{f.figure.removesuffix('_ms')}",
                    f.outcome != "regression",
                    f"{name} at concurrency {comp.concurrency}: {f.ratio:.2f}x {perf.baseline} "
                    f"(90% CI [{f.low:.2f}, {f.high:.2f}] over {f.rounds} interleaved rounds, allowed {limit}); {what}",
                    f.ratio,
                    1.0,
                    f.ratio - 1,
                    f.low,
                    f.high,
                )
            )
        b, p = base.get(comp.concurrency), next(x for x in perf.points if x.concurrency == comp.concurrency)
        if "request_goodput" not in {f.figure for f in comp.figures} and b and (b.request_goodput or 0) > 0:
            out.append(  # no round had both sides within the SLOs: the candidate had none
                Check(
                    f"perf/c{comp.concurrency}/request_goodput",
                    False,
                    f"goodput at concurrency {comp.concurrency}: {p.request_goodput or 0:.2f} vs "
                    f"{b.request_goodput:.2f} req/s for {perf.baseline}; no request met the SLOs — regression",
                    p.request_goodput or 0.0,
                    b.request_goodput,
                )
            )
    return out


def decide(
    candidate: dict[str, Score],
    perf: PerformanceResult | None,
    cfg: VerdictConfig,
    champion: dict[str, Score] | None = None,
    champion_label: str = "champion",
    plan: Sequence[int] | None = None,
) -> Verdict:
    """Judge ``candidate`` (task -> Score) against the champion's scores (or the floors), and its
    performance against the baseline it was interleaved with; ``plan``: the look sizes the
    evaluation used (default: :func:`default_plan`)."""
    checks: list[Check] = []
    for task, score in sorted(candidate.items()):
        if champion and task in champion:
            checks.append(accuracy_check(task, score, champion[task], cfg, plan))
        else:
            checks.append(floor_check(task, score, cfg, plan))
    checks += perf_checks(perf, cfg) if perf else []
    return Verdict(all(c.passed for c in checks), champion_label if champion else "floors", checks)
