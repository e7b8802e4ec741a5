"""Ingest throughput against a plain boto3 TransferManager upload, side by side.

Starts its own SeaweedFS (the real registry store) in a temporary folder,
writes a synthetic model of ``--gb`` GB in ``--shards`` safetensors-named
shards, then measures in one run:

* baseline: ``TransferManager.upload_file`` of every shard (same part size and
  concurrency as the registry), no hashing, no manifest;
* ingest: Airlock's local-source ingest (hash, admit, stream with
  verification, manifest last);
* re-ingest of the unchanged revision.

The first ingest of each round hashes the files (a cold hash cache only in
round 1); rounds alternate which upload goes first. Prints ratios of medians:
ingest throughput / baseline (goal >= 0.9), re-ingest time /
first ingest (goal <= 0.05) and the bytes the re-ingest uploaded (goal 0).
It also prints the CPU seconds per GB spent by this process and by the store
on each side: on a 2-core host both share the cores, so every CPU second the
client spends (the sha256 that verifies the stream) is taken from the store.
Run: ``PYTHONPATH=include .venv/bin/python bench/ingest.py [--gb 1.0] [--rounds 6]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from boto3.s3.transfer import S3Transfer  # noqa: E402

from airlock.config import AirlockConfig, load_config  # noqa: E402
from airlock.intake import ingest_local  # noqa: E402
from airlock.registry import Registry  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.support.seaweed import start_seaweedfs  # noqa: E402


def safetensors_head(size: int) -> bytes:
    """The 8-byte length and header of a ``size``-byte safetensors file holding one U8 tensor."""
    import json
    import struct

    for n in range(size - 8, 0, -1):
        h = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
        if 8 + len(h) + n == size:
            return struct.pack("<Q", len(h)) + h
    raise ValueError(size)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=6, help="baseline/ingest pairs (fresh buckets each)")
    ap.add_argument("--chunk-mb", type=int, default=None, help="multipart part size (default: the config's)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as tmp:
        t = Path(tmp)
        proc, endpoint, creds = start_seaweedfs(t / "s3", free_port)
        try:
            os.environ.update(
                AWS_ACCESS_KEY_ID=creds["AWS_ACCESS_KEY_ID"], AWS_SECRET_ACCESS_KEY=creds["AWS_SECRET_ACCESS_KEY"]
            )
            model = t / "model"
            model.mkdir()
            shard = int(args.gb * 1e9 / args.shards)
            for i in range(args.shards):
                with (model / f"model-{i:05d}-of-{args.shards:05d}.safetensors").open("wb") as fh:
                    head = safetensors_head(shard)  # admission reads the header: it must be well-formed
                    fh.write(head)
                    left = shard - len(head)
                    while left:
                        n = min(left, 64 << 20)
                        fh.write(os.urandom(n))
                        left -= n
            (model / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
            total = sum(p.stat().st_size for p in model.iterdir())
            print(f"synthetic model: {total / 1e9:.2f} GB in {args.shards} shards; SeaweedFS at {endpoint}")

            server = psutil.Process(proc.pid())
            cpu: dict[str, list[tuple[float, float]]] = {"baseline": [], "ingest": []}

            def timed(kind: str, fn) -> float:
                """Wall seconds of ``fn``; also keeps this process's and the store's CPU seconds."""
                c0, s0, t0 = time.process_time(), sum(server.cpu_times()[:2]), time.monotonic()
                fn()
                took = time.monotonic() - t0
                cpu[kind].append((time.process_time() - c0, sum(server.cpu_times()[:2]) - s0))
                return took

            base_times, ingest_times, reingest = [], [], []
            for r in range(args.rounds):
                env = {"AIRLOCK__REGISTRY__ENDPOINT_URL": endpoint, "AIRLOCK__REGISTRY__BUCKET": f"bench-reg-{r}"}
                if args.chunk_mb:
                    env["AIRLOCK__REGISTRY__MULTIPART_CHUNK_MB"] = str(args.chunk_mb)
                cfg = load_config(environ=env)
                reg = Registry.from_config(cfg)
                reg.ensure_bucket()
                reg.s3.create_bucket(Bucket=f"bench-base-{r}")
                xfer = S3Transfer(reg.s3, config=reg.transfer)

                def baseline(xfer: S3Transfer = xfer, bucket: str = f"bench-base-{r}") -> None:
                    def upload() -> None:
                        for p in sorted(model.iterdir()):
                            xfer.upload_file(str(p), bucket, f"plain/{p.name}")

                    base_times.append(timed("baseline", upload))

                def ingest(cfg: AirlockConfig = cfg, reg: Registry = reg) -> None:
                    reports = []
                    ingest_times.append(timed("ingest", lambda: reports.append(ingest_local(cfg, reg, "bench", model))))
                    assert reports[0].created and reports[0].bytes_uploaded == total

                # Alternate which goes first: the second upload of a round runs on a busier store.
                for step in (baseline, ingest) if r % 2 == 0 else (ingest, baseline):
                    step()

                t0 = time.monotonic()
                again = ingest_local(cfg, reg, "bench", model)
                reingest.append((time.monotonic() - t0, again.bytes_uploaded))
                print(
                    f"round {r + 1}: baseline {base_times[-1]:.2f}s ({total / base_times[-1] / 1e6:.0f} MB/s), "
                    f"ingest {ingest_times[-1]:.2f}s ({total / ingest_times[-1] / 1e6:.0f} MB/s), "
                    f"ratio {base_times[-1] / ingest_times[-1]:.2f}, "
                    f"re-ingest {reingest[-1][0]:.3f}s, {reingest[-1][1]} bytes uploaded"
                )
                # Empty both buckets, so every round starts from the same store size.
                for bucket in (f"bench-base-{r}", f"bench-reg-{r}"):
                    keys = [
                        o["Key"]
                        for page in reg.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                        for o in page.get("Contents", [])
                    ]
                    Registry(reg.s3, bucket).delete_keys(keys)

            b, i = statistics.median(base_times), statistics.median(ingest_times)
            re_t = max(x[0] for x in reingest)
            print("---")
            paired = statistics.median(x / y for x, y in zip(base_times, ingest_times, strict=True))
            print(
                f"ingest throughput / TransferManager baseline: {b / i:.2f}  (goal >= 0.9; medians of {args.rounds}); "
                f"median of the rounds' own ratios {paired:.2f}"
            )
            print(f"re-ingest time / first ingest:                {re_t / i:.4f} (goal <= 0.05)")
            print(f"bytes uploaded by re-ingest:                  {max(x[1] for x in reingest)} (goal 0)")
            gb = total / 1e9
            for kind, runs in cpu.items():
                client, store = (statistics.median(x[i] for x in runs) / gb for i in (0, 1))
                print(f"CPU seconds per GB, {kind:<8}: client {client:.2f}, SeaweedFS {store:.2f} (medians)")
        finally:
            proc.stop()


if __name__ == "__main__":
    main()
