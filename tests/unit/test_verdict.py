import pytest

from airlock import sequential as sq
from airlock.config import VerdictConfig
from airlock.verdict import Score, decide
from tests.unit.test_benchmark import perf_result

CFG = VerdictConfig()


def _samples(correct: int, n: int = 50) -> dict[str, float]:
    return {str(i): 1.0 if i < correct else 0.0 for i in range(n)}


def _score(correct: int, n: int = 50) -> Score:
    p = correct / n
    return Score(p, (p * (1 - p) / (n - 1)) ** 0.5, n, _samples(correct, n))


PERF = perf_result({1: [300.0] * 3, 16: [2000.0] * 3})


def test_no_champion_uses_floors():
    v = decide({"gen": _score(50), "mc": _score(48)}, PERF, CFG)
    assert v.passed and v.against == "floors"
    v = decide({"gen": _score(9)}, PERF, CFG)
    assert not v.passed and "gen: 0.180 < floor 0.500 (no champion)" in v.reasons[0]


def test_regressed_candidate_rejected_with_an_accuracy_reason():
    v = decide({"gen": _score(9), "mc": _score(28)}, PERF, CFG, {"gen": _score(50), "mc": _score(50)}, "champion v1")
    assert not v.passed and v.against == "champion v1"
    assert any("gen: 0.180 vs champion 1.000" in r and "regression" in r for r in v.reasons)


def test_equal_candidate_passes_and_small_drop_is_tolerated():
    v = decide({"gen": _score(48)}, PERF, CFG, {"gen": _score(49)})
    assert v.passed and v.reasons == ["every check passed against champion"]


def test_large_but_noisy_drop_needs_significance():
    champ = Score(0.8, 0.2, 5)
    cand = Score(0.6, 0.2, 5)  # drop 0.2 > tolerance, but se ~0.28
    v = decide({"t": cand}, None, CFG, {"t": champ})
    assert v.passed and "not significant" in v.checks[0].detail


def test_throughput_and_latency_regressions_and_failed_requests():
    # c1: half the throughput in every round (a regression); c16: TTFT 2.5x, and 3 failed requests
    slow = perf_result(
        {1: [150.0, 152.0, 149.0], 16: [2000.0, 2010.0, 1990.0]},
        {1: [300.0, 301.0, 299.0], 16: [2000.0, 2000.0, 2000.0]},
        ttft={16: ([200.0, 210.0, 190.0], [80.0, 81.0, 79.0])},
        failed={16: 1},  # one per round
    )
    v = decide({"gen": _score(50)}, slow, CFG, {"gen": _score(50)})
    text = "\n".join(v.reasons)
    assert not v.passed
    assert "output throughput at concurrency 1: 0.50x champion v1 (90% CI [0.50, 0.51] over 3" in text
    assert "median TTFT at concurrency 16: 2.50x champion v1" in text
    assert "3 failed requests" in text
    assert len(v.reasons) == 4  # throughput and goodput at c1, TTFT and failures at c16; nothing else


def test_a_noisy_drop_is_not_a_regression_and_slo_attainment_is_required():
    noisy = perf_result({1: [50.0, 160.0, 60.0]}, {1: [100.0, 100.0, 100.0]})
    v = decide({"gen": _score(50)}, noisy, CFG)
    assert v.passed, v.reasons
    tput = next(c for c in v.checks if c.name == "perf/c1/output_throughput")
    assert "not shown beyond the allowance" in tput.detail and tput.ci_low < 0.7 < tput.ci_high
    late = perf_result({1: [300.0] * 3}, goodput_share=0.5)  # half the requests miss the SLOs
    (reason,) = decide({"gen": _score(50)}, late, CFG).reasons
    assert reason.startswith("requests within the SLOs at concurrency 1: 50% (< 90%")


def test_no_request_within_the_slos_is_a_goodput_regression():
    late = perf_result({1: [300.0] * 3}, {1: [300.0] * 3}, goodput_share=0.0, base_goodput_share=1.0)
    v = decide({"gen": _score(50)}, late, CFG)
    assert v.reasons == [
        "requests within the SLOs at concurrency 1: 0% (< 90%; goodput 0.00 of 30.00 req/s)",
        "goodput at concurrency 1: 0.00 vs 30.00 req/s for champion v1; no request met the SLOs — regression",
    ]


