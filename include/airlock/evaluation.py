"""Accuracy: lm-eval against a node's OpenAI-compatible endpoint.

lm-eval runs in this process with ``local-completions`` (or
``local-chat-completions``), the tokenizer read from the staged model folder,
and the offline switches set. Per-sample records are kept in memory only: what
leaves this module is, per task, the metric, its stderr, the sample count and
a vector of per-sample scores keyed by doc id (numbers, never text), which the
verdict uses for a paired comparison.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airlock.config import AirlockConfig, SuiteConfig

log = logging.getLogger(__name__)

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}


class EvaluationError(RuntimeError):
    """lm-eval could not run the suite, or a task is unknown."""


@dataclass
class TaskScore:
    task: str
    metric: str
    value: float
    stderr: float | None
    n: int
    samples: dict[str, float] = field(default_factory=dict)  # doc_id -> score

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "samples"}


def suite(cfg: AirlockConfig, name: str | None) -> tuple[str, SuiteConfig]:
    name = name or cfg.evaluation.default_suite
    if name not in cfg.evaluation.suites:
        raise EvaluationError(f"unknown suite {name!r}; configured: {', '.join(sorted(cfg.evaluation.suites))}")
    return name, cfg.evaluation.suites[name]


def include_paths(cfg: AirlockConfig, s: SuiteConfig) -> list[str]:
    paths = [str(cfg.path(p)) for p in s.include_paths]
    if s.builtin_private:
        from airlock.factory.tasks import write_task_dir

        paths.append(str(write_task_dir(cfg.state_dir / "evals" / "private")))
    return paths


def run_suite(cfg: AirlockConfig, suite_name: str | None, base_url: str, served_model: str,
              tokenizer_dir: Path) -> tuple[list[TaskScore], dict[str, Any]]:
    """Run a suite against ``base_url``; returns per-task scores and the raw
    lm-eval results (aggregates and config only, no samples)."""
    name, s = suite(cfg, suite_name)
    os.environ.update(OFFLINE_ENV)
    import lm_eval
    from lm_eval.tasks import TaskManager

    chat = cfg.evaluation.chat
    endpoint = "/v1/chat/completions" if chat else "/v1/completions"
    model_args = {"model": served_model, "base_url": base_url.rstrip("/") + endpoint,
                  "tokenizer_backend": "huggingface", "tokenizer": str(tokenizer_dir),
                  "num_concurrent": cfg.evaluation.num_concurrent, "max_retries": 3,
                  "tokenized_requests": False}
    tm = TaskManager(include_path=include_paths(cfg, s) or None)
    unknown = [t for t in s.tasks if t not in tm.all_tasks]
    if unknown:
        raise EvaluationError(f"suite {name!r}: unknown lm-eval task(s) {', '.join(unknown)} "
                              "(not built in, not in the suite's include_paths)")
    # lm-eval logs each request batch at INFO with no text; quiet it anyway.
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    try:
        out = lm_eval.simple_evaluate(
            model="local-chat-completions" if chat else "local-completions", model_args=model_args,
            tasks=list(s.tasks), num_fewshot=s.num_fewshot, limit=s.limit, task_manager=tm,
            log_samples=True, write_out=False, apply_chat_template=chat, bootstrap_iters=1000,
        )
    except Exception as exc:  # noqa: BLE001 - lm-eval raises many kinds; name the suite
        raise EvaluationError(f"lm-eval failed on suite {name!r}: {type(exc).__name__}: {exc}") from exc
    if out is None:
        raise EvaluationError(f"lm-eval returned nothing for suite {name!r}")
    scores = [_score(task, s.metrics.get(task), out) for task in s.tasks]
    raw = {k: out[k] for k in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples")
           if k in out}
    raw["suite"] = name
    for task in raw.get("configs", {}).values():  # the configs hold data paths, not data
        task.pop("dataset_kwargs", None)
    return scores, raw


def _score(task: str, metric: str | None, out: dict[str, Any]) -> TaskScore:
    res = out["results"].get(task)
    if res is None:
        raise EvaluationError(f"lm-eval produced no result for task {task!r}")
    keys = [k for k in res if "," in k and "_stderr" not in k]
    key = metric or (keys[0] if keys else None)
    if key not in res:
        raise EvaluationError(f"task {task!r} has no metric {key!r}; it has {', '.join(keys)}")
    base, _, filt = key.partition(",")
    stderr = res.get(f"{base}_stderr,{filt}")
    stderr = float(stderr) if isinstance(stderr, (int, float)) and not math.isnan(stderr) else None
    samples = {}
    for rec in out.get("samples", {}).get(task, []):
        if base in rec and rec.get("filter", filt) == filt:
            samples[str(rec["doc_id"])] = float(rec[base])
    n = out.get("n-samples", {}).get(task, {}).get("effective", len(samples))
    return TaskScore(task, key, float(res[key]), stderr, int(n), samples)
