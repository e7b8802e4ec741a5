"""A tokenizer's chat template is code: render it in Jinja's sandbox, or refuse it.

transformers renders chat templates in an ``ImmutableSandboxedEnvironment``;
Airlock renders each template the version ships the same way, with a fixed
conversation, before it is admitted. A template that fails to render, or
reaches for something the sandbox forbids (attributes like ``__class__``,
mutating calls), is refused: it would either break every chat request or be
an attempt to break out.
"""

from __future__ import annotations

import json
from typing import Any

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is 12 plus 30?"},
    {"role": "assistant", "content": "42"},
    {"role": "user", "content": "And 7 times 6?"},
]
MAX_OUTPUT = 100_000


def templates(path: str, text: str) -> dict[str, str]:
    """name -> template source, from ``tokenizer_config.json`` or a ``*.jinja`` file."""
    if path.endswith(".jinja"):
        return {path: text}
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    tpl = doc.get("chat_template") if isinstance(doc, dict) else None
    if isinstance(tpl, str):
        return {f"{path}:chat_template": tpl}
    if isinstance(tpl, list):
        return {
            f"{path}:chat_template[{t.get('name')}]": t["template"]
            for t in tpl
            if isinstance(t, dict) and isinstance(t.get("template"), str)
        }
    return {}


def problem(name: str, source: str, special_tokens: dict[str, Any] | None = None) -> str | None:
    """Why the template cannot be admitted, or None when it renders in the sandbox."""
    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda x, **kw: json.dumps(x, **kw)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: "2026-01-01"
    tokens = {k: v for k, v in (special_tokens or {}).items() if isinstance(v, str)}
    try:
        out = env.from_string(source).render(
            messages=CONVERSATION,
            add_generation_prompt=True,
            tools=None,
            **{"bos_token": "<s>", "eos_token": "</s>", **tokens},
        )
    except SecurityError as exc:
        return f"{name}: the chat template reaches outside Jinja's sandbox ({exc})"
    except Exception as exc:  # noqa: BLE001 - any failure to render is a refusal
        return f"{name}: the chat template does not render ({type(exc).__name__}: {exc})"
    if not out.strip():
        return f"{name}: the chat template renders an empty prompt"
    if len(out) > MAX_OUTPUT:
        return f"{name}: the chat template renders {len(out)} characters for a 4-message conversation"
    return None
