"""The dispatchers' logic: one run per version, refused events named, no event lost to the window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from airlock import dispatch
from airlock.dispatch import AIRFLOW_EXTRA_KEYS, DispatchRequest, Event, plan_candidates, plan_verdicts
from airlock.errors import InvalidRequest
from airlock.payloads import parse

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
AIRFLOW_RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]+$")  # [core] allowed_run_id_pattern's default


def candidate(digest: str, model: str = "m1", **more) -> dict:
    return {"model": model, "digest": digest, "manifest_uri": "s3://b/k", "revision": "r", "mlflow_run_id": "0", **more}


def verdict(digest: str, passed: bool = True, model: str = "m1") -> dict:
    return {
        "model": model,
        "digest": digest,
        "manifest_uri": "s3://b/k",
        "model_version": "3",
        "verdict": "pass" if passed else "fail",
        "passed": passed,
        "reasons": [],
        "mlflow_run_id": "0",
        "mlflow_run_url": "http://mlflow",
        "report": "s3://b/report.html",
    }


def events(*extras: dict) -> list[Event]:
    return [Event(id=i, timestamp=T0 + timedelta(milliseconds=i), extra=x) for i, x in enumerate(extras, 1)]


def test_every_event_gets_its_own_run_id_and_conf_in_order():
    plan = plan_candidates(events(candidate("a" * 64), candidate("b" * 64), candidate("c" * 64, model="m2")))
    assert [t.trigger_run_id for t in plan.triggers] == [
        f"candidate__m1__{'a' * 64}",
        f"candidate__m1__{'b' * 64}",
        f"candidate__m2__{'c' * 64}",
    ]
    assert plan.triggers[2].conf == {"model": "m2", "digest": "c" * 64}
    assert plan.invalid == [] and plan.ignored == []
    assert all(AIRFLOW_RUN_ID.match(t.trigger_run_id) and len(t.trigger_run_id) <= 250 for t in plan.triggers)


def test_events_are_planned_oldest_first_whatever_order_they_are_read_in():
    read = list(reversed(events(candidate("a" * 64), candidate("b" * 64))))
    assert [t.conf["digest"] for t in plan_candidates(read).triggers] == ["a" * 64, "b" * 64]


def test_the_same_version_twice_is_one_run():
    plan = plan_candidates(events(candidate("a" * 64), candidate("a" * 64, revision="other")))
    assert [t.trigger_run_id for t in plan.triggers] == [f"candidate__m1__{'a' * 64}"]


def test_airflows_own_key_is_dropped_before_validation():
    assert "from_rest_api" in AIRFLOW_EXTRA_KEYS
    plan = plan_candidates(events(candidate("a" * 64, from_rest_api=True)))
    assert len(plan.triggers) == 1 and plan.invalid == []


def test_a_bad_event_is_named_and_does_not_block_its_neighbours():
    plan = plan_candidates(
        events(
            candidate("a" * 64),
            candidate("b" * 64, surprise=1, from_rest_api=True),
            {k: v for k, v in candidate("c" * 64).items() if k != "manifest_uri"},
            candidate("not-a-digest"),
            candidate("d" * 64),
        )
    )
    assert [t.conf["digest"] for t in plan.triggers] == ["a" * 64, "d" * 64]
    assert len(plan.invalid) == 3
    surprise, missing, digest = plan.invalid
    assert "airlock_candidate event 2 of 2026-11-30T08:00:00.002000+00:00" in surprise
    assert "surprise: Extra inputs are not permitted" in surprise and "from_rest_api" not in surprise
    assert "manifest_uri: Field required" in missing
    assert "digest: String should match pattern" in digest
    with pytest.raises(InvalidRequest, match=r"3 asset event\(s\) refused; every valid event was dispatched") as exc:
        dispatch.refuse(plan.invalid)
    assert "surprise" in str(exc.value) and "manifest_uri" in str(exc.value)


def test_no_refused_event_no_failure():
    dispatch.refuse([])


def test_an_event_names_where_it_came_from():
    ev = Event(id=7, timestamp=T0, extra={}, source="model_intake/manual__x/record")
    plan = plan_candidates([ev])
    assert "event 7 of 2026-11-30T08:00:00+00:00 (from model_intake/manual__x/record)" in plan.invalid[0]
    assert "model: Field required" in plan.invalid[0] and "digest: Field required" in plan.invalid[0]
    assert "made in the UI or through the REST API" in Event(id=8, timestamp=T0).label()


def test_only_passed_verdicts_are_promoted():
    plan = plan_verdicts(events(verdict("a" * 64), verdict("b" * 64, passed=False)), auto_promote=True)
    assert [t.trigger_run_id for t in plan.triggers] == [f"verdict__m1__{'a' * 64}"]
    assert plan.triggers[0].conf == {"model": "m1", "digest": "a" * 64}
    assert len(plan.ignored) == 1 and "'fail', not a pass" in plan.ignored[0]


def test_no_promotion_when_auto_promote_is_off():
    plan = plan_verdicts(events(verdict("a" * 64)), auto_promote=False)
    assert plan.triggers == [] and "auto_promote is false" in plan.ignored[0]


def test_a_bad_verdict_event_is_refused_by_name():
    plan = plan_verdicts(events({**verdict("a" * 64), "verdict": "maybe"}), auto_promote=True)
    assert plan.triggers == [] and "verdict: Input should be 'pass' or 'fail'" in plan.invalid[0]


def test_run_ids_refuse_what_is_not_a_name_and_a_digest():
    assert dispatch.verdict_run_id("m.1_x-y", "e" * 64) == f"verdict__m.1_x-y__{'e' * 64}"
    with pytest.raises(InvalidRequest):
        dispatch.candidate_run_id("../x", "e" * 64)
    with pytest.raises(InvalidRequest):
        dispatch.candidate_run_id("m", "E" * 64)


def test_the_window_starts_at_the_oldest_triggering_event():
    """Airflow attaches to a run the events after the previous asset-triggered run's queue time; the
    ones that arrived after this run's own queue entry it attaches to no run: reading from the oldest
    triggering event up to now takes both."""
    run_after = T0 + timedelta(seconds=5)
    assert dispatch.window_start([T0 + timedelta(seconds=2), T0], run_after) == T0


def test_a_run_no_event_triggered_looks_back_a_day():
    assert dispatch.window_start([], T0) == T0 - timedelta(hours=24)


def test_since_overrides_the_window():
    assert dispatch.window_start([T0], T0, since="2026-11-01T00:00:00+01:00") == datetime(
        2026, 10, 31, 23, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("since", ["yesterday", "2026-11-01T00:00:00"])
def test_a_bad_since_is_refused_by_the_form(since):
    with pytest.raises(InvalidRequest, match="since"):
        parse(DispatchRequest, {"since": since}, "candidate_dispatch request")
    assert parse(DispatchRequest, {"since": ""}, "form").since == ""


def test_the_plan_travels_as_json():
    plan = plan_candidates(events(candidate("a" * 64), candidate("b" * 64, surprise=1)))
    wire = plan.model_dump(mode="json")
    assert wire["triggers"] == [
        {"trigger_run_id": f"candidate__m1__{'a' * 64}", "conf": {"model": "m1", "digest": "a" * 64}}
    ]
    assert parse(dispatch.DispatchPlan, wire, "xcom") == plan
