"""Nothing that needs ``trust_remote_code``: a model is data, never code.

``auto_map`` in a config points transformers (and vLLM with
``--trust-remote-code``) at Python files in the repo; Airlock never sets that
flag, and refuses a version that asks for it, so a reviewer never meets a
model that only runs with someone else's code. Python files themselves are
refused too: nothing in a model repo needs them except remote code.
"""

from __future__ import annotations

import json
from typing import Any

# JSON files transformers reads when loading a model, its tokenizer or processor
CONFIGS = (
    "config.json",
    "tokenizer_config.json",
    "generation_config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
)


def problems(path: str, text: str) -> list[str]:
    """Why this config would need remote code (empty: it would not)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return [f"{path!r}: not valid JSON ({exc})"]
    out = []
    for key in sorted(_remote_keys(doc)):
        out.append(f"{path!r}: {key!r} asks for custom code (trust_remote_code), which Airlock never runs")
    return out


def _remote_keys(doc: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            where = f"{prefix}{k}"
            if k in ("auto_map", "trust_remote_code", "custom_pipelines") and v not in (None, False, {}, []):
                found.add(where)
            found |= _remote_keys(v, where + ".")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found |= _remote_keys(v, f"{prefix}{i}.")
    return found
