"""Which version a promotion or rollback names, and what finalisation records: pure, no MLflow."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airlock.errors import InvalidRequest, NotFound, VerdictRejected
from airlock.payloads import RolloutPlan, RolloutResult
from airlock.promotion import bounded_history, history_entry, promotion_plan, rollback_plan
from airlock.tracking.versions import VersionInfo

A, B, C = "a" * 64, "b" * 64, "c" * 64


class Versions:
    """An in-memory registered model: version number -> info, alias -> version number."""

    def __init__(self, model: str = "m", **aliases: str) -> None:
        self.model = model
        self.rows = {
            "1": VersionInfo("1", A, "pass", "run1", []),
            "2": VersionInfo("2", B, "pass", "run2", []),
            "3": VersionInfo("3", C, "rejected", "run3", []),
        }
        self.aliases = aliases

    def by_alias(self, alias: str) -> VersionInfo | None:
        return self.rows.get(self.aliases.get(alias, ""))

    def by_number(self, version: str) -> VersionInfo | None:
        return self.rows.get(version)

    def by_digest(self, digest: str) -> VersionInfo | None:
        return next((v for v in self.rows.values() if v.digest == digest), None)


def no_fleet() -> str | None:
    return None


def test_promotion_of_a_passing_version_records_the_champion_as_previous():
    plan = promotion_plan(Versions(champion="1"), B, no_fleet)
    assert plan == RolloutPlan(model="m", digest=B, version="2", previous_digest=A, previous_version="1")


def test_first_promotion_falls_back_to_what_the_fleet_serves():
    plan = promotion_plan(Versions(), B, lambda: "f" * 64)
    assert (plan.previous_digest, plan.previous_version) == ("f" * 64, None)


@pytest.mark.parametrize(
    "digest,error,needle",
    [
        (C, VerdictRejected, "has verdict 'rejected', not 'pass'"),
        ("d" * 64, NotFound, "has no model version: evaluate it first"),
        ("", InvalidRequest, "no digest given"),
    ],
)
def test_promotion_refuses_what_did_not_pass(digest, error, needle):
    with pytest.raises(error, match=needle):
        promotion_plan(Versions(champion="1"), digest, no_fleet)


@pytest.mark.parametrize(
    "ref,digest,version",
    [("previous", A, "1"), ("champion", B, "2"), ("1", A, "1"), (A, A, "1"), ("e" * 64, "e" * 64, None)],
)
def test_rollback_targets(ref, digest, version):
    plan = rollback_plan(Versions(champion="2", previous="1"), ref, no_fleet)
    assert (plan.digest, plan.version, plan.previous_digest, plan.previous_version) == (digest, version, B, "2")


def test_rollback_defaults_to_previous():
    assert rollback_plan(Versions(champion="2", previous="1"), "", no_fleet).version == "1"


@pytest.mark.parametrize(
    "ref,error,needle",
    [
        ("previous", NotFound, "has no 'previous' alias"),
        ("9", NotFound, "has no version 9"),
        ("latest", InvalidRequest, "use 'previous', a version number or a digest"),
    ],
)
def test_rollback_names_what_is_missing(ref, error, needle):
    with pytest.raises(error, match=needle):
        rollback_plan(Versions(champion="2"), ref, no_fleet)


def test_rollback_refuses_a_version_without_a_digest():
    v = Versions(champion="2")
    v.rows["4"] = VersionInfo("4", None, None, None, [])
    with pytest.raises(NotFound, match="records no digest"):
        rollback_plan(v, "4", no_fleet)


def _result(**over: object) -> RolloutResult:
    base: dict[str, object] = {
        "kind": "promote",
        "model": "m",
        "target": B,
        "previous": A,
        "phase": "done",
        "started": "2026-12-04T10:00:00+00:00",
        "nodes": [{"node": "n1", "seconds": 31.5, "action": "updated"}, {"node": "n2", "seconds": 29.0}],
        "bake": {"action": "bake", "passed": True},
    }
    return RolloutResult.model_validate({**base, **over})


def test_history_entry_names_the_rollout():
    plan = RolloutPlan(model="m", digest=B, version="2", previous_digest=A, previous_version="1")
    entry = history_entry(plan, _result(), datetime(2026, 12, 4, 10, 5, tzinfo=UTC))
    assert entry == {
        "at": "2026-12-04T10:05:00+00:00",
        "kind": "promote",
        "from": A[:12],
        "nodes": [("n1", 31.5), ("n2", 29.0)],
        "bake": True,
    }
    rb = history_entry(plan, _result(kind="rollback", bake=None), datetime(2026, 12, 4, tzinfo=UTC))
    assert rb["kind"] == "rollback" and rb["bake"] is None


def test_history_keeps_the_newest_entries_within_the_tag_limit():
    entry = {"at": "x", "kind": "promote", "pad": "y" * 200}
    past = [{"n": i, "pad": "y" * 200} for i in range(100)]
    kept = bounded_history(past, entry, limit=2000)
    assert kept[-1] == entry and len(json.dumps(kept)) <= 2000
    assert kept[0]["n"] == 100 - (len(kept) - 1)  # the oldest were dropped, in order
    assert bounded_history([], entry) == [entry]
