"""Performance: vLLM's own serve benchmark, swept over configured concurrencies.

Each run is one ``vllm bench serve`` (random dataset, greedy, ``--ignore-eos``
so every request produces the full output length) with its JSON result saved;
this module turns those files into typed metrics, and :func:`compare` runs the
candidate and its baseline in interleaved rounds and judges each figure's ratio
with :mod:`airlock.perf_ratio`. The per-request lists and any generated text
are dropped before anything is kept.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
from pathlib import Path
from typing import Any

from airlock import perf_ratio
from airlock.config import AirlockConfig, VerdictConfig
from airlock.errors import NodeUnavailable
from airlock.nodes.supervisor import log_tail
from airlock.payloads import FigureRatio, PerformanceResult, PointComparison, SweepPoint

log = logging.getLogger(__name__)

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


__all__ = ["Session", "SweepPoint", "compare", "parse_result", "run_point"]


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
    seed: int = 0,
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
        str(seed),
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


def _env(cfg: AirlockConfig) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_CACHE_ROOT": str(cfg.state_dir / "vllm-cache"),
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_ACCESS_KEY_ID": "",
    }


def _load(work_dir: Path, fname: str, concurrency: int, num_prompts: int) -> tuple[SweepPoint, dict[str, Any]]:
    """The saved summary, stripped of per-request lists (and any text) before it is kept."""
    raw = json.loads((work_dir / fname).read_text())
    for k in PER_REQUEST:
        raw.pop(k, None)
    (work_dir / fname).write_text(json.dumps(raw, indent=2, sort_keys=True))
    return parse_result(raw, concurrency, num_prompts), raw


def run_point(
    cfg: AirlockConfig,
    base_url: str,
    served_model: str,
    tokenizer_dir: Path,
    concurrency: int,
    work_dir: Path,
    tag: str = "",
    seed: int = 0,
) -> tuple[SweepPoint, dict[str, Any]]:
    """One run at one sweep point in its own process, as a user's hand-run of ``vllm bench serve``
    (``bench/eval_fidelity.py`` holds the pipeline's :class:`Session` runs against it)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    fname = f"bench-c{concurrency}{tag}.json"
    log = work_dir / f"bench-c{concurrency}{tag}.log"
    argv = [
        str(cfg.path(cfg.serving.python)),
        str(SHIM),
        *bench_args(cfg, base_url, served_model, tokenizer_dir, concurrency, work_dir, fname, seed),
    ]
    with log.open("wb") as fh:
        try:
            proc = subprocess.run(
                argv, stdout=fh, stderr=subprocess.STDOUT, env=_env(cfg), timeout=cfg.benchmark.timeout_s
            )
        except subprocess.TimeoutExpired:
            raise NodeUnavailable(
                f"benchmark at concurrency {concurrency} timed out after "
                f"{cfg.benchmark.timeout_s:.0f}s\n{log_tail(log)}"
            ) from None
    if proc.returncode != 0 or not (work_dir / fname).exists():
        raise NodeUnavailable(
            f"benchmark at concurrency {concurrency} failed (exit {proc.returncode})\n{log_tail(log)}"
        )
    return _load(work_dir, fname, concurrency, cfg.benchmark.num_prompts)


class Session:
    """One benchmark process for many runs (``vllm_bench.py --session``): vLLM is imported once.

    Use as a context manager; :meth:`run` is one run at one sweep point against one node.
    """

    def __init__(self, cfg: AirlockConfig, tokenizer_dir: Path, work_dir: Path) -> None:
        self.cfg, self.tokenizer_dir, self.work_dir = cfg, tokenizer_dir, work_dir
        self.log = work_dir / "bench-session.log"

    def __enter__(self) -> Session:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        r, w = os.pipe()
        with self.log.open("wb") as fh:
            self._proc = subprocess.Popen(
                [str(self.cfg.path(self.cfg.serving.python)), str(SHIM), "--session", str(w)],
                stdin=subprocess.PIPE,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=_env(self.cfg),
                pass_fds=(w,),
                text=True,
            )
        os.close(w)
        self._acks = os.fdopen(r)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
            self._proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait()
        self._acks.close()

    def run(
        self, base_url: str, served_model: str, concurrency: int, tag: str, seed: int = 0
    ) -> tuple[SweepPoint, dict[str, Any]]:
        """One run; ``seed`` picks the random prompts (a new one per run: no run hits a prefix
        another run left in the node's cache)."""
        fname = f"bench-c{concurrency}{tag}.json"
        args = bench_args(self.cfg, base_url, served_model, self.tokenizer_dir, concurrency, self.work_dir, fname, seed)
        assert self._proc.stdin is not None
        timeout = self.cfg.benchmark.timeout_s
        try:
            self._proc.stdin.write(json.dumps(args) + "\n")
            self._proc.stdin.flush()
        except OSError:
            pass  # the process is gone: reported below with its exit code and log
        ready, _, _ = select.select([self._acks], [], [], timeout)
        if not ready:
            self._proc.kill()
            raise NodeUnavailable(
                f"benchmark at concurrency {concurrency} timed out after {timeout:.0f}s\n{log_tail(self.log)}"
            )
        line = self._acks.readline()
        ack = json.loads(line) if line else {"ok": False, "error": f"exit {self._proc.poll()}"}
        if not ack["ok"] or not (self.work_dir / fname).exists():
            raise NodeUnavailable(
                f"benchmark at concurrency {concurrency} failed ({ack.get('error')})\n{log_tail(self.log)}"
            )
        point, raw = _load(self.work_dir, fname, concurrency, self.cfg.benchmark.num_prompts)
        if point.completed == 0:  # vLLM's benchmark counts refused connections as failed requests
            raise NodeUnavailable(
                f"benchmark at concurrency {concurrency}: no request completed ({point.failed} failed) "
                f"against {base_url}; is the node up?"
            )
        return point, raw


FIGURES: tuple[tuple[str, bool], ...] = (
    ("output_throughput", True),
    ("request_goodput", True),
    ("ttft_p50_ms", False),
)


def allowances(verdict: VerdictConfig) -> dict[str, float]:
    """The change each compared figure may show, as a fraction (goodput shares throughput's)."""
    drop = verdict.max_throughput_drop_pct / 100
    return {"output_throughput": drop, "request_goodput": drop, "ttft_p50_ms": verdict.max_latency_increase_pct / 100}


def ratios(cand: list[SweepPoint], base: list[SweepPoint], allowed: dict[str, float]) -> list[FigureRatio]:
    """Each figure's candidate/baseline interval over the rounds so far (>= 2); a figure with no
    round where both sides are above zero is left out (the verdict reads the medians then)."""
    out = []
    for fig, hib in FIGURES:
        try:
            iv = perf_ratio.ratio_interval(
                [getattr(p, fig) or 0.0 for p in cand], [getattr(p, fig) or 0.0 for p in base]
            )
        except ValueError:
            continue
        if iv.rounds < 2:
            continue
        out.append(
            FigureRatio(
                figure=fig,
                ratio=iv.ratio,
                low=iv.low,
                high=iv.high,
                rounds=iv.rounds,
                allowed=allowed[fig],
                higher_is_better=hib,
                outcome=iv.outcome(allowed[fig], hib),
            )
        )
    return out


def compare(
    cfg: AirlockConfig,
    candidate_url: str,
    baseline_url: str | None,
    served_model: str,
    tokenizer_dir: Path,
    work_dir: Path,
    allowed: dict[str, float],
    baseline: str = "re-run",
) -> PerformanceResult:
    """Every sweep point in rounds, one run per side, alternating the order (A B, B A, ...) so that
    slow drift hits both alike; a point stops once every figure's interval is decided (from
    :data:`perf_ratio.MIN_ROUNDS` on) or after ``benchmark.max_rounds``.

    ``baseline_url`` None: the candidate against its own re-runs (no champion).
    """
    urls = {"candidate": candidate_url, "baseline": baseline_url or candidate_url}
    cand_points, base_points, comparisons, raws = [], [], [], []
    with Session(cfg, tokenizer_dir, work_dir) as session:
        for c in cfg.benchmark.concurrencies:
            runs: dict[str, list[SweepPoint]] = {"candidate": [], "baseline": []}
            figures: list[FigureRatio] = []
            for r in range(1, cfg.benchmark.max_rounds + 1):
                for side in ("candidate", "baseline") if r % 2 else ("baseline", "candidate"):
                    seed = 2 * r + (side == "baseline")  # fresh prompts per run: a cold prefix cache for all
                    p, raw = session.run(urls[side], served_model, c, f"-r{r}-{side}", seed)
                    runs[side].append(p)
                    raws.append({**raw, "airlock_concurrency": c, "airlock_round": r, "airlock_side": side})
                figures = ratios(runs["candidate"], runs["baseline"], allowed)
                log.info(
                    "performance c=%d round %d/%d vs %s: %s",
                    c,
                    r,
                    cfg.benchmark.max_rounds,
                    baseline,
                    "; ".join(f"{f.figure} {f.ratio:.2f} [{f.low:.2f}, {f.high:.2f}] {f.outcome}" for f in figures),
                )
                if r >= perf_ratio.MIN_ROUNDS and all(f.outcome != "undecided" for f in figures):
                    break
            cand_points.append(median_point(runs["candidate"]))
            base_points.append(median_point(runs["baseline"]))
            comparisons.append(PointComparison(concurrency=c, rounds=r, figures=figures))
    return PerformanceResult(
        points=cand_points, raws=raws, baseline=baseline, baseline_points=base_points, comparisons=comparisons
    )
