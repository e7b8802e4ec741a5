"""Result gates with Great Expectations: results must be sane before they count.

A broken harness (a task silently missing, NaN scores, a benchmark whose
requests failed) must never turn into a verdict. The suites below run on
small pandas frames of the typed results, in an ephemeral GX context.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from airlock.errors import GateFailed
from airlock.payloads import SweepPoint, TaskScore


@dataclass
class GateResult:
    success: bool
    failures: list[str]
    raw: dict[str, Any]


def _validate(frame: Any, name: str, expectations: list[Any]) -> GateResult:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    batch_def = ctx.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = gx.ExpectationSuite(name=name)
    for e in expectations:
        suite.add_expectation(e)
    res: Any = batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    failures = []
    for r in res.results:
        if not r.success:
            cfg: Any = r.expectation_config
            cols = {k: v for k, v in cfg.kwargs.items() if k.startswith("column") or k == "value_set"}
            observed = {
                k: r.result[k]
                for k in ("observed_value", "unexpected_count", "partial_unexpected_list")
                if r.result.get(k) not in (None, [])
            }
            failures.append(f"{name}: {cfg.type} {cols} failed {observed}")
    return GateResult(bool(res.success), failures, res.to_json_dict())


def eval_gate(scores: list[TaskScore], tasks: list[str], expected_samples: dict[str, int]) -> GateResult:
    import great_expectations.expectations as gxe
    import pandas as pd

    frame = pd.DataFrame(
        [
            {
                "task": s.task,
                "value": s.value,
                "stderr": s.stderr,
                "n": s.n,
                "expected_n": expected_samples.get(s.task, s.n),
            }
            for s in scores
        ]
        or [{"task": None, "value": None, "stderr": None, "n": 0, "expected_n": 0}]
    )
    return _validate(
        frame,
        "accuracy_results",
        [
            gxe.ExpectColumnDistinctValuesToContainSet(column="task", value_set=list(tasks)),
            gxe.ExpectColumnValuesToBeUnique(column="task"),
            gxe.ExpectColumnValuesToNotBeNull(column="value"),
            gxe.ExpectColumnValuesToBeBetween(column="value", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="stderr", min_value=0, max_value=1, mostly=1.0),
            gxe.ExpectColumnValuesToBeBetween(column="n", min_value=1),
            gxe.ExpectColumnPairValuesToBeEqual(column_A="n", column_B="expected_n"),
        ],
    )


def bench_gate(points: list[SweepPoint], concurrencies: list[int]) -> GateResult:
    import great_expectations.expectations as gxe
    import pandas as pd

    frame = pd.DataFrame(
        [p.as_dict() for p in points]
        or [
            {
                "concurrency": None,
                "completed": 0,
                "failed": 0,
                "num_prompts": 1,
                "request_throughput": 0,
                "output_throughput": 0,
            }
        ]
    )
    return _validate(
        frame,
        "benchmark_results",
        [
            gxe.ExpectColumnDistinctValuesToContainSet(column="concurrency", value_set=list(concurrencies)),
            gxe.ExpectColumnValuesToBeBetween(column="failed", min_value=0, max_value=0),
            gxe.ExpectColumnPairValuesToBeEqual(column_A="completed", column_B="num_prompts"),
            gxe.ExpectColumnValuesToBeBetween(column="request_throughput", min_value=0, strict_min=True),
            gxe.ExpectColumnValuesToBeBetween(column="output_throughput", min_value=0, strict_min=True),
        ],
    )


def enforce(*results: GateResult) -> None:
    """GateFailed naming every failed expectation of every result."""
    failures = [f for r in results for f in r.failures]
    if failures:
        raise GateFailed("result gate failed:\n  - " + "\n  - ".join(failures))
