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
from pathlib import Path
from typing import Any

from airlock.config import AirlockConfig, SuiteConfig
from airlock.errors import ConfigError, GateFailed, InvalidRequest, NodeUnavailable
from airlock.payloads import TaskScore

log = logging.getLogger(__name__)

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

__all__ = ["TaskScore", "include_paths", "run_suite", "suite"]


def suite(cfg: AirlockConfig, name: str | None) -> tuple[str, SuiteConfig]:
    """The named suite (the default when empty); InvalidRequest naming the configured ones."""
    name = name or cfg.evaluation.default_suite
    if name not in cfg.evaluation.suites:
        configured = ", ".join(sorted(cfg.evaluation.suites)) or "none (evaluation.suites is empty)"
        raise InvalidRequest(f"unknown suite {name!r}; configured: {configured}")
    return name, cfg.evaluation.suites[name]


def include_paths(cfg: AirlockConfig, s: SuiteConfig) -> list[str]:
    """The suite's task folders, resolved; each must exist."""
    paths = [cfg.path(p) for p in s.include_paths]
    missing = [str(p) for p in paths if not p.is_dir()]
    if missing:
        raise ConfigError(f"suite task folder(s) not found: {', '.join(missing)}")
    return [str(p) for p in paths]


def run_suite(
    cfg: AirlockConfig, suite_name: str | None, base_url: str, served_model: str, tokenizer_dir: Path
) -> tuple[list[TaskScore], dict[str, Any]]:
    """Run a suite against ``base_url``; returns per-task scores and the raw
    lm-eval results (aggregates and config only, no samples)."""
    name, s = suite(cfg, suite_name)
    os.environ.update(OFFLINE_ENV)
    import lm_eval
    from lm_eval.tasks import TaskManager

    chat = cfg.evaluation.chat
    endpoint = "/v1/chat/completions" if chat else "/v1/completions"
    model_args = {
        "model": served_model,
        "base_url": base_url.rstrip("/") + endpoint,
        "tokenizer_backend": "huggingface",
        "tokenizer": str(tokenizer_dir),
        "num_concurrent": cfg.evaluation.num_concurrent,
        "max_retries": 3,
        "tokenized_requests": False,
    }
    tm = TaskManager(include_path=include_paths(cfg, s) or None)
    unknown = [t for t in s.tasks if t not in tm.all_tasks]
    if unknown:
        raise ConfigError(
            f"suite {name!r}: unknown lm-eval task(s) {', '.join(unknown)} "
            "(not built in, not in the suite's include_paths)"
        )
    # lm-eval logs each request batch at INFO with no text; quiet it anyway.
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    try:
        out = lm_eval.simple_evaluate(
            model="local-chat-completions" if chat else "local-completions",
            model_args=model_args,
            tasks=list(s.tasks),
            num_fewshot=s.num_fewshot,
            limit=s.limit,
            task_manager=tm,
            log_samples=True,
            write_out=False,
            apply_chat_template=chat,
            bootstrap_iters=1000,
        )
    except Exception as exc:  # noqa: BLE001 - lm-eval raises many kinds; name the suite
        # Unclassified: most often the node stopped answering. Retryable, once, by the task's retries.
        raise NodeUnavailable(
            f"lm-eval failed on suite {name!r} against {base_url}: {type(exc).__name__}: {exc}"
        ) from exc
    if out is None:
        raise GateFailed(f"lm-eval returned nothing for suite {name!r}")
    scores = [_score(task, s.metrics.get(task), out) for task in s.tasks]
    raw = {k: out[k] for k in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples") if k in out}
    raw["suite"] = name
    for task in raw.get("configs", {}).values():  # the configs hold data paths, not data
        task.pop("dataset_kwargs", None)
    return scores, raw


def _score(task: str, metric: str | None, out: dict[str, Any]) -> TaskScore:
    res = out["results"].get(task)
    if res is None:
        raise GateFailed(f"lm-eval produced no result for task {task!r}")
    keys = [k for k in res if "," in k and "_stderr" not in k]
    key = metric or (keys[0] if keys else "")
    if not key or key not in res:
        raise ConfigError(f"task {task!r} has no metric {key!r}; it has {', '.join(keys)}")
    base, _, filt = key.partition(",")
    stderr = res.get(f"{base}_stderr,{filt}")
    stderr = float(stderr) if isinstance(stderr, (int, float)) and not math.isnan(stderr) else None
    samples: dict[str, float] = {}
    for rec in out.get("samples", {}).get(task, []):
        if base in rec and rec.get("filter", filt) == filt:
            samples[str(rec["doc_id"])] = float(rec[base])
    n = out.get("n-samples", {}).get(task, {}).get("effective", len(samples))
    return TaskScore(task=task, metric=key, value=float(res[key]), stderr=stderr, n=int(n), samples=samples)
