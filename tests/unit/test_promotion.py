"""Which version a promotion or rollback names, and what finalisation records: pure, no MLflow."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airlock.errors import InvalidRequest, NotFound
from airlock.payloads import RolloutPlan, RolloutResult
from airlock.promotion import bounded_history, history_entry, promotion_plan, rollback_plan
from airlock.signing import Attestation, attest
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


def _pass(digest: str, version: str, model: str = "m") -> Attestation:
    return attest(model, version, digest, "suite", "run")


def test_promotion_takes_the_version_from_the_pass_and_restores_what_the_fleet_serves():
    plan = promotion_plan(Versions(champion="2"), B, _pass(B, "2"), lambda: A)
    assert plan == RolloutPlan(model="m", digest=B, version="2", previous_digest=A, previous_version="1")


def test_the_champion_alias_does_not_decide_what_a_failed_rollout_restores():
    """An alias is display: a forged champion must not become the fallback."""
    plan = promotion_plan(Versions(champion="3"), B, _pass(B, "2"), lambda: A)
    assert (plan.previous_digest, plan.previous_version) == (A, "1")


def test_first_promotion_onto_an_empty_fleet_restores_nothing():
    plan = promotion_plan(Versions(), B, _pass(B, "2"), no_fleet)
    assert (plan.previous_digest, plan.previous_version) == (None, None)


def test_a_pass_for_another_version_or_model_is_refused():
    with pytest.raises(InvalidRequest, match="the pass is for m@aaaaaaaaaaaa"):
        promotion_plan(Versions(), B, _pass(A, "1"), no_fleet)
    with pytest.raises(InvalidRequest, match="the pass is for other@"):
        promotion_plan(Versions(), B, _pass(B, "2", model="other"), no_fleet)


@pytest.mark.parametrize(
    "ref,digest,version",
    [("previous", A, "1"), ("champion", B, "2"), ("1", A, "1"), (A, A, "1"), ("e" * 64, "e" * 64, None)],
)
def test_rollback_targets(ref, digest, version):
    plan = rollback_plan(Versions(champion="2", previous="1"), ref, lambda: B)
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
