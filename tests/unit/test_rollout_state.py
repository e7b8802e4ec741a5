"""The rollout's state machine on an in-memory fleet: order, bake, rollback, resume, lock.

The nodes and HAProxy are fakes that record what they were asked to do; what
the real ones do under load is tested in tests/integration/test_rollout.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airlock import rollout
from airlock.bake import BakeResult
from airlock.config import AirlockConfig, FleetConfig, NodeConfig
from airlock.errors import Busy, NodeFailed, RolloutFailed

OLD, NEW, OTHER = "0" * 64, "1" * 64, "2" * 64


class FakeNode:
    def __init__(self, name: str, serving: str | None, broken: set[str], log: list[str]) -> None:
        self.name, self.base_url = name, f"http://{name}"
        self.active, self.serving, self.broken, self.log = serving, serving, broken, log

    def version_dir(self, digest: str) -> Path:
        return Path("/nonexistent") / digest

    def activate(self, digest: str) -> None:
        self.active = digest

    def start(self) -> None:
        self.log.append(f"{self.name} start {self.active[:1] if self.active else '-'}")
        self.serving = self.active

    def stop(self) -> None:
        self.serving = None

    def wait_healthy(self, timeout: float | None = None) -> float:
        if self.serving in self.broken:
            self.serving = None
            raise NodeFailed(f"{self.name} failed to start: exited during startup")
        return 0.0

    def healthy(self) -> bool:
        return self.serving is not None

    def current_version(self) -> str | None:
        return self.serving


class FakeBalancer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def drain(self, server: str, timeout: float = 0) -> None:
        self.log.append(f"{server} drain")

    def wait_up(self, server: str, timeout: float = 0) -> None:
        pass

    def set_state(self, server: str, state: str) -> None:
        self.log.append(f"{server} {state}")


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A two-node fleet on OLD; returns (cfg, fleet, log, broken digests, bake verdicts)."""
    cfg = AirlockConfig(
        state_dir=tmp_path,
        fleet=FleetConfig(nodes=[NodeConfig(name="n1", port=1), NodeConfig(name="n2", port=2)]),
    )
    log: list[str] = []
    broken: set[str] = set()
    bakes: list[bool] = []
    fleet = rollout.Fleet(cfg, [FakeNode(n, OLD, broken, log) for n in ("n1", "n2")], FakeBalancer(log))  # type: ignore[arg-type]
    monkeypatch.setattr(rollout, "stage_everywhere", lambda *a, **k: None)
    monkeypatch.setattr(rollout, "smoke", lambda node, cfg: None)

    def bake(canary, rest, stats_url, backend, bake_cfg):
        bakes.append([srv for srv, _ in rest])
        ok = not os.environ.get("FAKE_BAKE_BREACH")
        return BakeResult(ok, ["within limits" if ok else "canary error rate 50%"], {}, {})

    monkeypatch.setattr(rollout.bake_mod, "bake", bake)
    return cfg, fleet, log, broken, bakes


def _run(cfg, fleet, target=NEW, previous=OLD, **kw):
    return rollout.run(cfg, "m", target, previous, registry=object(), fleet=fleet, say=lambda _: None, **kw)  # type: ignore[arg-type]


def test_promotion_moves_canary_bakes_then_the_rest(env):
    cfg, fleet, log, _, bakes = env
    st = _run(cfg, fleet)
    assert st.phase == "done" and st.nodes == {"n1": "updated", "n2": "updated"}
    assert fleet.versions() == {"n1": NEW, "n2": NEW}
    assert log == ["n1 drain", "n1 start 1", "n1 ready", "n2 drain", "n2 start 1", "n2 ready"]
    assert bakes == [["n2"]]
    actions = [e["action"] for e in st.events]
    assert actions == ["updated", "bake", "updated", "done"]
    assert rollout.load_state(cfg, "m") == st  # the journal on disk is the state
    summary = rollout.summary(st)
    assert [e["node"] for e in summary.nodes] == ["n1", "n2"] and summary.bake["passed"]


def test_rerun_of_a_finished_rollout_changes_nothing(env):
    cfg, fleet, log, _, _ = env
    _run(cfg, fleet)
    del log[:]
    assert _run(cfg, fleet).phase == "done" and log == []


def test_a_node_that_cannot_start_rolls_every_touched_node_back(env):
    cfg, fleet, log, broken, _ = env
    broken.add(NEW)
    with pytest.raises(RolloutFailed, match="rolled back .*n1.*failed to start"):
        _run(cfg, fleet)
    st = rollout.load_state(cfg, "m")
    assert st.phase == "rolled_back" and st.nodes == {"n1": "restored", "n2": "pending"}
    assert fleet.versions() == {"n1": OLD, "n2": OLD}
    assert "n2 start 1" not in log  # the rest never moved


