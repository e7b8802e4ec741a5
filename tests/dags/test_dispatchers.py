"""The dispatchers: the lifecycle DAGs are triggered once per Asset event, never scheduled on one.

The wiring is checked on the parsed DAGs; the behaviour with real ``dag.test()`` runs on
SQLite: Asset events are written to the metadata database, the dispatcher reads them through
the task SDK and triggers real (queued) runs of the lifecycle DAG.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.common import CANDIDATE, VERDICT

DISPATCH = {
    # dispatcher: (asset, trigger task, target DAG, run id prefix)
    "candidate_dispatch": (CANDIDATE, "trigger_evaluate", "model_evaluate", "candidate"),
    "verdict_dispatch": (VERDICT, "trigger_promote", "model_promote", "verdict"),
}


def _asset_names(dag) -> set[str]:
    return {a.name for a in dag.schedule} if isinstance(dag.schedule, list) else set()


def test_the_lifecycle_dags_are_not_asset_scheduled(dagbag):
    """Airflow folds events into one asset-triggered run (and drops some under max_active_runs=1):
    the one-at-a-time DAGs are triggered per event by a dispatcher instead."""
    for dag_id in ("model_evaluate", "model_promote"):
        dag = dagbag.dags[dag_id]
        assert dag.schedule is None and not _asset_names(dag), f"{dag_id} is scheduled on an Asset"
        assert dag.max_active_runs == 1


@pytest.mark.parametrize("dag_id", sorted(DISPATCH))
def test_a_dispatcher_reads_its_asset_and_triggers_one_run_per_event(dagbag, dag_id):
    asset, trigger_id, target, _ = DISPATCH[dag_id]
    dag = dagbag.dags[dag_id]
    assert _asset_names(dag) == {asset.name}  # the lineage stays: scheduled on the Asset (auto_promote: true)
    assert dag.max_active_runs > 1  # short, idempotent runs never wait behind each other
    assert asset in dag.get_task("list_events").inlets  # reads the events itself
    trig = dag.get_task(trigger_id)
    assert trig.partial_kwargs["trigger_dag_id"] == target
    assert trig.partial_kwargs["skip_when_already_exists"] is True  # an event read twice runs once
    assert trig.partial_kwargs["logical_date"] is None
    assert trig.partial_kwargs["wait_for_completion"] is False
    assert trig.upstream_task_ids == {"list_events"}
    # a refused event fails the run beside, never before, the valid events' triggers
    assert dag.get_task("refuse_invalid").upstream_task_ids == {"list_events"}
    assert target in dagbag.dags


# --- real runs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def synced(dagbag, airflow_db):
    """The DAGs and their Assets in the metadata database, as the dag-processor writes them."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(dagbag, "dags-folder", None)


def _emit(asset_name: str, extras: list[dict]) -> datetime:
    """Write Asset events as an emitter would; returns a time just before the first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    start = datetime.now(UTC) - timedelta(seconds=1)
    with create_session() as s:
        asset = s.scalar(select(AssetModel).where(AssetModel.name == asset_name))
        for i, extra in enumerate(extras):
            s.add(AssetEvent(asset_id=asset.id, extra=extra, timestamp=start + timedelta(milliseconds=10 * (i + 1))))
    return start


def _runs(dag_id: str, prefix: str) -> dict[str, dict]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as s:
        runs = s.scalars(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id.startswith(prefix)))
        return {r.run_id: dict(r.conf or {}) for r in runs}


def _tis(dr) -> dict[str, list]:
    out: dict[str, list] = {}
    for ti in dr.get_task_instances():
        out.setdefault(ti.task_id, []).append(ti)
    return out


def _xcom(dr, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as s:
        row = s.scalar(
            select(XComModel).where(
                XComModel.dag_id == dr.dag_id,
                XComModel.run_id == dr.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
        )
        return XComModel.deserialize_value(row)


def _candidate(model: str, digest: str, **more) -> dict:
    return {"model": model, "digest": digest, "manifest_uri": "s3://b/k", "revision": "r", "mlflow_run_id": "0", **more}


def test_a_burst_of_candidates_gets_one_evaluation_each_and_a_bad_one_fails_loudly(dagbag, synced):
    model, good = "dags-burst", ["1" * 64, "2" * 64, "3" * 64]
    extras = [_candidate(model, good[0]), _candidate(model, good[1], from_rest_api=True)]
    extras += [_candidate(model, "4" * 64, surprise=1), _candidate(model, good[2])]
    since = _emit(CANDIDATE.name, extras)

    dag = dagbag.dags["candidate_dispatch"]
    dr = dag.test(run_conf={"since": since.isoformat()})
    tis = _tis(dr)
    assert [ti.state for ti in tis["list_events"]] == ["success"]
    assert sorted(ti.state for ti in tis["trigger_evaluate"]) == ["success"] * 3
    assert {ti.rendered_map_index for ti in tis["trigger_evaluate"]} == {f"candidate__{model}__{d}" for d in good}
    # the bad event fails the run, naming its key, on the first try; its neighbours were triggered
    (refuse,) = tis["refuse_invalid"]
    assert dr.state == "failed" and refuse.state == "failed" and refuse.try_number == 1
    (why,) = _xcom(dr, "list_events", "invalid")
    assert "surprise: Extra inputs are not permitted" in why and "from_rest_api" not in why
    assert _runs("model_evaluate", f"candidate__{model}__") == {
        f"candidate__{model}__{d}": {"model": model, "digest": d} for d in good
    }

    # a second dispatcher run reading the same events triggers nothing twice
    again = dag.test(run_conf={"since": since.isoformat()})
    assert sorted(ti.state for ti in _tis(again)["trigger_evaluate"]) == ["skipped"] * 3
    assert len(_runs("model_evaluate", f"candidate__{model}__")) == 3


def test_only_passed_verdicts_are_dispatched_to_promotion(dagbag, synced):
    base = {"manifest_uri": "s3://b/k", "model_version": "1", "reasons": [], "mlflow_run_id": "0"}
    base |= {"mlflow_run_url": "u", "report": "r"}
    model = "dags-verdict"
    since = _emit(
        VERDICT.name,
        [
            {**base, "model": model, "digest": "5" * 64, "verdict": "pass", "passed": True},
            {**base, "model": model, "digest": "6" * 64, "verdict": "fail", "passed": False},
        ],
    )
    dr = dagbag.dags["verdict_dispatch"].test(run_conf={"since": since.isoformat()})
    assert dr.state == "success"
    assert _runs("model_promote", f"verdict__{model}__") == {
        f"verdict__{model}__{'5' * 64}": {"model": model, "digest": "5" * 64}
    }
    assert "not a pass" in _xcom(dr, "list_events", "ignored")[0]


def test_a_dispatcher_without_events_succeeds_and_triggers_nothing(dagbag, synced):
    dr = dagbag.dags["verdict_dispatch"].test(run_conf={"since": datetime.now(UTC).isoformat()})
    tis = _tis(dr)
    assert dr.state == "success" and [ti.state for ti in tis["trigger_promote"]] == ["skipped"]
