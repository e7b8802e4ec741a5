"""The verdict as the decide step reports it: from typed results and a champion's recorded
evidence to the verdict and the reviewer's page. Pure, no MLflow."""

from __future__ import annotations

import math

from airlock import report
from airlock.config import VerdictConfig
from airlock.gate import judge, measured
from airlock.payloads import AccuracyResult, TaskScore
from tests.unit.test_benchmark import perf_result


def _score(task: str, correct: int, n: int = 50) -> TaskScore:
    p = correct / n
    return TaskScore(
        task=task,
        metric="acc,none",
        value=p,
        stderr=math.sqrt(p * (1 - p) / (n - 1)),
        n=n,
        samples={str(i): 1.0 if i < correct else 0.0 for i in range(n)},
    )


def _evidence(scores: list[TaskScore]):
    """What tracking.runs.evidence reads back from a champion's run."""
    return [s.summary() for s in scores], {s.task: s.samples for s in scores}


CHAMP = _evidence([_score("gen", 50), _score("mc", 48)])
STEADY = perf_result({1: [300.0, 290.0, 310.0], 16: [2000.0, 1900.0, 2100.0]})


def test_with_no_champion_the_floors_decide():
    v = judge([_score("gen", 50), _score("mc", 40)], STEADY, VerdictConfig())
    assert v.passed and v.against == "floors" and v.reasons == ["every check passed against floors"]
    v = judge([_score("gen", 9)], STEADY, VerdictConfig())
    (reason,) = v.reasons
    assert not v.passed and reason.startswith("gen: 0.180 < floor 0.500 (no champion)")


def test_a_regression_against_the_champion_is_named_with_its_evidence():
    cand = [_score("gen", 9), _score("mc", 47)]
    v = judge(cand, STEADY, VerdictConfig(), CHAMP, "champion v3")
    assert not v.passed and v.against == "champion v3"
    (reason,) = v.reasons
    assert reason.startswith("gen: 0.180 vs champion 1.000 (delta -0.820") and "sequential paired test" in reason
    assert "regression" in reason
    mc = next(c for c in v.checks if c.name == "accuracy/mc")
    assert mc.passed and mc.baseline == 0.96


def test_a_throughput_collapse_is_a_performance_reason():
    cand = [_score("gen", 50), _score("mc", 48)]
    slow = perf_result({1: [100.0, 101.0, 99.0]}, {1: [300.0, 310.0, 290.0]})
    v = judge(cand, slow, VerdictConfig(), CHAMP, "champion v3")
    assert not v.passed
    assert [r.split(" (")[0] for r in v.reasons] == [
        "output throughput at concurrency 1: 0.33x champion v1",
        "goodput at concurrency 1: 0.33x champion v1",
    ]


def test_the_report_shows_the_verdict_its_reasons_and_every_check(tmp_path):
    cand = [_score("gen", 9), _score("mc", 47)]
    perf = perf_result(
        {1: [290.0, 300.0, 280.0], 16: [1900.0, 1950.0, 1850.0]},
        {1: [300.0, 300.0, 300.0], 16: [2000.0, 2000.0, 2000.0]},
        ttft={16: ([170.0, 175.0, 165.0], [80.0, 80.0, 80.0])},
    )
    verdict = judge(cand, perf, VerdictConfig(), CHAMP, "champion v3").as_dict()
    html_path, png_path = report.write(
        tmp_path,
        model="tiny",
        digest="d" * 64,
        version="4",
        verdict=verdict,
        perf=perf,
        links={"Airflow run": "http://af/run", "MLflow run": "http://ml/run"},
        measured=measured(
            AccuracyResult(
                scores=cand,
                raw={
                    "suite": "s",
                    "chat_template_sha256": "c" * 64,
                    "chat_tasks": ["gen"],
                    "generation": {"gen": {"max_gen_toks": 192, "until": ["<|im_end|>"]}},
                },
            ),
            {"suite": "s"},
        ),
    )
    page = html_path.read_text()
    assert "c" * 64 in page and "max_gen_toks=192" in page and "chat (template applied by the server)" in page
    assert "<td>mc</td><td>acc,none</td><td>50</td><td>completions</td>" in page
    assert "<b>FAIL</b> against champion v3" in page
    assert "gen: 0.180 vs champion 1.000" in page
    assert page.count("<tr class=bad>") == 2 and "accuracy/mc" in page and "<td>perf/c16/ttft_p50</td>" in page
    assert "median TTFT at concurrency 16: 2.12x champion v1" in page and "Against <b>champion v1</b>" in page
    assert "<td>perf/c1/slo_attainment</td>" in page
    assert "href='http://af/run'" in page and "data:image/png;base64," in page
    assert png_path.read_bytes().startswith(b"\x89PNG")
