"""Performance: vLLM's own serve benchmark, swept over configured concurrencies.

Each sweep point is one run of ``vllm bench serve`` (random dataset, greedy,
``--ignore-eos`` so every request produces the full output length) with its
JSON result saved; this module turns those files into typed metrics. The
per-request lists and any generated text are dropped before anything is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from airlock.config import AirlockConfig
from airlock.errors import NodeUnavailable
from airlock.nodes.supervisor import log_tail
from airlock.payloads import SweepPoint

SHIM = Path(__file__).with_name("vllm_bench.py")
PER_REQUEST = (
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "latencies",
    "start_times",
    "queue_times",
    "generated_texts",
    "errors",
)


__all__ = ["SweepPoint", "parse_result", "run_point", "run_sweep"]


def parse_result(raw: dict[str, Any], concurrency: int, num_prompts: int) -> SweepPoint:
    def g(key: str) -> float:
        v = raw.get(key)
        return float(v) if v is not None else float("nan")

    return SweepPoint(
        concurrency=concurrency,
        completed=int(raw.get("completed", 0)),
        failed=int(raw.get("failed", 0)),
        request_throughput=g("request_throughput"),
        output_throughput=g("output_throughput"),
        request_goodput=None if raw.get("request_goodput") is None else float(raw["request_goodput"]),
        ttft_mean_ms=g("mean_ttft_ms"),
        ttft_p50_ms=g("median_ttft_ms"),
        ttft_p99_ms=g("p99_ttft_ms"),
        tpot_mean_ms=g("mean_tpot_ms"),
        tpot_p50_ms=g("median_tpot_ms"),
        tpot_p99_ms=g("p99_tpot_ms"),
        itl_mean_ms=g("mean_itl_ms"),
        itl_p50_ms=g("median_itl_ms"),
        itl_p99_ms=g("p99_itl_ms"),
        e2el_mean_ms=g("mean_e2el_ms"),
        e2el_p50_ms=g("median_e2el_ms"),
        e2el_p99_ms=g("p99_e2el_ms"),
        num_prompts=num_prompts,
    )


def bench_args(
    cfg: AirlockConfig,
    base_url: str,
    served_model: str,
    tokenizer_dir: Path,
    concurrency: int,
    result_dir: Path,
    filename: str,
) -> list[str]:
    b = cfg.benchmark
    return [
        "--backend",
        "vllm",
        "--base-url",
        base_url,
        "--endpoint",
        "/v1/completions",
        "--model",
        served_model,
        "--tokenizer",
        str(tokenizer_dir),
        "--dataset-name",
        "random",
        "--random-input-len",
        str(b.input_len),
        "--random-output-len",
        str(b.output_len),
        "--num-prompts",
        str(b.num_prompts),
        "--request-rate",
        "inf",
        "--max-concurrency",
        str(concurrency),
        "--ignore-eos",
        "--temperature",
        "0",
        "--seed",
        "0",
        "--disable-tqdm",
        "--num-warmups",
        "2",
        "--percentile-metrics",
        "ttft,tpot,itl,e2el",
        "--metric-percentiles",
        "50,99",
        "--goodput",
        f"ttft:{b.slo_ttft_ms}",
        f"tpot:{b.slo_tpot_ms}",
        "--save-result",
        "--result-dir",
        str(result_dir),
        "--result-filename",
        filename,
    ]


def median_point(runs: list[SweepPoint]) -> SweepPoint:
    """Each figure the median over repeated runs of one sweep point (counts summed)."""
    import statistics

    first = runs[0]
    out: dict[str, Any] = {}
    for k, v in first.as_dict().items():
        vals = [getattr(r, k) for r in runs]
        if k in ("completed", "failed", "num_prompts"):
            out[k] = sum(vals)
        elif k == "concurrency":
            out[k] = v
        elif any(x is None for x in vals):
            out[k] = None
        else:
            out[k] = float(statistics.median(vals))
    return SweepPoint(**out)


def run_point(
    cfg: AirlockConfig,
    base_url: str,
    served_model: str,
    tokenizer_dir: Path,
    concurrency: int,
    work_dir: Path,
    tag: str = "",
) -> tuple[SweepPoint, dict[str, Any]]:
    """One run at one sweep point; returns the typed metrics and the raw summary JSON."""
    work_dir.mkdir(parents=True, exist_ok=True)
    fname = f"bench-c{concurrency}{tag}.json"
    log = work_dir / f"bench-c{concurrency}{tag}.log"
    argv = [
        str(cfg.path(cfg.serving.python)),
        str(SHIM),
        *bench_args(cfg, base_url, served_model, tokenizer_dir, concurrency, work_dir, fname),
    ]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_CACHE_ROOT": str(cfg.state_dir / "vllm-cache"),
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_ACCESS_KEY_ID": "",
    }
    with log.open("wb") as fh:
        try:
            proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=cfg.benchmark.timeout_s)
        except subprocess.TimeoutExpired:
            raise NodeUnavailable(
                f"benchmark at concurrency {concurrency} timed out after "
                f"{cfg.benchmark.timeout_s:.0f}s\n{log_tail(log)}"
            ) from None
    if proc.returncode != 0 or not (work_dir / fname).exists():
        raise NodeUnavailable(
            f"benchmark at concurrency {concurrency} failed (exit {proc.returncode})\n{log_tail(log)}"
        )
    raw = json.loads((work_dir / fname).read_text())
    for k in PER_REQUEST:
        raw.pop(k, None)
    (work_dir / fname).write_text(json.dumps(raw, indent=2, sort_keys=True))
    return parse_result(raw, concurrency, cfg.benchmark.num_prompts), raw


def run_sweep(
    cfg: AirlockConfig, base_url: str, served_model: str, tokenizer_dir: Path, work_dir: Path
) -> tuple[list[SweepPoint], list[dict[str, Any]]]:
    """Every concurrency, ``benchmark.repeats`` runs each; the median is recorded.

    The raw summaries of every run are returned (and logged) as evidence.
    """
    points, raws = [], []
    n = cfg.benchmark.repeats
    for c in cfg.benchmark.concurrencies:
        runs = []
        for i in range(n):
            p, raw = run_point(cfg, base_url, served_model, tokenizer_dir, c, work_dir, f"-r{i + 1}" if n > 1 else "")
            runs.append(p)
            raws.append({**raw, "airlock_concurrency": c, "airlock_repeat": i + 1})
        points.append(median_point(runs))
    return points, raws
