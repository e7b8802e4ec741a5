"""The Great Expectations gates, on typed results (no services needed)."""

import math

import pytest

from airlock.benchmark import parse_result
from airlock.errors import GateFailed
from airlock.payloads import TaskScore
from airlock.quality import bench_gate, enforce, eval_gate

TASKS = ["gen", "mc"]


def _ts(task, metric, value, stderr, n):
    return TaskScore(task=task, metric=metric, value=value, stderr=stderr, n=n)


def _scores(**over):
    base = {"gen": _ts("gen", "exact_match,strip", 0.9, 0.04, 50), "mc": _ts("mc", "acc,none", 0.8, 0.05, 50)}
    base.update(over)
    return [s for s in base.values() if s is not None]


def _point(c=1, completed=50, failed=0, rt=10.0):
    return parse_result(
        {
            "completed": completed,
            "failed": failed,
            "request_throughput": rt,
            "output_throughput": rt * 32,
            "mean_ttft_ms": 10,
        },
        c,
        50,
    )


def test_good_results_pass():
    enforce(eval_gate(_scores(), TASKS, {"gen": 50, "mc": 50}), bench_gate([_point(1), _point(4)], [1, 4]))


@pytest.mark.parametrize(
    "over,needle",
    [
        ({"mc": None}, "expect_column_distinct_values_to_contain_set"),
        ({"gen": _ts("gen", "em", math.nan, None, 50)}, "expect_column_values_to_not_be_null"),
        ({"gen": _ts("gen", "em", 1.5, 0.0, 50)}, "expect_column_values_to_be_between"),
        ({"gen": _ts("gen", "em", 0.9, 0.04, 20)}, "expect_column_pair_values_to_be_equal"),
    ],
)
def test_bad_accuracy_results_fail_naming_the_expectation(over, needle):
    with pytest.raises(GateFailed) as e:
        enforce(eval_gate(_scores(**over), TASKS, {"gen": 50, "mc": 50}))
    assert needle in str(e.value) and "accuracy_results" in str(e.value)


def test_bench_failed_requests_or_zero_throughput_fail():
    r = bench_gate([_point(1, completed=47, failed=3), _point(4, rt=0.0)], [1, 4])
    text = "\n".join(r.failures)
    assert not r.success
    assert "'failed'" in text and "completed" in text and "request_throughput" in text


def test_missing_sweep_point_fails():
    assert not bench_gate([_point(1)], [1, 16]).success
