"""The embedded local stack: SeaweedFS, MLflow, Airflow, HAProxy, olah and vLLM nodes.

Everything binds to 127.0.0.1 and keeps data, logs and pid files under the
stack's folder (``stack.yaml``: ``dir``, git-ignored). Tests build the same
services on free ports in a temporary folder, so what ``make up`` runs is what
is tested.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from airlock.config import AirlockConfig
from airlock.nodes.balancer import Backend, Balancer, render_config
from airlock.nodes.process import ProcessNode, http_ok
from airlock.nodes.supervisor import ManagedProcess
from airlock.tracking import users
from airlock_dev.config import SeaweedConfig, StackConfig
from airlock_dev.stack import secrets as stack_secrets

VENV_BIN = Path(sys.executable).parent


def _bin(name: str) -> str:
    cand = VENV_BIN / name
    return str(cand) if cand.exists() else (shutil.which(name) or name)


def s3_ready(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)  # noqa: S310 - local URL
    except urllib.error.HTTPError as exc:  # 403 without credentials: it answers
        return exc.code in (400, 403)
    except OSError:
        return False
    return True


def seaweedfs(data_dir: Path, log: Path, pid: Path, ports: SeaweedConfig, creds: dict[str, str]) -> ManagedProcess:
    """``weed mini`` on loopback with two identities (pipeline rw, node ro).

    Only the S3 port answers without the store's own secrets: the filer's HTTP
    API is off, volume reads and writes need the store's JWT, every gRPC port
    needs a client certificate from its CA (``secrets.store_security``); no
    WebDAV, no admin UI, no telemetry.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    security = stack_secrets.store_security(data_dir.parent / "seaweedfs-security")
    ident = data_dir.parent / "seaweedfs-identities.json"
    fd = os.open(ident, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(stack_secrets.seaweed_identities(creds))
    p = ports
    argv = [
        _bin("weed"),
        f"-config_dir={security}",
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={p.s3_port}",
        f"-s3.port.grpc={p.s3_port + 10000}",
        f"-s3.config={ident}",
        f"-master.port={p.master_port}",
        f"-master.port.grpc={p.master_port + 10000}",
        f"-volume.port={p.volume_port}",
        f"-volume.port.grpc={p.volume_port + 10000}",
        f"-filer.port={p.filer_port}",
        f"-filer.port.grpc={p.filer_port + 10000}",
        f"-admin.port={p.admin_port}",
        f"-admin.port.grpc={p.admin_port + 10000}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-disableHttp",
    ]
    return ManagedProcess(
        "seaweedfs",
        argv,
        log,
        pid,
        env={"AWS_ACCESS_KEY_ID": creds["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": creds["AWS_SECRET_ACCESS_KEY"]},
        healthy=lambda: s3_ready(f"http://127.0.0.1:{p.s3_port}/"),
    )


def mlflow_server(
    data_dir: Path, log: Path, pid: Path, port: int, s3_url: str, bucket: str, creds: dict[str, str], workers: int = 1
) -> ManagedProcess:
    """MLflow with a SQLite store and its basic-auth app; artifacts proxied into a bucket of the registry.

    Why the auth app: without it anyone who reaches the port writes tags and
    aliases. With it anonymous calls get 401, every signed-in user reads
    (``default_permission = READ``), and only an object's creator (the
    pipeline) or the admin writes to it. MLflow is display only all the same:
    releases go by the registry's signed pass.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    ini = data_dir / "basic_auth.ini"
    fd = os.open(ini, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{data_dir / 'basic_auth.db'}\n"
            f"admin_username = {users.ADMIN}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
    argv = [
        _bin("mlflow"),
        "server",
        "--app-name",
        "basic-auth",
        "--backend-store-uri",
        f"sqlite:///{data_dir / 'mlflow.db'}",
        "--artifacts-destination",
        f"s3://{bucket}/artifacts",
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env = {
        "MLFLOW_S3_ENDPOINT_URL": s3_url,
        "AWS_ACCESS_KEY_ID": creds["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": creds["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": creds["MLFLOW_ADMIN_PASSWORD"],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": creds["MLFLOW_FLASK_SERVER_SECRET_KEY"],
        "MLFLOW_ENABLE_TELEMETRY": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
    }
    return ManagedProcess("mlflow", argv, log, pid, env=env, healthy=lambda: http_ok(f"http://127.0.0.1:{port}/health"))


def mlflow_users(url: str, creds: dict[str, str]) -> None:
    """The pipeline's and the reviewer's MLflow accounts, created (or reset) as the admin."""
    users.ensure_users(
        url,
        creds["MLFLOW_ADMIN_PASSWORD"],
        {users.PIPELINE: creds["MLFLOW_PIPELINE_PASSWORD"], users.REVIEWER: creds["MLFLOW_REVIEWER_PASSWORD"]},
    )


def airflow_env(home: Path, port: int, db: str, parallelism: int, repo: Path, extra: dict[str, str]) -> dict[str, str]:
    """Environment for every Airflow component (and ``airflow`` CLI calls)."""
    conn = f"sqlite:///{home / 'airflow.db'}" if db == "sqlite" else db
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        # task logs: Airflow chmods them 0664/0775 by default, whatever the umask
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        "PYTHONPATH": os.pathsep.join([str(repo / "include"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "NO_PROXY": "*",
        **extra,
    }


def airflow_components(home: Path, logs: Path, run: Path, env: dict[str, str], port: int) -> list[ManagedProcess]:
    """The four components ``airflow standalone`` runs, started one by one so
    that none serves logs on 0.0.0.0 (LocalExecutor logs are read from disk)."""
    af = _bin("airflow")
    health = f"http://127.0.0.1:{port}/api/v2/monitor/health"

    def healthy(component: str) -> Callable[[], bool]:
        def check() -> bool:
            with urllib.request.urlopen(health, timeout=2) as r:  # noqa: S310
                body = json.loads(r.read())
            return body.get(component, {}).get("status") == "healthy"

        return check

    spec = [
        ("airflow-api-server", [af, "api-server"], lambda: http_ok(health)),
        ("airflow-scheduler", [af, "scheduler", "--skip-serve-logs"], healthy("scheduler")),
        ("airflow-dag-processor", [af, "dag-processor"], healthy("dag_processor")),
        ("airflow-triggerer", [af, "triggerer", "--skip-serve-logs"], healthy("triggerer")),
    ]
    return [ManagedProcess(n, argv, logs / f"{n}.log", run / f"{n}.pid", env=env, healthy=h) for n, argv, h in spec]


def haproxy(cfg_path: Path, log: Path, pid: Path, socket_path: Path, stats_port: int) -> ManagedProcess:
    return ManagedProcess(
        "haproxy",
        ["haproxy", "-f", str(cfg_path), "-db"],
        log,
        pid,
        healthy=lambda: socket_path.exists() and http_ok(f"http://127.0.0.1:{stats_port}/metrics"),
    )


def pushgateway(port: int, data: Path, log: Path, pid: Path) -> ManagedProcess:
    """Prometheus Pushgateway (Debian's): where pipeline metrics go.

    Its metrics persist in ``data`` (Debian's build otherwise shares
    /var/lib/prometheus/pushgateway.data between every instance)."""
    data.parent.mkdir(parents=True, exist_ok=True)
    return ManagedProcess(
        "pushgateway",
        [
            "prometheus-pushgateway",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={data}",
            "--persistence.interval=30s",
        ],
        log,
        pid,
        healthy=lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"),
    )


def prometheus(config_file: Path, port: int, data: Path, log: Path, pid: Path) -> ManagedProcess:
    """Prometheus (Debian's) with its own TSDB folder; the bake can query it."""
    return ManagedProcess(
        "prometheus",
        [
            "prometheus",
            f"--config.file={config_file}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={data}",
        ],
        log,
        pid,
        healthy=lambda: http_ok(f"http://127.0.0.1:{port}/-/ready"),
    )


def haproxy_for(cfg: AirlockConfig, cfg_path: Path, log: Path, pid: Path) -> ManagedProcess:
    """HAProxy fronting the configured fleet (config rendered, stale socket removed)."""
    servers = [Backend(n.haproxy_server or n.name, n.host, n.port) for n in cfg.fleet.resolved_nodes()]
    cfg_path.parent.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(
        render_config(
            cfg.haproxy_socket, cfg.balancer.frontend_port, cfg.balancer.stats_port, cfg.fleet.backend, servers
        )
    )
    proc = haproxy(cfg_path, log, pid, cfg.haproxy_socket, cfg.balancer.stats_port)
    if not proc.running():
        cfg.haproxy_socket.unlink(missing_ok=True)
    return proc


def olah_server(
    work_dir: Path, mirrors_root: Path, port: int, log: Path, pid: Path, venv_bin: Path | None = None
) -> ManagedProcess:
    """The olah mirror, offline, serving ``mirrors_root`` on 127.0.0.1:``port``."""
    work_dir, mirrors_root = work_dir.resolve(), mirrors_root.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    cfg = work_dir / "olah.toml"
    cfg.write_text(
        "[basic]\n"
        f'host = "127.0.0.1"\nport = {port}\n'
        f'repos-path = "{work_dir / "repos"}"\n'
        f'mirror-netloc = "127.0.0.1:{port}"\nmirror-lfs-netloc = "127.0.0.1:{port}"\n'
        f'mirrors-path = ["{mirrors_root}"]\n'
        "[accessibility]\noffline = true\n"
    )
    bin_dir = venv_bin or Path(sys.executable).parent.parent.parent / ".venv-hub" / "bin"
    return ManagedProcess(
        "olah",
        [str(bin_dir / "olah-cli"), "-c", str(cfg)],
        log,
        pid,
        cwd=work_dir,
        healthy=lambda: (
            http_ok(f"http://127.0.0.1:{port}/api/models/none/none/revision/main")
            or _answers(f"http://127.0.0.1:{port}/")
        ),
    )


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=2)  # noqa: S310 - local URL
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@dataclass
class StackPaths:
    state: Path

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def secrets(self) -> Path:
        return self.state / "secrets.env"

    @property
    def airflow_home(self) -> Path:
        return self.state / "airflow"

    @property
    def keys(self) -> Path:
        return self.state / "keys"


class LocalStack:
    """Builds every service of the embedded stack from the config."""

    def __init__(self, cfg: AirlockConfig, stack: StackConfig) -> None:
        self.cfg, self.settings = cfg, stack
        self.paths = StackPaths(stack.dir)
        self.creds = stack_secrets.load_or_create(self.paths.secrets)

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.seaweedfs.s3_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.mlflow_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.airflow_port}"

    def pipeline_env(self) -> dict[str, str]:
        """What pipeline code (Airflow tasks, the demo) needs to reach the stack."""
        return {
            "AIRLOCK_CONFIG": str(self.cfg.root / "airlock.yaml")
            if not os.environ.get("AIRLOCK_CONFIG")
            else os.environ["AIRLOCK_CONFIG"],
            "AIRLOCK__REGISTRY__ENDPOINT_URL": self.s3_url,
            "AIRLOCK__MLFLOW__TRACKING_URI": self.mlflow_url,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_TRACKING_USERNAME": users.PIPELINE,
            "MLFLOW_TRACKING_PASSWORD": self.creds["MLFLOW_PIPELINE_PASSWORD"],
            "AWS_ACCESS_KEY_ID": self.creds["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": self.creds["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": self.cfg.registry.region,
            # The embedded stack is offline: its hub is the olah mirror.
            "HF_ENDPOINT": f"http://127.0.0.1:{self.settings.olah_port}",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "DO_NOT_TRACK": "1",
            # lm-eval's task datasets come from the same mirror (airlock.evaluation sets the rest)
            "AIRLOCK__EVALUATION__DATASETS_ENDPOINT": f"http://127.0.0.1:{self.settings.olah_port}",
            "AIRLOCK__METRICS__PUSHGATEWAY_URL": self.pushgateway_url,
        }

    @property
    def pushgateway_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.pushgateway_port}"

    def pushgateway(self) -> ManagedProcess:
        p = self.paths
        return pushgateway(
            self.settings.pushgateway_port,
            p.data / "pushgateway" / "metrics.data",
            p.logs / "pushgateway.log",
            p.run / "pushgateway.pid",
        )

    def seaweedfs(self) -> ManagedProcess:
        p = self.paths
        return seaweedfs(
            p.data / "seaweedfs", p.logs / "seaweedfs.log", p.run / "seaweedfs.pid", self.settings.seaweedfs, self.creds
        )

    def mlflow(self) -> ManagedProcess:
        p = self.paths
        return mlflow_server(
            p.data / "mlflow",
            p.logs / "mlflow.log",
            p.run / "mlflow.pid",
            self.settings.mlflow_port,
            self.s3_url,
            self.settings.mlflow_artifact_bucket,
            self.creds,
            self.settings.mlflow_workers,
        )

    def airflow_env(self) -> dict[str, str]:
        s = self.settings
        return airflow_env(
            self.paths.airflow_home,
            s.airflow_port,
            s.airflow_db,
            s.airflow_parallelism,
            self.cfg.root,
            self.pipeline_env(),
        )

    def olah(self) -> ManagedProcess:
        """The hub stand-in: an olah mirror serving git repos under ``hub/mirrors``."""
        p = self.paths
        return olah_server(
            p.state / "hub",
            p.state / "hub" / "mirrors",
            self.settings.olah_port,
            p.logs / "olah.log",
            p.run / "olah.pid",
            self.cfg.root / ".venv-hub" / "bin",
        )

    def airflow(self) -> list[ManagedProcess]:
        p = self.paths
        return airflow_components(p.airflow_home, p.logs, p.run, self.airflow_env(), self.settings.airflow_port)

    def nodes(self) -> list[ProcessNode]:
        """The fleet's nodes this stack runs itself (the ``process`` driver)."""
        from airlock.nodes.fleet import fleet

        return [n for n in fleet(self.cfg) if isinstance(n, ProcessNode)]

    def haproxy(self) -> ManagedProcess:
        p = self.paths
        return haproxy_for(self.cfg, p.run / "haproxy.cfg", p.logs / "haproxy.log", p.run / "haproxy.pid")

    def balancer(self) -> Balancer:
        return Balancer(self.cfg.haproxy_socket, self.cfg.fleet.backend)

    def all_processes(self) -> list[ManagedProcess]:
        return [self.seaweedfs(), self.mlflow(), *self.airflow(), self.haproxy(), self.olah(), self.pushgateway()]


__all__ = ["LocalStack", "StackPaths", "olah_server", "running_fleet"]


@contextmanager
def running_fleet(cfg: AirlockConfig, digest: str):
    """Start every ``process`` node of the fleet on ``digest`` (already staged)
    and HAProxy in front; yield the :class:`~airlock.rollout.Fleet`; stop all."""
    from airlock.rollout import Fleet

    fl = Fleet.from_config(cfg)
    run = cfg.state_dir / "run"
    hp = haproxy_for(cfg, run / "haproxy.cfg", run / "haproxy.log", run / "haproxy.pid")
    try:
        for n in fl.nodes:
            n.activate(digest)
            n.start()
        for n in fl.nodes:
            n.wait_healthy()
        hp.start()
        hp.wait_healthy(30)
        for n in fl.nodes:
            fl.balancer.wait_up(fl.server(n), timeout=30)
        yield fl
    finally:
        hp.stop()
        for n in fl.nodes:
            n.stop()
