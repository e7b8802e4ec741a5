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


@pytest.mark.parametrize("conf", [
    {"location": ""}, {"source_kind": "ftp"}, {"revision": "../x"}, {"model_name": "Bad Name"},
    {"allow_patterns": "*.json"}, {"full_verify": "yes"},
])
def test_bad_form_rejected(intake, conf):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        _validate(intake, **{"location": "acme/model", **conf})
