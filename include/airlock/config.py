"""The one configuration file (``airlock.yaml``) as typed, validated models.

Why one file: operators tune the registry, the fleet, the gates and the policy in
one place, and every process (Airflow tasks, the stack tool, tests) reads the
same thing. Any key can be overridden by an environment variable
``AIRLOCK__<SECTION>__<KEY>`` (nested with ``__``), whose value is parsed as YAML,
so ``AIRLOCK__FLEET__SIZE=3`` is an int and ``AIRLOCK__POLICY__TRUSTED_ORGS=[a,b]``
a list. Secrets never live here: they come from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from airlock.config_gates import (
    BenchmarkConfig,
    ModelPolicy,
    Policy,
    SuiteConfig,
    VerdictConfig,
    _Model,
)
from airlock.errors import ConfigError

ENV_PREFIX = "AIRLOCK__"
CONFIG_ENV = "AIRLOCK_CONFIG"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "airlock.yaml"

__all__ = [
    "AirlockConfig",
    "BenchmarkConfig",
    "ConfigError",
    "EvaluationConfig",
    "ModelPolicy",
    "Policy",
    "SuiteConfig",
    "VerdictConfig",
    "load_config",
    "load_model",
]


class RegistryConfig(_Model):
    endpoint_url: str = "http://127.0.0.1:8333"
    bucket: str = "airlock-registry"
    region: str = "us-east-1"
    multipart_chunk_mb: int = Field(8, ge=5, le=512)
    max_concurrency: int = Field(4, ge=1, le=64)
    object_lock_days: int = Field(
        30, ge=1, le=36500, description="default retention of every object version written (S3 object lock)"
    )
    object_lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"


class MlflowConfig(_Model):
    tracking_uri: str = "http://127.0.0.1:5000"


class PolicyConfig(_Model):
    """Admission rules applied before any byte is stored."""

    weight_suffixes: list[str] = Field([".safetensors"], description="a version must hold a file named so")
    pickle_exceptions: list[str] = Field(
        default_factory=list,
        description="'<repo or name>:<path>' files admitted although their content can carry a pickle",
    )
    max_files: int = Field(10_000, ge=1, description="files per revision, checked before any is read")
    max_total_gb: float = Field(200.0, gt=0)
    trusted_orgs: list[str] = Field(default_factory=list, description="empty: any org")
    licenses: list[str] = Field(default_factory=list, description="empty: any licence")


class ServingConfig(_Model):
    """How a node's vLLM server is started (the ``process`` driver)."""

    python: Path = Path(".venv-serve/bin/python")
    served_model_name: str = "airlock"
    max_model_len: int | None = Field(None, ge=16, description="null: the model's own context length")
    dtype: str = "float32"
    kv_cache_gib: int = Field(1, ge=1)
    extra_args: list[str] = ["--enforce-eager"]
    startup_timeout_s: float = Field(300, gt=0)


