"""What the signed pass costs, side by side with hashing alone (issue #13, item 11).

Builds a synthetic version (``--gb`` of random bytes in ``--shards`` files, on
local disk, read from the page cache), then times, over ``--rounds`` rounds:

* **hash**: sha256 of every file, one after another: what ingest spends anyway;
* **sign**: the pipeline signing the pass over the manifest's digests;
* **verify**: a node verifying that pass (signature and coverage, no re-hash);
* **node check**: a node's byte check of every file, ``concurrency`` files at
  a time (as ``materialize`` does), against ``cores x single-core sha256``;
* **public verifier**: OpenSSF ``model_signing`` verifying the folder itself
  (it re-hashes everything), for comparison.

Goals: (sign + verify) / hash <= 5%; node check throughput >= 0.8 of
cores x single-core sha256. Run:
``PYTHONPATH=include .venv/bin/python bench/signing.py [--gb 1] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from airlock import signing  # noqa: E402
from airlock.hashing import CHUNK, HashingReader, sha256_file  # noqa: E402
from airlock.manifest import MANIFEST_FILE, FileEntry, Manifest  # noqa: E402


def check_file(p: Path, sha: str, size: int) -> None:
    """What materialize does per file: stream through the hashing reader, raise on mismatch."""
    with p.open("rb") as f:
        reader = HashingReader(f, p.name, sha, size)
        while reader.read(CHUNK):
            pass


def single_core_rate(mb: int = 256) -> float:
    """sha256 bytes/s of one core over an in-memory buffer (the ceiling a reader can reach)."""
    buf = os.urandom(mb << 20)
    t0 = time.perf_counter()
    hashlib.sha256(buf).digest()
    return len(buf) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=4, help="files checked at once (registry.max_concurrency)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="airlock-bench-sign-") as tmp:
        d = Path(tmp) / "version"
        d.mkdir()
        shard = int(args.gb * 1e9 / args.shards)
        for i in range(args.shards):
            with (d / f"model-{i:05d}.safetensors").open("wb") as fh:
                left = shard
                while left:
                    n = min(left, 64 << 20)
                    fh.write(os.urandom(n))
                    left -= n
        (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
        paths = sorted(d.iterdir())
        total = sum(p.stat().st_size for p in paths)
        for p in paths:  # warm the page cache, as a node reads what it just downloaded
            sha256_file(p)
        files = tuple(FileEntry(p.name, p.stat().st_size, sha256_file(p)) for p in paths)
        manifest = Manifest(name="bench", source={"kind": "bench"}, revision="r", files=files, created_at="now")
        private, public = signing.generate_key_pair()
        att = signing.attest("bench", "1", manifest.digest, "s", "run")
        times: dict[str, list[float]] = {k: [] for k in ("hash", "sign", "verify", "check", "public")}
        one_core = []
        for r in range(args.rounds):
            t0 = time.perf_counter()
            for p in paths:
                sha256_file(p)
            times["hash"].append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            bundle = signing.sign_pass(manifest, att, private)
            times["sign"].append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            signing.verify_pass(manifest, att.to_bytes(), bundle, [public])
            times["verify"].append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                list(pool.map(lambda f: check_file(d / f.path, f.known_sha256, f.size), files))
            times["check"].append(time.perf_counter() - t0)

            (d / signing.PASS_FILE).write_bytes(att.to_bytes())
            (d / signing.SIGNATURE_FILE).write_bytes(bundle)
            (d / MANIFEST_FILE).write_bytes(manifest.to_json())
            import model_signing

            key = Path(tmp) / "k.pub"
            key.write_bytes(public)
            t0 = time.perf_counter()
            model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key).verify(
                d, d / signing.SIGNATURE_FILE
            )
            times["public"].append(time.perf_counter() - t0)
            for name in (signing.PASS_FILE, signing.SIGNATURE_FILE, MANIFEST_FILE):
                (d / name).unlink()
            one_core.append(single_core_rate())
            print(
                f"round {r + 1}: hash {times['hash'][-1]:.2f}s, sign {times['sign'][-1] * 1000:.1f} ms, "
                f"verify {times['verify'][-1] * 1000:.1f} ms, node check {times['check'][-1]:.2f}s, "
                f"public verifier {times['public'][-1]:.2f}s, one core {one_core[-1] / 1e9:.2f} GB/s"
            )
        med = {k: statistics.median(v) for k, v in times.items()}
        rate = statistics.median(one_core)
        print("---")
        print(f"version: {total / 1e9:.2f} GB in {len(paths)} files; {cores} cores; medians of {args.rounds} rounds")
        print(
            f"(sign + verify) / hash alone:           {(med['sign'] + med['verify']) / med['hash']:.4f} (goal <= 0.05)"
        )
        node = total / med["check"]
        print(
            f"node check throughput / (cores x 1-core sha256): {node / (cores * rate):.2f} (goal >= 0.8); "
            f"{node / 1e9:.2f} GB/s vs {cores} x {rate / 1e9:.2f} GB/s"
        )
        print(f"public verifier (re-hash) / hash alone: {med['public'] / med['hash']:.2f}")


if __name__ == "__main__":
    main()
