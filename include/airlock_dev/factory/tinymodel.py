"""Build tiny Llama models locally, deterministically, for tests and the demo.

Why: no weights may come from a hub at run time, yet every gate needs a real
model that vLLM serves and lm-eval scores. A ~160k-parameter Llama trained on
the private arithmetic set gives three honest variants in about a minute:

* ``good``      - well trained; scores ~1.0 on the private suite;
* ``regressed`` - under-trained; scores far lower;
* ``broken``    - valid safetensors that vLLM refuses to load (the config's
  ``intermediate_size`` disagrees with the stored tensors).

Torch and transformers are imported lazily: the rest of the package must stay
importable without them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from airlock_dev.factory import tasks

FACTORY_VERSION = "2"
VARIANTS = ("good", "regressed", "broken")


@dataclass(frozen=True)
class Recipe:
    steps: int
    break_config: bool = False


RECIPES: dict[str, Recipe] = {
    "good": Recipe(steps=800),
    "regressed": Recipe(steps=60),
    "broken": Recipe(steps=60, break_config=True),
}

CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}Question: {{ m['content'] }}\nAnswer:"
    "{% elif m['role'] == 'assistant' %} {{ m['content'] }}\n{% endif %}{% endfor %}"
)


def _corpus() -> list[str]:
    return [f"{it.question} {it.answer}\n" for it in tasks.items()]


def build_tokenizer(out: Path):
    """Train a small ByteLevel BPE offline (digits split one by one) and save it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus() * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=512,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def _train(tokenizer, steps: int, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(cfg)
    enc = tokenizer(_corpus(), padding=True, return_tensors="pt")  # no BOS: servers add none
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        out = model(**enc, labels=labels)
        out.loss.backward()
        opt.step()
    model.eval()
    return model


def _fingerprint(variant: str) -> str:
    spec = json.dumps({"v": FACTORY_VERSION, "recipe": RECIPES[variant].__dict__, "corpus": _corpus()}, sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def build_variant(variant: str, cache_dir: Path) -> Path:
    """Return a directory holding the variant (built once, then cached).

    The directory holds ``config.json``, ``model.safetensors``, the tokenizer
    files and a model card; it is what an upstream publishes.
    """
    if variant not in RECIPES:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    out = cache_dir / f"{variant}-{_fingerprint(variant)}"
    marker = out.with_name(out.name + ".complete")  # outside: the folder is exactly the model
    if marker.exists() and out.is_dir():
        return out
    import torch

    torch.set_num_threads(2)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tokenizer = build_tokenizer(tmp)
    recipe = RECIPES[variant]
    model = _train(tokenizer, recipe.steps)
    model.save_pretrained(tmp, safe_serialization=True)
    if recipe.break_config:
        cfg = json.loads((tmp / "config.json").read_text())
        cfg["intermediate_size"] = cfg["intermediate_size"] * 2
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2))
    (tmp / "README.md").write_text(
        f"---\nlicense: apache-2.0\n---\n# airlock tiny {variant}\n\n"
        f"A {sum(p.numel() for p in model.parameters())}-parameter Llama trained for "
        f"{recipe.steps} steps on Airlock's private arithmetic set. For tests only.\n"
    )
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    marker.write_text(_fingerprint(variant))
    return out


def published_files(variant_dir: Path) -> list[Path]:
    """The files an upstream publishes."""
    return sorted(p for p in variant_dir.rglob("*") if p.is_file())