class NodeConfig(_Model):
    name: str
    driver: str = Field("process", description="a key of airlock.nodes.DRIVERS")
    host: str = "127.0.0.1"
    port: int
    haproxy_server: str | None = None
    model_dir: Path | None = None
    cpus: str = Field(
        "nobind",
        description="process driver on CPU: VLLM_CPU_OMP_THREADS_BIND ('nobind', 'auto', or cores such as '0-3')",
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not v or not v.replace("-", "").replace("_", "").isalnum():
            raise ValueError("node names use letters, digits, '-' and '_' only")
        return v

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        from airlock.nodes import DRIVERS

        if v not in DRIVERS:
            raise ValueError(f"unknown node driver {v!r}; known: {', '.join(sorted(DRIVERS))}")
        return v


class FleetConfig(_Model):
    """The serving fleet. ``nodes`` lists them explicitly; when empty, ``size``
    nodes named node1..nodeN are derived on ports ``base_port+1``..``+N``."""

    size: int = Field(2, ge=1, le=32)
    base_port: int = 8110
    backend: str = "airlock"
    nodes: list[NodeConfig] = Field(default_factory=list)

    def resolved_nodes(self) -> list[NodeConfig]:
        if self.nodes:
            return list(self.nodes)
        return [
            NodeConfig(name=f"node{i}", port=self.base_port + i, haproxy_server=f"node{i}")
            for i in range(1, self.size + 1)
        ]


class SigningConfig(_Model):
    """Who may sign a pass, and which publishers' signatures intake checks (docs/security.md).

    The pipeline's private key is never in this file: it comes from the Airflow connection
    ``airlock_signing`` (password: the PEM) or the file ``private_key_file`` names (0600, outside
    the repo). Nodes need only ``public_keys``; list more than one while rotating a key.
    """

    private_key_file: Path | None = Field(None, description="PEM private key; else the airlock_signing connection")
    public_keys: list[Path] = Field(default_factory=list, description="PEM public keys whose passes nodes accept")
    publishers: dict[str, list[Path]] = Field(default_factory=dict, description="org -> its PEM public keys")
    publisher_required: list[str] = Field(default_factory=list, description="orgs that must sign; '*': every org")
    publisher_signature: str = Field("model.sig", description="the signature file a publisher ships in its repo")


class EvaluationConfig(_Model):
    """The accuracy gate. Suites are the operator's: lm-eval task names, with
    folders of private task YAMLs where needed (no suite ships in the product)."""

    default_suite: str = "private"
    suites: dict[str, SuiteConfig] = Field(default_factory=dict)
    staging: NodeConfig = NodeConfig(name="staging", port=8120)
    baseline: NodeConfig = Field(
        NodeConfig(name="baseline", port=8121),
        description="serves the champion while the candidate's benchmark runs are interleaved with its",
    )
    num_concurrent: int = Field(4, ge=1, le=64, description="lm-eval requests in flight")
    batch_size: int = Field(8, ge=1, le=256, description="prompts per completions request (log-likelihood tasks)")
    datasets_endpoint: str | None = Field(
        None, description="hub mirror lm-eval reads task datasets from; null: the local datasets cache only"
    )

    @model_validator(mode="after")
    def _default_is_configured(self) -> EvaluationConfig:
        if self.suites and self.default_suite not in self.suites:
            raise ValueError(
                f"default_suite {self.default_suite!r} is not among the suites ({', '.join(sorted(self.suites))})"
            )
        return self


class BalancerConfig(_Model):
    frontend_port: int = 8100
    stats_port: int = 8404
    socket: Path | None = Field(None, description="HAProxy admin socket; default <state_dir>/run/haproxy.sock")


class BakeConfig(_Model):
    """Canary bake: watch the canary against the rest of the fleet."""

    seconds: float = Field(20, ge=0)
    interval_s: float = Field(2, gt=0)
    min_requests: int = Field(5, ge=0, description="fewer canary requests: the signal is too thin to judge")
    require_traffic: bool = Field(False, description="fail the bake when traffic stays under min_requests")
    max_error_rate: float = Field(0.02, ge=0, le=1)
    max_ttft_p95_increase_pct: float = Field(100, ge=0, description="canary vs rest of fleet")
    min_ttft_p95_delta_ms: float = Field(250, ge=0, description="ignore relative rises smaller than this")
    max_ttft_p95_ms: float | None = Field(None, gt=0, description="absolute ceiling, optional")
    prometheus_url: str | None = Field(None, description="query Prometheus instead of scraping nodes")


class PromotionConfig(_Model):
    auto_promote: bool = Field(True, description="promote on every pass verdict; false: only by hand")
    require_approval: bool = False
    approval_models: list[str] = Field(default_factory=list, description="models that always need approval")
    smoke_prompt: str = "Question: What is 12 plus 30?\nAnswer:"
    smoke_max_tokens: int = Field(4, ge=1)
    warmup_requests: int = Field(5, ge=1, description="smoke prompts before a node takes traffic (first is checked)")
    drain_timeout_s: float = Field(120, gt=0)
    lock_wait_s: float = Field(0, ge=0, description="0: a second rollout is refused at once")
    bake: BakeConfig = BakeConfig()


class WatchEntry(_Model):
    """One upstream the ``model_watch`` DAG follows."""

    model: str = Field(description="registry name the new commits are ingested under")
    repo_id: str
    revision: str = Field("main", description="branch or tag to follow")
    allow_patterns: list[str] = Field(default_factory=list)
    ignore_patterns: list[str] = Field(default_factory=list)

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        from airlock.manifest import validate_name

        return validate_name(v)

    @field_validator("repo_id")
    @classmethod
    def _repo(cls, v: str) -> str:
        from airlock.sources.hub import check_repo_id

        return check_repo_id(v)


class WatchConfig(_Model):
    """Scheduled update runs: which hub repos to follow, and how often."""

    schedule: str | None = Field("0 */6 * * *", description="cron; null: only by hand")
    repos: list[WatchEntry] = Field(default_factory=list)


class RetentionConfig(_Model):
    """What ``registry_gc`` keeps. Aliased versions and what the fleet serves are always kept."""

    schedule: str | None = Field("@weekly", description="cron; null: only by hand (dry run by default)")
    keep_last: int = Field(5, ge=1, description="newest versions kept per model")
    blob_grace_hours: float = Field(
        24, ge=0, description="younger unreferenced blobs may belong to an ingest in flight"
    )


class MetricsConfig(_Model):
    """Pipeline metrics pushed to a Prometheus Pushgateway (none: not pushed)."""

    pushgateway_url: str | None = None
    job: str = "airlock"


class AirlockConfig(_Model):
    state_dir: Path = Field(Path(".airlock"), description="node caches, rollout journals, hash cache")
    registry: RegistryConfig = RegistryConfig()
    mlflow: MlflowConfig = MlflowConfig()
    policy: PolicyConfig = PolicyConfig()
    serving: ServingConfig = ServingConfig()
    fleet: FleetConfig = FleetConfig()
    balancer: BalancerConfig = BalancerConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    benchmark: BenchmarkConfig = BenchmarkConfig()
    verdict: VerdictConfig = VerdictConfig()
    promotion: PromotionConfig = PromotionConfig()
    watch: WatchConfig = WatchConfig()
    retention: RetentionConfig = RetentionConfig()
    metrics: MetricsConfig = MetricsConfig()
    signing: SigningConfig = SigningConfig()
    models: dict[str, ModelPolicy] = Field(default_factory=dict, description="per-model suite, floors, SLOs")
    root: Path = Field(REPO_ROOT, description="folder relative paths are resolved against")

    def path(self, p: Path | str) -> Path:
        """Resolve a configured path against the config file's folder."""
        p = Path(p)
        return p if p.is_absolute() else (self.root / p)

    def model_policy(self, model: str, overrides: dict[str, Any] | None = None) -> Policy:
        """The bars ``model`` is judged by: defaults < ``models[model]`` < ``overrides``."""
        return Policy.resolve(
            model, self.evaluation.default_suite, self.verdict, self.benchmark, self.models.get(model), overrides
        )

    @model_validator(mode="after")
    def _models_use_known_suites(self) -> AirlockConfig:
        for name, p in self.models.items():
            if p.suite and p.suite not in self.evaluation.suites:
                raise ValueError(f"models.{name}.suite {p.suite!r} is not among evaluation.suites")
            self.model_policy(name)  # every model's merged verdict settings must validate
        return self

    @model_validator(mode="after")
    def _resolve_state_dir(self) -> AirlockConfig:
        # frozen model: set once here, so every reader gets the absolute folder
        object.__setattr__(self, "state_dir", self.path(self.state_dir))
        return self

    def read_keys(self, paths: list[Path], what: str) -> list[bytes]:
        """The PEM bytes of configured key files; ConfigError naming a missing one."""
        out = []
        for p in paths:
            try:
                out.append(self.path(p).read_bytes())
            except OSError as exc:
                raise ConfigError(f"{what}: cannot read key file {self.path(p)} ({exc.strerror})") from None
        return out

    def trusted_keys(self) -> list[bytes]:
        """The public keys whose signed passes let weights onto the fleet."""
        return self.read_keys(self.signing.public_keys, "signing.public_keys")

    @property
    def haproxy_socket(self) -> Path:
        return self.path(self.balancer.socket) if self.balancer.socket else self.state_dir / "run" / "haproxy.sock"


M = TypeVar("M", bound=BaseModel)


def _apply_env(
    data: dict[str, Any], environ: dict[str, str], prefix: str, defaults: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Overlay ``<prefix><SECTION>__<KEY>`` variables (values parsed as YAML) onto ``data``."""
    base: dict[str, Any] | None = None
    for key, raw in sorted(environ.items()):
        if not key.startswith(prefix):
            continue
        parts = [p.lower() for p in key[len(prefix) :].split("__") if p]
        if not parts:
            continue
        node: dict[str, Any] = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if not isinstance(child, dict):
                # A section the file leaves out: start from its defaults, so that
                # AIRLOCK__EVALUATION__STAGING__PORT keeps the staging node's name.
                if base is None:
                    base = defaults()
                default: Any = base
                for p in parts[: i + 1]:
                    default = default.get(p) if isinstance(default, dict) else None
                child = dict(default) if isinstance(default, dict) else {}
                node[part] = child
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"environment variable {key}: not a valid value ({exc})") from exc
    return data


def load_model(model: type[M], path: Path, environ: dict[str, str], prefix: str) -> M:
    """Read a YAML file into ``model``, with ``prefix`` environment overrides;
    raise :class:`ConfigError` naming the file and every bad key."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    data = _apply_env(data, environ, prefix, lambda: model().model_dump(mode="json", exclude={"root"}))
    data.setdefault("root", str(path.resolve().parent))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path}: invalid configuration: {problems}") from None


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> AirlockConfig:
    """Load and validate the config; raise :class:`ConfigError` naming the bad key.

    ``path`` defaults to ``$AIRLOCK_CONFIG`` or the repository's ``airlock.yaml``.
    """
    env = dict(os.environ if environ is None else environ)
    return load_model(AirlockConfig, Path(path or env.get(CONFIG_ENV) or DEFAULT_CONFIG), env, ENV_PREFIX)
