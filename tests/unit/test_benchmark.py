"""Repeated sweep points are recorded as their medians."""

from airlock.benchmark import SweepPoint, median_point


def _p(tp: float, ttft: float, goodput: float | None = 1.0) -> SweepPoint:
    return SweepPoint(
        concurrency=4,
        completed=10,
        failed=0,
        request_throughput=tp / 10,
        output_throughput=tp,
        request_goodput=goodput,
        ttft_mean_ms=ttft,
        ttft_p50_ms=ttft,
        ttft_p99_ms=ttft * 2,
        tpot_mean_ms=3,
        tpot_p50_ms=3,
        tpot_p99_ms=4,
        itl_mean_ms=3,
        itl_p50_ms=3,
        itl_p99_ms=4,
        e2el_mean_ms=100,
        e2el_p50_ms=100,
        e2el_p99_ms=120,
        num_prompts=10,
    )


def test_median_of_three_ignores_one_outlier_run():
    m = median_point([_p(1000, 20), _p(300, 400), _p(1100, 22)])
    assert m.output_throughput == 1000 and m.ttft_mean_ms == 22 and m.ttft_p99_ms == 44
    assert m.concurrency == 4 and m.completed == 30 and m.num_prompts == 30


def test_missing_goodput_stays_missing():
    assert median_point([_p(1, 1, None), _p(1, 1, 2.0)]).request_goodput is None
