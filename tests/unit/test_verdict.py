import pytest

from airlock.config import VerdictConfig
from airlock.verdict import Perf, Score, decide, paired_bootstrap

CFG = VerdictConfig()


def _samples(correct: int, n: int = 50) -> dict[str, float]:
    return {str(i): 1.0 if i < correct else 0.0 for i in range(n)}


def _score(correct: int, n: int = 50) -> Score:
    p = correct / n
    return Score(p, (p * (1 - p) / (n - 1)) ** 0.5, n, _samples(correct, n))


PERF = [Perf(1, 300.0, 20.0), Perf(16, 2000.0, 80.0)]


def test_no_champion_uses_floors():
    v = decide({"gen": _score(50), "mc": _score(48)}, PERF, CFG)
    assert v.passed and v.against == "floors"
    v = decide({"gen": _score(9)}, PERF, CFG)
    assert not v.passed and "gen: 0.180 < floor 0.500 (no champion)" in v.reasons[0]


def test_regressed_candidate_rejected_with_an_accuracy_reason():
    v = decide(
        {"gen": _score(9), "mc": _score(28)}, PERF, CFG, {"gen": _score(50), "mc": _score(50)}, PERF, "champion v1"
    )
    assert not v.passed and v.against == "champion v1"
    assert any("gen: 0.180 vs champion 1.000" in r and "regression" in r for r in v.reasons)


def test_equal_candidate_passes_and_small_drop_is_tolerated():
    v = decide({"gen": _score(48)}, PERF, CFG, {"gen": _score(49)}, PERF)
    assert v.passed and v.reasons == ["every check passed against champion"]


def test_large_but_noisy_drop_needs_significance():
    champ = Score(0.8, 0.2, 5)
    cand = Score(0.6, 0.2, 5)  # drop 0.2 > tolerance, but se ~0.28
    v = decide({"t": cand}, [], CFG, {"t": champ}, [])
    assert v.passed and "not significant" in v.checks[0].detail


def test_paired_bootstrap_knows_an_exact_drop():
    drop, lo, hi, p = paired_bootstrap(_samples(50), _samples(40), 500)
    assert drop == pytest.approx(0.2) and p == 0.0 and lo <= 0.2 <= hi


def test_throughput_and_latency_regressions_and_failed_requests():
    slow = [Perf(1, 150.0, 20.0), Perf(16, 2000.0, 200.0, failed=3)]
    v = decide({"gen": _score(50)}, slow, CFG, {"gen": _score(50)}, PERF)
    text = "\n".join(v.reasons)
    assert not v.passed
    assert "output throughput at concurrency 1: 150 vs 300 tok/s (-50.0%" in text
    assert "TTFT p99 at concurrency 16: 200.0 vs 80.0 ms" in text
    assert "3 failed requests" in text


def test_serialisable():
    import json

    json.dumps(decide({"gen": _score(50)}, PERF, CFG).as_dict())
