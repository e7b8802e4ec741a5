"""The evaluation gate's settings: suites, the benchmark, the verdict, and per-model policy.

Why apart from :mod:`airlock.config`: these are the bars a candidate must clear, and two
models rarely share them (a 135M chat model and a 70B one differ in every floor and SLO).
:class:`ModelPolicy` overrides the global defaults per model, in the config and, for one run,
from the ``model_evaluate`` form; :meth:`Policy.resolve` merges and validates the result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from airlock.errors import InvalidRequest


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SuiteConfig(_Model):
    """One accuracy suite: lm-eval task names, judged per task on one metric.

    Standard task names (``arc_easy``, ``hellaswag``, ``gsm8k_cot_llama``) run unmodified; their
    datasets come from ``evaluation.datasets_endpoint`` (a hub mirror) or the local datasets cache.
    """

    tasks: list[str] = Field(min_length=1)
    include_paths: list[Path] = Field(default_factory=list, description="folders of private task YAMLs")
    metrics: dict[str, str] = Field(default_factory=dict, description="task -> metric key (default: first)")
    expected_samples: dict[str, int] = Field(default_factory=dict, description="task -> sample count (GX gate)")
    chat: list[str] = Field(
        default_factory=list,
        description="generation tasks sent to /v1/chat/completions with the model's chat template, "
        "few-shot examples as turns",
    )
    max_gen_toks: dict[str, int] = Field(default_factory=dict, description="task -> generation budget in tokens")
    num_fewshot: int | None = None
    limit: int | dict[str, int] | None = Field(None, description="documents per task (all: int; per task: mapping)")

    @model_validator(mode="after")
    def _keys_are_tasks(self) -> SuiteConfig:
        for what, keys in (
            ("metrics", self.metrics),
            ("expected_samples", self.expected_samples),
            ("chat", self.chat),
            ("max_gen_toks", self.max_gen_toks),
            ("limit", self.limit if isinstance(self.limit, dict) else {}),
        ):
            stray = sorted(set(keys) - set(self.tasks))
            if stray:
                raise ValueError(f"{what} names task(s) not in the suite's tasks: {', '.join(stray)}")
        if any(v < 1 for v in self.max_gen_toks.values()) or (
            isinstance(self.limit, dict) and any(v < 1 for v in self.limit.values())
        ):
            raise ValueError("max_gen_toks and limit must be >= 1")
        return self

    def task_limit(self, task: str) -> int | None:
        return self.limit.get(task) if isinstance(self.limit, dict) else self.limit


class BenchmarkConfig(_Model):
    """vLLM's serve benchmark per sweep point, in rounds: one run of the candidate and one of the
    baseline (the champion on its own node, or the candidate's re-run), in alternating order."""

    concurrencies: list[int] = Field(default_factory=lambda: [1, 4, 16], min_length=1)
    num_prompts: int = Field(50, ge=1)
    input_len: int = Field(64, ge=1)
    output_len: int = Field(32, ge=1)
    slo_ttft_ms: float = Field(1000, gt=0)
    slo_tpot_ms: float = Field(200, gt=0)
    timeout_s: float = Field(600, gt=0)
    max_rounds: int = Field(
        5, ge=3, le=20, description="rounds per point at most; a point stops once every ratio interval is decided"
    )


class VerdictConfig(_Model):
    """How a candidate is judged against the champion (or the floors)."""

    min_effect: float = Field(0.05, gt=0, le=1, description="smallest true accuracy drop the gate must catch")
    tolerance_fraction: float = Field(0.5, gt=0, le=1, description="an observed drop counts above min_effect x this")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="one-sided significance level")
    power: float = Field(0.96, gt=0.5, lt=1, description="design power at a true drop of min_effect (suite size)")
    assumed_churn: float = Field(
        0.05, ge=0, le=0.5, description="share of items an equal model answers differently each way (suite size)"
    )
    default_floor: float = Field(0.5, ge=0, le=1, description="absolute floor per task with no champion")
    floors: dict[str, float] = Field(default_factory=dict)
    max_throughput_drop_pct: float = Field(30, ge=0)
    max_latency_increase_pct: float = Field(50, ge=0)
    min_slo_attainment: float = Field(
        0.9, ge=0, le=1, description="share of requests within the model's SLOs (goodput / throughput) per point"
    )


class ModelPolicy(_Model):
    """One model's bars, each overriding the global default it names (absent: the default)."""

    suite: str | None = Field(None, description="suite name; absent: evaluation.default_suite")
    verdict: dict[str, Any] = Field(default_factory=dict, description="any verdict key, e.g. floors, min_effect")
    slo_ttft_ms: float | None = Field(None, gt=0, description="goodput SLO; absent: benchmark.slo_ttft_ms")
    slo_tpot_ms: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _verdict_keys(self) -> ModelPolicy:
        unknown = sorted(set(self.verdict) - set(VerdictConfig.model_fields))
        if unknown:
            raise ValueError(f"unknown verdict key(s) {', '.join(unknown)}")
        return self


class Policy(_Model):
    """What one evaluation is judged by: the suite, the verdict settings and the SLOs."""

    suite: str
    verdict: VerdictConfig
    slo_ttft_ms: float
    slo_tpot_ms: float

    @classmethod
    def resolve(
        cls,
        model: str,
        default_suite: str,
        verdict: VerdictConfig,
        bench: BenchmarkConfig,
        configured: ModelPolicy | None,
        overrides: dict[str, Any] | None = None,
    ) -> Policy:
        """Global defaults < the model's entry in ``models`` < this run's overrides (a Param).

        Floors merge per task; every other key replaces. InvalidRequest names a bad override.
        """
        layers = [configured or ModelPolicy()]
        if overrides:
            try:
                layers.append(ModelPolicy.model_validate(overrides))
            except ValidationError as exc:
                raise InvalidRequest(f"policy override for {model!r}: {_problems(exc)}") from None
        suite, v = default_suite, verdict.model_dump()
        slo = {"slo_ttft_ms": bench.slo_ttft_ms, "slo_tpot_ms": bench.slo_tpot_ms}
        for layer in layers:
            suite = layer.suite or suite
            for key, value in layer.verdict.items():
                v[key] = {**v["floors"], **value} if key == "floors" and isinstance(value, dict) else value
            slo.update({k: val for k in slo if (val := getattr(layer, k)) is not None})
        try:
            return cls(suite=suite, verdict=VerdictConfig.model_validate(v), **slo)
        except ValidationError as exc:
            raise InvalidRequest(f"policy for {model!r}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        ": ".join(x for x in (".".join(str(p) for p in e["loc"]), e["msg"].removeprefix("Value error, ")) if x)
        for e in exc.errors()
    )
