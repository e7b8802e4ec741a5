"""What the lifecycle's tasks hand each other: typed, validated, JSON on the wire.

Every task takes and returns one of these models; XCom carries their JSON
(``model_dump(mode="json")``). The same models validate what arrives from
outside: a trigger's conf (the UI form), and the extra of an Asset event. An
unknown or missing key fails the first task with a message naming it
(:func:`parse`), instead of being ignored.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airlock.errors import InvalidRequest
from airlock.manifest import NAME_RE, SHA256_RE, validate_name

P = TypeVar("P", bound="Payload")


class Payload(BaseModel):
    """Strict: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def parse(model: type[P], data: Any, what: str) -> P:
    """Validate ``data`` as ``model``; InvalidRequest naming every bad or unknown key."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidRequest(f"invalid {what}: {problems}") from None


def _name(v: str) -> str:
    try:
        return validate_name(v.strip())
    except InvalidRequest as exc:
        raise ValueError(str(exc)) from None


DIGEST = SHA256_RE.pattern  # a version's identity: 64 lowercase hex digits
DIGEST_OR_EMPTY = r"^([0-9a-f]{64})?$"


# --- model_intake ------------------------------------------------------------


class IntakeRequest(Payload):
    """The ``model_intake`` form. ``location``: a repo id (hub), an s3:// URI or a directory."""

    model_name: str
    source_kind: str
    location: str
    revision: str = "main"
    allow_patterns: list[str] = []
    ignore_patterns: list[str] = []
    full_verify: bool = False
    connection: str = Field(
        "", pattern=r"^[A-Za-z0-9_.-]{0,250}$", description="Airflow connection with the source's credentials"
    )

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, v: str) -> str:
        return _name(v)

    @field_validator("source_kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        from airlock.sources import SOURCES

        if v not in SOURCES:
            raise ValueError(f"unknown source kind {v!r}; known: {', '.join(sorted(SOURCES))}")
        return v

    @model_validator(mode="after")
    def _location(self) -> IntakeRequest:
        from airlock.sources import source_class

        if not self.location.strip():
            raise ValueError("location is empty: give a repo id, an s3:// URI or a directory")
        try:
            source_class(self.source_kind).check_location(self.location, self.revision)
        except InvalidRequest as exc:
            raise ValueError(str(exc)) from None
        return self


class Admission(Payload):
    """A request that passed the policy on its listing: the pinned revision and its size."""

    request: IntakeRequest
    revision: str
    files: int
    total_bytes: int


class IngestResult(Payload):
    """The version an ingest wrote (or found): its digest and what really moved."""

    name: str
    digest: str
    uri: str
    revision: str
    created: bool
    files: int
    total_bytes: int
    bytes_uploaded: int
    bytes_skipped: int
    seconds: float = 0.0


class VerifiedVersion(IngestResult):
    verified: Literal["quick", "full"]
    verified_files: int


class Candidate(Payload):
    """A version ready for evaluation: the ``airlock_candidate`` Asset event's extra."""

    model: str = Field(pattern=NAME_RE.pattern)
    digest: str = Field(pattern=DIGEST)
    manifest_uri: str
    revision: str
    mlflow_run_id: str


# --- model_evaluate ----------------------------------------------------------


class EvaluationRequest(Payload):
    """The ``model_evaluate`` form: empty digest means the newest version; empty suite the default."""

    model: str = Field(pattern=NAME_RE.pattern)
    digest: str = Field("", pattern=DIGEST_OR_EMPTY)
    suite: str = ""
    policy: dict[str, Any] = Field(
        default_factory=dict, description="this run's overrides of the model's policy (suite, verdict, SLOs)"
    )


class EvaluationTarget(Payload):
    model: str
    digest: str
    suite: str
    manifest_uri: str
    policy: dict[str, Any] = Field(default_factory=dict, description="the run's policy overrides, as requested")


class StagedCandidate(EvaluationTarget):
    """Verified on the staging node's disk; ``startup_s`` once its server answers."""

    model_dir: str
    base_url: str
    startup_s: float | None = None


class TaskScore(Payload):
    """One lm-eval task's result: the metric, its stderr, and per-sample scores by doc id (no text)."""

    task: str
    metric: str
    value: float
    stderr: float | None
    n: int
    samples: dict[str, float] = {}

    def summary(self) -> dict[str, Any]:
        return self.model_dump(exclude={"samples"})


class AccuracyResult(Payload):
    scores: list[TaskScore]
    raw: dict[str, Any]


class SweepPoint(Payload):
    """One concurrency of vLLM's serve benchmark (the median over repeats)."""

    concurrency: int
    completed: int
    failed: int
    request_throughput: float
    output_throughput: float
    request_goodput: float | None
    ttft_mean_ms: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    tpot_mean_ms: float
    tpot_p50_ms: float
    tpot_p99_ms: float
    itl_mean_ms: float
    itl_p50_ms: float
    itl_p99_ms: float
    e2el_mean_ms: float
    e2el_p50_ms: float
    e2el_p99_ms: float
    num_prompts: int

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @field_validator("*", mode="before")
    @classmethod
    def _none_is_nan(cls, v: Any, info: Any) -> Any:
        # JSON has no NaN: a metric vLLM did not report travels as null and comes back NaN
        if v is None and info.field_name not in ("request_goodput",):
            return math.nan
        return v


class FigureRatio(Payload):
    """One figure at one sweep point: candidate / baseline over interleaved rounds, with its interval."""

    figure: Literal["output_throughput", "request_goodput", "ttft_p50_ms"]
    ratio: float
    low: float
    high: float
    rounds: int
    allowed: float  # the change tolerated, as a fraction
    higher_is_better: bool
    outcome: Literal["pass", "regression", "undecided"]


class PointComparison(Payload):
    """One concurrency: the rounds run and each figure's ratio. ``figures`` lacks a figure with
    no round where both sides were above zero (e.g. goodput when no request met the SLOs)."""

    concurrency: int
    rounds: int
    figures: list[FigureRatio]


class PerformanceResult(Payload):
    """The candidate's sweep (median per point over rounds), the baseline's, and their comparison.

    ``baseline``: ``champion v<N>`` (served on the baseline node, runs interleaved with the
    candidate's) or ``re-run`` (no champion: the candidate against its own interleaved re-runs,
    which shows what this host's noise alone does to the ratio).
    """

    points: list[SweepPoint]
    raws: list[dict[str, Any]]
    baseline: str = "re-run"
    baseline_points: list[SweepPoint] = []
    comparisons: list[PointComparison] = []


class EvaluationRun(Payload):
    """The candidate's MLflow run, once every raw result is logged in it."""

    run_id: str


class VerdictEvent(Payload):
    """The verdict on a version: ``decide``'s result and the ``airlock_verdict`` Asset event's extra."""

    model: str = Field(pattern=NAME_RE.pattern)
    digest: str = Field(pattern=DIGEST)
    manifest_uri: str
    model_version: str
    verdict: Literal["pass", "fail"]
    passed: bool
    reasons: list[str]
    mlflow_run_id: str
    mlflow_run_url: str
    report: str
    signed_pass: str | None = None  # the pass's signature in the registry, once signed


# --- model_promote / model_rollback ------------------------------------------


class PromotionRequest(Payload):
    """The ``model_promote`` form (filled from the verdict event when scheduled)."""

    model: str = Field(pattern=NAME_RE.pattern)
    digest: str = Field("", pattern=DIGEST_OR_EMPTY)
    require_approval: bool = False


class RollbackRequest(Payload):
    """The ``model_rollback`` form: 'previous', 'champion', a version number or a digest."""

    model: str = Field(pattern=NAME_RE.pattern)
    version: str = Field("previous", pattern=r"^(previous|champion|[0-9]{1,9}|[0-9a-f]{64})$")


class RolloutPlan(Payload):
    """What a rollout moves the fleet to, and what it restores on failure."""

    model: str
    digest: str
    version: str | None  # the MLflow model version; None for weights outside MLflow (the bootstrap)
    previous_digest: str | None
    previous_version: str | None


class RolloutResult(Payload):
    """Who moved where and how long it took, and the canary bake."""

    kind: Literal["promote", "rollback"]
    model: str
    target: str
    previous: str | None
    phase: str
    started: str
    nodes: list[dict[str, Any]]
    bake: dict[str, Any] | None


class Finalized(Payload):
    """The aliases after a rollout, and the history entry recorded on the version."""

    plan: RolloutPlan
    champion: str | None
    previous: str | None
    history: dict[str, Any] | None


# --- operations --------------------------------------------------------------


class GcRequest(Payload):
    """The ``registry_gc`` form (a dry run unless told otherwise)."""

    dry_run: bool = True
    keep_last: int = Field(5, ge=1, le=1000)
    models: list[str] = []

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str]) -> list[str]:
        return [_name(m) for m in v]


class IntakeTrigger(Payload):
    """One ``model_intake`` run ``model_watch`` triggers: a fixed run id and the form's values."""

    trigger_run_id: str
    conf: IntakeRequest


class GcResult(Payload):
    """What a GC deleted (or, in a dry run, would delete), and why the rest stayed."""

    dry_run: bool
    keep_last: int
    versions_deleted: dict[str, list[str]]
    versions_kept: dict[str, int]
    kept_by_alias_or_fleet: dict[str, str]
    blobs_deleted: int
    bytes_freed: int
    orphan_blobs_in_grace: int