def test_a_bake_breach_rolls_the_canary_back(env, monkeypatch):
    cfg, fleet, _, _, _ = env
    monkeypatch.setenv("FAKE_BAKE_BREACH", "1")
    with pytest.raises(RolloutFailed, match="canary bake breached: canary error rate 50%"):
        _run(cfg, fleet)
    assert fleet.versions() == {"n1": OLD, "n2": OLD}
    assert rollout.load_state(cfg, "m").phase == "rolled_back"


def test_rollback_kind_skips_the_bake(env):
    cfg, fleet, _, _, bakes = env
    st = _run(cfg, fleet, kind="rollback", bake=False)
    assert st.phase == "done" and st.kind == "rollback" and bakes == []


def test_resume_after_a_crash_keeps_the_canary_and_bakes_again(env):
    """The worker died after the canary switched, before its bake was recorded."""
    cfg, fleet, log, _, bakes = env
    fleet.nodes[0].activate(NEW)
    fleet.nodes[0].start()
    crashed = rollout.RolloutState("m", NEW, OLD, nodes={"n1": "updated", "n2": "pending"})
    crashed.event(node="n1", action="updated", version=NEW, seconds=30.0, canary=True)
    rollout.save_state(cfg, crashed)
    del log[:]
    st = _run(cfg, fleet)
    assert st.phase == "done" and fleet.versions() == {"n1": NEW, "n2": NEW}
    assert "n1 start 1" not in log and "n2 start 1" in log  # the canary is not restarted
    assert bakes == [["n2"]]  # no node past the canary moves without a passed bake on record
    assert [e["node"] for e in st.events if e.get("action") == "updated"] == ["n1", "n2"]


def test_an_interrupted_rollout_to_another_version_is_undone_first(env):
    cfg, fleet, log, _, _ = env
    fleet.nodes[0].activate(OTHER)
    fleet.nodes[0].start()
    rollout.save_state(cfg, rollout.RolloutState("m", OTHER, OLD, nodes={"n1": "updated", "n2": "pending"}))
    st = _run(cfg, fleet)
    assert st.target == NEW and st.phase == "done" and fleet.versions() == {"n1": NEW, "n2": NEW}
    assert log.index("n1 start 0") < log.index("n1 start 1")  # restored to OLD, then moved on


def test_a_second_rollout_is_refused_while_one_holds_the_fleet(env):
    cfg, fleet, _, _, _ = env
    with rollout.fleet_lock(cfg, "held-by-test"), pytest.raises(Busy, match="held-by-test"):
        _run(cfg, fleet)
    assert fleet.versions() == {"n1": OLD, "n2": OLD}


def test_state_survives_a_process_boundary(env):
    cfg, fleet, _, _, _ = env
    _run(cfg, fleet)
    raw = json.loads((cfg.state_dir / "rollouts" / "m.json").read_text())
    assert raw["phase"] == "done" and raw["target"] == NEW and raw["previous"] == OLD


def test_a_version_that_fails_the_node_check_touches_nothing_and_records_nothing(env, monkeypatch):
    from airlock.errors import IntegrityError

    cfg, fleet, log, _, _ = env

    def refuse(*a, **k):
        raise IntegrityError("m@111111111111: unsigned")

    monkeypatch.setattr(rollout, "stage_everywhere", refuse)
    with pytest.raises(IntegrityError, match="unsigned"):
        _run(cfg, fleet)
    assert log == [] and fleet.versions() == {"n1": OLD, "n2": OLD} and rollout.load_state(cfg, "m") is None


def test_first_promotion_onto_an_empty_pool_bakes_the_canary_alone(env):
    cfg, fleet, log, _, bakes = env
    for n in fleet.nodes:
        n.stop()
    st = _run(cfg, fleet, previous=None)
    assert st.phase == "done" and fleet.versions() == {"n1": NEW, "n2": NEW}
    assert bakes == [[]]  # nothing else served: no comparison, the canary is judged on its own


def test_a_failed_first_promotion_leaves_the_pool_empty(env):
    cfg, fleet, log, broken, _ = env
    for n in fleet.nodes:
        n.stop()
    broken.add(NEW)
    with pytest.raises(RolloutFailed, match="failed to start"):
        _run(cfg, fleet, previous=None)
    assert fleet.versions() == {"n1": None, "n2": None}
    assert rollout.load_state(cfg, "m").nodes == {"n1": "restored", "n2": "pending"}