def test_serialisable():
    import json

    json.dumps(decide({"gen": _score(50)}, PERF, CFG).as_dict())


# --- the group-sequential design (airlock.sequential) and its use by the verdict ---

CFG5 = VerdictConfig(min_effect=0.05)  # the new default minimum effect, whatever the config's default is
PLAN = sq.looks(sq.recommend_n_max(0.05, 0.05))  # [100, 200, 400, n_max]
TOL = 0.05 * CFG5.tolerance_fraction


def _pair(n: int, worse: int = 0, better: int = 0, per: int = 100, acc: int = 70) -> tuple[dict, dict]:
    """Champion right on ``acc`` of every ``per`` docs; the candidate loses ``worse`` of those
    and gains ``better`` of the wrong ones, spread evenly (deterministic churn)."""
    champ, cand = {}, {}
    for i in range(n):
        j = i * 37 % per  # 37 is prime to 100: every prefix is spread over the pattern
        champ[str(i)] = 1.0 if j < acc else 0.0
        cand[str(i)] = 0.0 if j < worse else 1.0 if acc <= j < acc + better else champ[str(i)]
    return champ, cand


def _walk(champ: dict, cand_all: dict, floor: float | None = None) -> list[sq.NextLook]:
    """Run the evaluation loop the way the caller does: score prefixes, ask after each chunk."""
    steps, n = [], 0
    while True:
        cand = {k: cand_all[k] for k in list(cand_all)[:n]}
        step = sq.next_look(champ, cand, PLAN, min_effect=0.05, alpha=0.05, tolerance=TOL, floor=floor)
        steps.append(step)
        if not step.go_on:
            return steps
        n = step.next_n or n


def test_plan_and_boundaries():
    assert PLAN[:3] == [100, 200, 400] and sq.fixed_n(0.05) < PLAN[-1] < 1.2 * sq.fixed_n(0.05)
    assert sq.looks(50) == [50] and sq.looks(800) == [100, 200, 400, 800]
    assert sq.boundaries((1.0,), 0.05)[0] == pytest.approx(1.645, abs=1e-3)
    c = sq.boundaries(tuple(m / PLAN[-1] for m in PLAN), 0.05)
    assert list(c) == sorted(c, reverse=True) and 1.645 < c[-1] < 1.8  # the last look pays a little for the early ones
    assert sq.recommend_n_max(0.25, 0.05) <= 60  # the old 25-point effect needed the old 50 docs
    assert sq.design_power(PLAN[-1], 0.05, 0.05, sq.CHURN) >= sq.POWER
    with pytest.raises(ValueError):
        sq.looks(0)


def test_exact_zero_differences_pass_at_the_first_look():
    champ, cand = _pair(PLAN[-1])
    d = sq.paired(champ, {k: champ[k] for k in list(champ)[:100]}, PLAN, 0.05, 0.05, TOL)
    assert d.outcome == "pass" and d.look == 1 and d.n == 100 and d.estimate == 0 and 0 < d.high < 0.05
    steps = _walk(champ, cand)
    assert [s.go_on for s in steps] == [True, False] and steps[-1].decision.n == 100


def test_clear_20_point_drop_is_a_regression_at_the_first_look():
    champ, cand = _pair(PLAN[-1], worse=20)
    steps = _walk(champ, cand)
    d = steps[-1].decision
    assert d.outcome == "regression" and d.look == 1 and d.estimate == pytest.approx(0.2) and d.low > 0


def test_two_point_drop_with_high_churn_continues_then_passes():
    champ, cand = _pair(PLAN[-1], worse=12, better=10)  # 12% right->wrong, 10% wrong->right
    steps = _walk(champ, cand)
    assert [s.decision.outcome for s in steps[1:]] == ["continue", "continue", "continue", "pass"]
    d = steps[-1].decision
    assert d.final and d.n == PLAN[-1] and d.low < 0 < d.estimate < TOL < d.high  # not significant: pass


