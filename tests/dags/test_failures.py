"""Permanent failures end a task on its first try; retryable ones are retried.

Real ``dag.test()`` runs (in-process scheduler, SQLite): no service is needed,
because each run fails before it reaches one.
"""

from __future__ import annotations

import pytest

# Each DAG's first task gets a trigger conf with a key its form does not have:
# a permanent InvalidRequest, which must not be retried although the task may retry.
FIRST_TASK = {
    "model_intake": ("admit", {"location": "acme/x"}),
    "model_evaluate": ("stage", {}),
    "model_promote": ("resolve", {}),
    "model_rollback": ("resolve", {}),
    "registry_gc": ("collect", {}),
    "candidate_dispatch": ("list_events", {}),
    "verdict_dispatch": ("list_events", {}),
}


def _tis(dr) -> dict:
    return {ti.task_id: ti for ti in dr.get_task_instances()}


@pytest.mark.parametrize("dag_id", sorted(FIRST_TASK))
def test_an_unknown_conf_key_fails_the_first_task_on_its_first_try(dagbag, airflow_db, dag_id):
    task_id, conf = FIRST_TASK[dag_id]
    dr = dagbag.dags[dag_id].test(run_conf={**conf, "surprise": 1})
    ti = _tis(dr)[task_id]
    assert dr.state == "failed" and ti.state == "failed"
    assert ti.try_number == 1, f"{dag_id}.{task_id} was retried after a permanent error"


def test_a_retryable_failure_is_retried(dagbag, airflow_db, monkeypatch):
    """The contrast: an unreachable hub (HubUnavailable) gets the task's retry."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    dag = dagbag.dags["model_intake"]
    dr = dag.test(run_conf={"location": "acme/x"})
    ti = _tis(dr)["admit"]
    assert ti.state == "failed" and ti.try_number == dag.get_task("admit").retries + 1 == 2


def test_every_python_task_translates_errors(dagbag):
    """Every task body goes through ``step``: the one place permanent errors become
    AirflowFailException and payloads are validated."""
    for dag_id, dag in dagbag.dags.items():
        for t in dag.tasks:
            fn = getattr(t, "python_callable", None)
            if fn is not None:
                assert getattr(fn, "__airlock_step__", False), f"{dag_id}.{t.task_id} is not wrapped by step"
