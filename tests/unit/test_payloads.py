"""Typed payloads: what arrives from a form, an Asset event or XCom is validated, by name."""

from __future__ import annotations

import json
import math

import pytest

from airlock.errors import InvalidRequest
from airlock.payloads import Candidate, EvaluationRequest, GcRequest, IntakeRequest, StagedCandidate, SweepPoint, parse

D = "d" * 64


def test_an_unknown_key_is_refused_by_name():
    with pytest.raises(InvalidRequest, match=r"invalid model_evaluate request: surprise: Extra inputs"):
        parse(EvaluationRequest, {"model": "m", "surprise": 1}, "model_evaluate request")


def test_a_missing_key_is_named():
    with pytest.raises(InvalidRequest, match=r"manifest_uri: Field required"):
        parse(Candidate, {"model": "m", "digest": D, "revision": "r", "mlflow_run_id": "x"}, "asset event")


def test_an_asset_event_with_a_bad_digest_is_refused():
    with pytest.raises(InvalidRequest, match="digest"):
        parse(
            Candidate,
            {"model": "m", "digest": "abc", "manifest_uri": "s3://b/k", "revision": "r", "mlflow_run_id": "x"},
            "asset event",
        )


def test_source_kinds_come_from_the_registry():
    with pytest.raises(InvalidRequest, match=r"unknown source kind 'ftp'; known: hub, local, s3"):
        parse(IntakeRequest, {"model_name": "m", "source_kind": "ftp", "location": "x"}, "intake request")


def test_gc_models_are_checked_as_model_names():
    with pytest.raises(InvalidRequest, match="model name '../etc' is invalid"):
        parse(GcRequest, {"models": ["../etc"]}, "gc request")


def test_payloads_round_trip_through_json_as_xcom_carries_them():
    staged = StagedCandidate(model="m", digest=D, suite="s", manifest_uri="s3://b/k", model_dir="/n", base_url="u")
    wire = json.loads(json.dumps(staged.model_dump(mode="json")))
    assert parse(StagedCandidate, wire, "xcom") == staged
    point = SweepPoint.model_validate(
        {
            **dict.fromkeys(SweepPoint.model_fields, 1.0),
            "concurrency": 1,
            "completed": 1,
            "failed": 0,
            "num_prompts": 1,
            "ttft_p99_ms": None,
        }
    )
    assert math.isnan(point.ttft_p99_ms) and point.concurrency == 1  # a metric vLLM did not report


def test_payloads_are_immutable():
    req = EvaluationRequest(model="m")
    with pytest.raises(Exception, match="frozen"):
        req.model = "other"  # type: ignore[misc]