def test_floor_design():
    right = {str(i): 1.0 for i in range(PLAN[-1])}
    assert _walk(None, right, floor=0.5)[-1].decision.outcome == "pass"
    low = {str(i): float(i % 10 < 3) for i in range(PLAN[-1])}
    d = _walk(None, low, floor=0.5)[-1].decision
    assert d.outcome == "fail" and d.look == 1 and d.high < 0.5
    for acc, outcome in ((51, "pass"), (49, "fail")):  # near the floor: the last look decides on the mean
        x = {str(i): float(i * 37 % 100 < acc) for i in range(PLAN[-1])}
        d = _walk(None, x, floor=0.5)[-1].decision
        assert d.final and d.outcome == outcome


def test_degenerate_inputs():
    with pytest.raises(ValueError):
        sq.paired({"a": 1.0}, {"b": 1.0}, PLAN, 0.05, 0.05, TOL)  # nothing shared
    with pytest.raises(ValueError):
        sq.next_look(None, {}, PLAN, min_effect=0.05, alpha=0.05, tolerance=TOL)  # neither champion nor floor
    with pytest.raises(ValueError):
        sq.next_look({}, {}, PLAN, min_effect=0.05, alpha=0.05, tolerance=TOL)  # a champion without per-doc scores
    one = sq.paired({"a": 1.0}, {"a": 0.0}, PLAN, 0.05, 0.05, TOL, final=True)
    assert one.outcome == "pass" and one.n == 1  # one lost doc proves nothing
    same = sq.against_floor({"a": 1.0, "b": 1.0}, [2], 0.5, 0.05)
    assert same.final and same.outcome in ("pass", "fail")
    # fewer than 10 shared docs: the verdict falls back on the stderrs
    small = Score(0.5, 0.1, 5, {str(i): 1.0 for i in range(5)})
    assert "z-test on stderr" in decide({"t": small}, [], CFG5, {"t": small}, []).checks[0].detail


def test_next_look_helper():
    champ, cand = _pair(PLAN[-1], worse=12, better=10)
    first = sq.next_look(champ, {}, PLAN, min_effect=0.05, alpha=0.05, tolerance=TOL)
    assert first.go_on and first.next_n == 100 and first.decision.outcome == "continue"
    at100 = sq.next_look(
        champ, {k: cand[k] for k in list(cand)[:100]}, PLAN, min_effect=0.05, alpha=0.05, tolerance=TOL
    )
    assert at100.go_on and at100.next_n == 200 and at100.decision.look == 1
    # a champion recorded on 150 docs only: the next look is capped, then the decision is final
    short = {k: champ[k] for k in list(champ)[:150]}
    at100 = sq.next_look(
        short, {k: cand[k] for k in list(cand)[:100]}, PLAN, min_effect=0.05, alpha=0.05, tolerance=TOL
    )
    assert at100.next_n == 150
    end = sq.next_look(short, {k: cand[k] for k in list(cand)[:150]}, PLAN, min_effect=0.05, alpha=0.05, tolerance=TOL)
    assert not end.go_on and end.decision.final and end.decision.outcome == "pass"


@pytest.mark.parametrize("min_effect", [0.25, 0.05])
def test_verdict_uses_the_sequential_decision(min_effect):
    cfg = VerdictConfig(min_effect=min_effect)
    champ, cand = _pair(400, worse=20)
    v = decide({"t": _from(cand)}, [], cfg, {"t": _from(champ)}, [], plan=PLAN)
    assert not v.passed and "t: 0.500 vs champion 0.700" in v.reasons[0] and "regression" in v.reasons[0]
    assert "look 3/4" in v.reasons[0] and v.checks[0].ci_high < 0
    same = decide({"t": _from(champ)}, [], cfg, {"t": _from(champ)}, [], plan=PLAN)
    assert same.passed and "look 3/4" in same.checks[0].detail and "with confidence" in same.checks[0].detail


def _from(x: dict) -> Score:
    m = sum(x.values()) / len(x)
    return Score(m, (m * (1 - m) / len(x)) ** 0.5, len(x), x)
