"""The benchmark's rounds: medians of repeated runs, ratio intervals, and the interleaved schedule
that stops a sweep point once every figure is decided (vLLM itself is stubbed out here; the
integration tests run it)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from airlock import benchmark
from airlock.benchmark import SweepPoint, median_point
from airlock.config import load_config
from airlock.payloads import PerformanceResult


def _p(tp: float, ttft: float, goodput: float | None = 1.0, c: int = 4, failed: int = 0) -> SweepPoint:
    return SweepPoint(
        concurrency=c,
        completed=10,
        failed=failed,
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


def perf_result(
    cand: dict[int, list[float]],
    base: dict[int, list[float]] | None = None,
    ttft: dict[int, tuple[list[float], list[float]]] | None = None,
    failed: dict[int, int] | None = None,
    goodput_share: float = 1.0,
    base_goodput_share: float | None = None,
) -> PerformanceResult:
    """A performance result from per-round throughputs per concurrency (baseline: the same),
    as :func:`benchmark.compare` builds it; goodput is that share of the request rate."""
    base = base or cand
    allowed = benchmark.allowances(load_config().verdict.model_copy(update={"max_throughput_drop_pct": 30}))
    pts, bpts, comps = [], [], []
    for c in cand:
        t_c, t_b = (ttft or {}).get(c, ([20.0] * len(cand[c]), [20.0] * len(base[c])))
        gb = goodput_share if base_goodput_share is None else base_goodput_share
        cr = [
            _p(x, t / 2, x / 10 * goodput_share, c, (failed or {}).get(c, 0)) for x, t in zip(cand[c], t_c, strict=True)
        ]
        br = [_p(x, t / 2, x / 10 * gb, c) for x, t in zip(base[c], t_b, strict=True)]
        pts.append(median_point(cr))
        bpts.append(median_point(br))
        comps.append(
            benchmark.PointComparison(concurrency=c, rounds=len(cr), figures=benchmark.ratios(cr, br, allowed))
        )
    label = "re-run" if base is cand else "champion v1"  # the same dict: the candidate's re-runs
    return PerformanceResult(points=pts, raws=[], baseline=label, baseline_points=bpts, comparisons=comps)


def test_ratios_judge_each_figure_and_leave_out_one_with_no_positive_round():
    allowed = {"output_throughput": 0.3, "request_goodput": 0.3, "ttft_p50_ms": 0.5}
    same = [_p(100, 10), _p(102, 10), _p(98, 10)]
    figs = {f.figure: f for f in benchmark.ratios(same, same, allowed)}
    assert set(figs) == {"output_throughput", "request_goodput", "ttft_p50_ms"}
    assert all(f.outcome == "pass" and f.low == f.high == 1.0 for f in figs.values())
    none_good = [_p(100, 10, 0.0) for _ in range(3)]
    assert "request_goodput" not in {f.figure for f in benchmark.ratios(none_good, same, allowed)}
    assert benchmark.ratios(same[:1], same[:1], allowed) == []  # one round: no interval yet


class _Runs:
    """Stands in for the benchmark process: each node answers with its own throughput per round."""

    def __init__(self, speed: dict[str, list[float]]) -> None:
        self.speed, self.calls = speed, []

    @contextmanager
    def session(self, cfg, tokenizer_dir, work_dir):
        runs = self

        class S:
            def run(self, base_url, served_model, concurrency, tag, seed=0):
                runs.calls.append((concurrency, base_url, tag))
                k = sum(1 for c, u, _ in runs.calls if u == base_url and c == concurrency) - 1
                return _p(runs.speed[base_url][k], 10, 1.0, concurrency), {"tag": tag}

        yield S()


def _compare(monkeypatch, speed: dict[str, list[float]], baseline_url: str | None, rounds: int = 5):
    cfg = load_config(
        environ={"AIRLOCK__BENCHMARK__CONCURRENCIES": "[1]", "AIRLOCK__BENCHMARK__MAX_ROUNDS": str(rounds)}
    )
    runs = _Runs(speed)
    monkeypatch.setattr(benchmark, "Session", runs.session)
    allowed = {"output_throughput": 0.3, "request_goodput": 0.3, "ttft_p50_ms": 0.5}
    res = benchmark.compare(cfg, "http://cand", baseline_url, "m", Path("."), Path("."), allowed, "champion v2")
    return res, runs.calls


def test_rounds_alternate_the_order_and_stop_once_every_figure_is_decided(monkeypatch):
    steady = [100.0, 101.0, 99.0, 100.0, 100.0]
    res, calls = _compare(monkeypatch, {"http://cand": steady, "http://champ": steady}, "http://champ")
    assert [u for _, u, _ in calls] == ["http://cand", "http://champ", "http://champ", "http://cand"] * 1 + [
        "http://cand",
        "http://champ",
    ]
    (comp,) = res.comparisons
    assert comp.rounds == 3 and all(f.outcome == "pass" for f in comp.figures)  # decided at 2, ran the minimum 3
    assert res.baseline == "champion v2" and len(res.raws) == 6 and res.points[0].completed == 30


def test_an_undecided_point_runs_to_max_rounds_and_no_champion_means_re_runs(monkeypatch):
    noisy = [100.0, 40.0, 160.0, 70.0, 130.0, 100.0, 60.0, 150.0, 90.0, 110.0]
    res, calls = _compare(monkeypatch, {"http://cand": noisy}, None, rounds=5)
    assert {u for _, u, _ in calls} == {"http://cand"} and len(calls) == 10
    (comp,) = res.comparisons
    assert comp.rounds == 5 and "undecided" in {f.outcome for f in comp.figures}
