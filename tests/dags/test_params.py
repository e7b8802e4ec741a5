"""The intake form's Params reject bad input before a run is created."""

import pytest


@pytest.fixture(scope="module")
def intake(dagbag):
    return dagbag.dags["model_intake"]


def _validate(dag, **conf):
    import copy

    params = copy.deepcopy(dag.params)
    for k, v in conf.items():  # each assignment validates, as a trigger's conf does
        params[k] = v
    params.validate()


def test_good_form_validates(intake):
    _validate(intake, location="acme/model", revision="v1.2", source_kind="hub")


@pytest.mark.parametrize(
    "conf",
    [
        {"location": ""},
        {"source_kind": "ftp"},
        {"revision": "../x"},
        {"model_name": "Bad Name"},
        {"allow_patterns": "*.json"},
        {"full_verify": "yes"},
    ],
)
def test_bad_form_rejected(intake, conf):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        _validate(intake, **{"location": "acme/model", **conf})


def test_gc_form_defaults_to_a_dry_run(dagbag):
    gc = dagbag.dags["registry_gc"]
    assert gc.params["dry_run"] is True
    _validate(gc, keep_last=3, models=["tinyllama"])


@pytest.mark.parametrize("conf", [{"keep_last": 0}, {"dry_run": "no"}, {"models": ["../etc"]}, {"models": "all"}])
def test_bad_gc_form_rejected(dagbag, conf):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        _validate(dagbag.dags["registry_gc"], **conf)


def test_watch_triggers_intake_pinned_and_once(dagbag):
    watch = dagbag.dags["model_watch"]
    trig = watch.get_task("trigger_intake")
    assert trig.partial_kwargs["trigger_dag_id"] == "model_intake"
    assert trig.partial_kwargs["skip_when_already_exists"] is True
    assert watch.max_active_runs == 1
