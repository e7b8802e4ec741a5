"""The verdict: pure comparison of a candidate with the champion (or floors).

Accuracy, per task. An observed drop ``D = champion - candidate`` counts as a
regression only when both hold:

* it is practically relevant: ``D > min_effect x tolerance_fraction``; and
* it is significant: a one-sided paired bootstrap over per-sample scores
  (when both sides have them, on the same documents) or a z-test on the
  stderrs gives ``p < alpha``.

Why the tolerance sits below ``min_effect``: ``min_effect`` is the smallest
true drop the gate must catch. A true drop of exactly that size shows an
observed drop above it only half the time, so counting only drops above
``min_effect`` would catch it half the time. Half of it, together with the
significance test, catches it with high power at the suite's sample size
while an equal model is rejected rarely; ``bench/verdict_power.py`` measures
both rates.

Performance, per sweep point present on both sides: output throughput may drop
by at most ``max_throughput_drop_pct`` and TTFT p99 may rise by at most
``max_latency_increase_pct``. With no champion, each task must reach its
absolute floor, and the benchmark must have failed no request.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from airlock.config import VerdictConfig


@dataclass(frozen=True)
class Score:
    """One task's result: mean metric, its stderr, and per-sample scores."""

    value: float
    stderr: float | None = None
    n: int = 0
    samples: dict[str, float] | None = None


@dataclass(frozen=True)
class Perf:
    """One sweep point's figures the verdict compares."""

    concurrency: int
    output_throughput: float
    ttft_p99_ms: float
    failed: int = 0


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


def paired_bootstrap(
    champ: dict[str, float], cand: dict[str, float], iters: int, seed: int = 0
) -> tuple[float, float, float, float]:
    """Mean paired drop (champion - candidate) over shared documents, its 95%
    interval, and the one-sided p-value of "no drop" (share of resamples <= 0)."""
    import numpy as np

    ids = sorted(set(champ) & set(cand))
    diffs = np.array([champ[i] - cand[i] for i in ids], dtype=float)
    mean = float(diffs.mean())
    if np.all(diffs == diffs[0]):  # no variance: the drop is exactly known
        return mean, mean, mean, (0.0 if mean > 0 else 1.0)
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(iters, len(diffs)))].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return mean, float(lo), float(hi), float((means <= 0).mean())


def accuracy_check(task: str, cand: Score, champ: Score, cfg: VerdictConfig) -> Check:
    tol = cfg.min_effect * cfg.tolerance_fraction
    if cand.samples and champ.samples and len(set(cand.samples) & set(champ.samples)) >= 10:
        drop, lo, hi, p = paired_bootstrap(champ.samples, cand.samples, cfg.bootstrap_samples)
        how = "paired bootstrap"
    else:
        drop = champ.value - cand.value
        se = math.sqrt((cand.stderr or 0) ** 2 + (champ.stderr or 0) ** 2)
        p = normal_sf(drop / se) if se > 0 else (0.0 if drop > 0 else 1.0)
        lo, hi = drop - 1.96 * se, drop + 1.96 * se
        how = "z-test on stderr"
    regression = drop > tol and p < cfg.alpha
    delta = -drop
    detail = (
        f"{task}: {cand.value:.3f} vs champion {champ.value:.3f} (delta {delta:+.3f}, "
        f"95% CI [{-hi:+.3f}, {-lo:+.3f}], p={p:.3f} by {how}); "
    )
    if regression:
        detail += f"a significant drop above the tolerance {tol:.3f} — regression"
    elif drop > tol:
        detail += f"drop above the tolerance {tol:.3f} but not significant at alpha {cfg.alpha}"
    else:
        detail += f"within the tolerance {tol:.3f}"
    return Check(f"accuracy/{task}", not regression, detail, cand.value, champ.value, delta, -hi, -lo, p)


def floor_check(task: str, cand: Score, cfg: VerdictConfig) -> Check:
    floor = cfg.floors.get(task, cfg.default_floor)
    ok = cand.value >= floor
    detail = f"{task}: {cand.value:.3f} {'>=' if ok else '<'} floor {floor:.3f} (no champion)"
    se = cand.stderr or 0.0
    return Check(
        f"accuracy/{task}",
        ok,
        detail,
        cand.value,
        floor,
        cand.value - floor,
        cand.value - 1.96 * se,
        cand.value + 1.96 * se,
    )


def perf_checks(cand: list[Perf], champ: list[Perf] | None, cfg: VerdictConfig) -> list[Check]:
    out = []
    for p in cand:
        if p.failed:
            out.append(
                Check(
                    f"perf/c{p.concurrency}/failed",
                    False,
                    f"benchmark at concurrency {p.concurrency}: {p.failed} failed requests",
                    p.failed,
                )
            )
    base = {p.concurrency: p for p in champ or []}
    for p in cand:
        b = base.get(p.concurrency)
        if b is None:
            continue
        drop_pct = 100 * (b.output_throughput - p.output_throughput) / b.output_throughput if b.output_throughput else 0
        ok = drop_pct <= cfg.max_throughput_drop_pct
        out.append(
            Check(
                f"perf/c{p.concurrency}/output_throughput",
                ok,
                f"output throughput at concurrency {p.concurrency}: {p.output_throughput:.0f} vs "
                f"{b.output_throughput:.0f} tok/s ({-drop_pct:+.1f}%, limit -{cfg.max_throughput_drop_pct:.0f}%)",
                p.output_throughput,
                b.output_throughput,
                p.output_throughput - b.output_throughput,
            )
        )
        rise_pct = 100 * (p.ttft_p99_ms - b.ttft_p99_ms) / b.ttft_p99_ms if b.ttft_p99_ms else 0
        ok = rise_pct <= cfg.max_latency_increase_pct
        out.append(
            Check(
                f"perf/c{p.concurrency}/ttft_p99",
                ok,
                f"TTFT p99 at concurrency {p.concurrency}: {p.ttft_p99_ms:.1f} vs {b.ttft_p99_ms:.1f} ms "
                f"({rise_pct:+.1f}%, limit +{cfg.max_latency_increase_pct:.0f}%)",
                p.ttft_p99_ms,
                b.ttft_p99_ms,
                p.ttft_p99_ms - b.ttft_p99_ms,
            )
        )
    return out


def decide(
    candidate: dict[str, Score],
    perf: list[Perf],
    cfg: VerdictConfig,
    champion: dict[str, Score] | None = None,
    champion_perf: list[Perf] | None = None,
    champion_label: str = "champion",
) -> Verdict:
    """Judge ``candidate`` (task -> Score) and its sweep against the champion."""
    checks: list[Check] = []
    for task, score in sorted(candidate.items()):
        if champion and task in champion:
            checks.append(accuracy_check(task, score, champion[task], cfg))
        else:
            checks.append(floor_check(task, score, cfg))
    checks += perf_checks(perf, champion_perf if champion else None, cfg)
    return Verdict(all(c.passed for c in checks), champion_label if champion else "floors", checks)
