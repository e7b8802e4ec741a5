"""Accuracy: lm-eval against a node's OpenAI-compatible endpoint.

lm-eval runs in this process: log-likelihood and plain generation tasks through
``local-completions`` (several prompts per request), the suite's chat tasks
through ``local-chat-completions`` with the model's chat template and few-shot
examples as turns; the tokenizer is read from the staged model folder. Task
datasets come from the configured hub mirror or the local datasets cache.

Per-sample records are kept in memory only: what leaves this module is, per
task, the metric, its stderr, the sample count and a vector of per-sample
scores keyed by doc id (numbers, never text), which the verdict uses for a
paired comparison.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airlock.config import AirlockConfig, SuiteConfig
from airlock.errors import ConfigError, GateFailed, InvalidRequest, NodeUnavailable
from airlock.payloads import TaskScore

log = logging.getLogger(__name__)

# Always: no telemetry, no download counts, quiet tokenizers.
QUIET_ENV = {"HF_HUB_DISABLE_TELEMETRY": "1", "HF_UPDATE_DOWNLOAD_COUNTS": "0", "TOKENIZERS_PARALLELISM": "false"}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

__all__ = ["TaskScore", "chat_template_sha256", "include_paths", "run_suite", "suite"]


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


def datasets_env(cfg: AirlockConfig) -> dict[str, str]:
    """Where task datasets come from: the configured hub mirror, or the local cache only.

    Set before lm-eval (and so datasets and huggingface_hub) is first imported in the process:
    both read these variables once, at import.
    """
    endpoint = cfg.evaluation.datasets_endpoint
    if endpoint is None:
        return {**QUIET_ENV, **OFFLINE_ENV}
    return {**QUIET_ENV, "HF_ENDPOINT": endpoint.rstrip("/"), "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0"}


def chat_template_sha256(model_dir: Path) -> str | None:
    """The digest of the chat template the server applies (``chat_template.jinja`` or the one in
    ``tokenizer_config.json``): a changed template changes every chat score, so it is recorded."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        text = jinja.read_text()
    else:
        try:
            tpl = json.loads((model_dir / "tokenizer_config.json").read_text()).get("chat_template")
        except (OSError, ValueError):
            return None
        if tpl is None:
            return None
        text = tpl if isinstance(tpl, str) else json.dumps(tpl, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class _Batch:
    """Tasks lm-eval runs in one call: same endpoint, same generation budget."""

    chat: bool
    max_gen_toks: int | None
    tasks: tuple[str, ...]


def _batches(s: SuiteConfig) -> list[_Batch]:
    groups: dict[tuple[bool, int | None], list[str]] = {}
    for t in s.tasks:
        groups.setdefault((t in s.chat, s.max_gen_toks.get(t)), []).append(t)
    return [_Batch(chat, budget, tuple(ts)) for (chat, budget), ts in groups.items()]


def run_suite(
    cfg: AirlockConfig, suite_name: str | None, base_url: str, served_model: str, tokenizer_dir: Path
) -> tuple[list[TaskScore], dict[str, Any]]:
    """Run a suite against ``base_url``; returns per-task scores and the raw lm-eval results
    (aggregates, task configs with their generation settings, no samples)."""
    name, s = suite(cfg, suite_name)
    os.environ.update(datasets_env(cfg))
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=include_paths(cfg, s) or None)
    unknown = [t for t in s.tasks if t not in tm.all_tasks]
    if unknown:
        raise ConfigError(
            f"suite {name!r}: unknown lm-eval task(s) {', '.join(unknown)} "
            "(not built in, not in the suite's include_paths)"
        )
    # lm-eval logs each request batch at INFO with no text; quiet it anyway.
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    raw: dict[str, Any] = {"suite": name, "chat_template_sha256": chat_template_sha256(tokenizer_dir)}
    out: dict[str, Any] = {"results": {}, "samples": {}, "n-samples": {}}
    for batch in _batches(s):
        for limit, tasks in _by_limit(s, batch.tasks).items():
            log.info("lm-eval: %s (%s)", ", ".join(tasks), "chat" if batch.chat else "completions")
            got = _evaluate(cfg, name, batch, tasks, limit, s.num_fewshot, tm, base_url, served_model, tokenizer_dir)
            for key in ("results", "samples", "n-samples", "configs", "versions", "n-shot", "higher_is_better"):
                out.setdefault(key, {}).update(got.get(key, {}))
    scores = [_score(task, s.metrics.get(task), out) for task in s.tasks]
    for k in ("results", "configs", "versions", "n-shot", "higher_is_better", "n-samples"):
        raw[k] = out.get(k, {})
    for task in raw["configs"].values():  # the configs hold data paths, not data
        task.pop("dataset_kwargs", None)
    raw = json.loads(json.dumps(raw, default=_name))  # task configs hold functions (process_docs, filters)
    raw["generation"] = {t: c.get("generation_kwargs") for t, c in raw["configs"].items() if c.get("generation_kwargs")}
    raw["chat_tasks"] = list(s.chat)
    return scores, raw


def _name(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _by_limit(s: SuiteConfig, tasks: tuple[str, ...]) -> dict[int | None, list[str]]:
    out: dict[int | None, list[str]] = {}
    for t in tasks:
        out.setdefault(s.task_limit(t), []).append(t)
    return out


def _evaluate(
    cfg: AirlockConfig,
    suite_name: str,
    batch: _Batch,
    tasks: list[str],
    limit: int | None,
    num_fewshot: int | None,
    tm: Any,
    base_url: str,
    served_model: str,
    tokenizer_dir: Path,
) -> dict[str, Any]:
    import lm_eval

    endpoint = "/v1/chat/completions" if batch.chat else "/v1/completions"
    model_args: dict[str, Any] = {
        "model": served_model,
        "base_url": base_url.rstrip("/") + endpoint,
        "tokenizer_backend": "huggingface",
        "tokenizer": str(tokenizer_dir),
        "num_concurrent": cfg.evaluation.num_concurrent,
        "max_retries": 3,
        "tokenized_requests": False,
    }
    if not batch.chat:  # several prompts per request: log-likelihoods are scored in batches
        model_args["batch_size"] = cfg.evaluation.batch_size
    try:
        out = lm_eval.simple_evaluate(
            model="local-chat-completions" if batch.chat else "local-completions",
            model_args=model_args,
            tasks=tasks,
            num_fewshot=num_fewshot,
            limit=limit,
            task_manager=tm,
            log_samples=True,
            write_out=False,
            apply_chat_template=batch.chat,
            fewshot_as_multiturn=batch.chat and num_fewshot != 0,
            gen_kwargs=f"max_gen_toks={batch.max_gen_toks}" if batch.max_gen_toks else None,
            bootstrap_iters=1000,
        )
    except (ConfigError, InvalidRequest):
        raise
    except Exception as exc:  # noqa: BLE001 - lm-eval raises many kinds; name the suite
        # Unclassified: most often the node stopped answering. Retryable, once, by the task's retries.
        raise NodeUnavailable(
            f"lm-eval failed on suite {suite_name!r} ({', '.join(tasks)}) against {base_url}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if out is None:
        raise GateFailed(f"lm-eval returned nothing for suite {suite_name!r}")
    return dict(out)


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
