from airlock.bake import NodeSignal, judge, quantile
from airlock.config import BakeConfig

FAST = {0.01: 90.0, 0.02: 100.0, float("inf"): 100.0}
SLOW = {0.01: 0.0, 0.1: 50.0, 0.5: 100.0, float("inf"): 100.0}


def test_quantile_interpolates_like_histogram_quantile():
    assert quantile(0.5, {1.0: 10.0, 2.0: 20.0, float("inf"): 20.0}) == 1000.0
    assert abs(quantile(0.95, FAST) - 15.0) < 1e-9
    assert quantile(0.95, {}) is None


def test_healthy_canary_passes():
    r = judge(NodeSignal(100, 0, FAST), [NodeSignal(100, 0, FAST)], BakeConfig())
    assert r.passed and r.reasons == ["canary within limits"]


def test_latency_and_error_breaches_are_named():
    r = judge(NodeSignal(100, 10, SLOW), [NodeSignal(100, 0, FAST)], BakeConfig())
    text = " ".join(r.reasons)
    assert not r.passed and "error rate 10.0%" in text and "above the fleet's" in text
    r = judge(NodeSignal(100, 0, FAST), [NodeSignal(100, 0, FAST)], BakeConfig(max_ttft_p95_ms=5))
    assert not r.passed and "ceiling 5.0 ms" in r.reasons[0]


def test_small_absolute_rises_are_noise():
    fast2 = {0.01: 50.0, 0.05: 100.0, float("inf"): 100.0}  # p95 ~45 ms vs ~15 ms: +200% but +30 ms
    assert judge(NodeSignal(100, 0, fast2), [NodeSignal(100, 0, FAST)], BakeConfig()).passed


def test_thin_traffic_passes_unless_required():
    assert judge(NodeSignal(2, 1, SLOW), [], BakeConfig()).passed
    r = judge(NodeSignal(2, 1, SLOW), [], BakeConfig(require_traffic=True))
    assert not r.passed and "too little traffic" in r.reasons[0]
