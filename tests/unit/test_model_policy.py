"""Per-model policy: suites, floors, minimum effects and SLOs per model, overridable per run."""

from pathlib import Path

import pytest
import yaml

from airlock.config import ConfigError, load_config
from airlock.errors import InvalidRequest
from airlock.evaluation import _batches, chat_template_sha256, datasets_env

SHIPPED = Path(__file__).resolve().parents[2] / "airlock.yaml"


def _cfg(tmp_path, **extra):
    data = yaml.safe_load(SHIPPED.read_text())
    data.update(extra)
    p = tmp_path / "airlock.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_config(p, environ={})


def test_a_model_without_an_entry_gets_the_defaults_and_the_demo_model_its_own():
    cfg = load_config(SHIPPED, environ={})
    p = cfg.model_policy("some-llm")
    assert p.suite == "standard" and p.verdict.min_effect == 0.05
    assert p.verdict.floors["arc_easy"] == 0.35 and p.slo_ttft_ms == cfg.benchmark.slo_ttft_ms
    demo = cfg.model_policy("airlock-demo")
    assert demo.suite == "private" and demo.verdict.min_effect == 0.25
    assert demo.verdict.floors == p.verdict.floors  # keys it does not name stay the defaults


def test_two_models_have_different_bars_and_a_run_overrides_one(tmp_path):
    cfg = _cfg(
        tmp_path,
        models={
            "big": {"verdict": {"floors": {"arc_easy": 0.8}, "min_effect": 0.02}, "slo_ttft_ms": 300},
            "small": {"verdict": {"floors": {"arc_easy": 0.3}}},
        },
    )
    big, small = cfg.model_policy("big"), cfg.model_policy("small")
    assert big.verdict.floors["arc_easy"] == 0.8 and small.verdict.floors["arc_easy"] == 0.3
    assert big.verdict.floors["hellaswag"] == 0.35  # floors merge per task
    assert (big.verdict.min_effect, big.slo_ttft_ms) == (0.02, 300)
    run = cfg.model_policy("big", {"verdict": {"floors": {"hellaswag": 0.5}}, "suite": "private"})
    assert run.suite == "private" and run.verdict.floors["arc_easy"] == 0.8 and run.verdict.floors["hellaswag"] == 0.5


def test_bad_policies_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"models.x.suite 'nope' is not among evaluation.suites"):
        _cfg(tmp_path, models={"x": {"suite": "nope"}})
    with pytest.raises(ConfigError, match=r"unknown verdict key\(s\) flors"):
        _cfg(tmp_path, models={"x": {"verdict": {"flors": {}}}})
    with pytest.raises(ConfigError, match=r"min_effect: Input should be less than or equal to 1"):
        _cfg(tmp_path, models={"x": {"verdict": {"min_effect": 5}}})
    cfg = load_config(SHIPPED, environ={})
    with pytest.raises(InvalidRequest, match=r"policy override for 'm': slo_ttft_ms: Input should be greater than 0"):
        cfg.model_policy("m", {"slo_ttft_ms": -1})
    with pytest.raises(InvalidRequest, match=r"policy override for 'm': surprise: Extra inputs"):
        cfg.model_policy("m", {"surprise": 1})


def test_suite_keys_must_name_its_tasks(tmp_path):
    data = yaml.safe_load(SHIPPED.read_text())
    data["evaluation"]["suites"]["standard"]["chat"] = ["gsm8k"]
    p = tmp_path / "airlock.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"chat names task\(s\) not in the suite's tasks: gsm8k"):
        load_config(p, environ={})


def test_tasks_are_batched_by_endpoint_and_generation_budget():
    s = load_config(SHIPPED, environ={}).evaluation.suites["standard"]
    got = {(b.chat, b.max_gen_toks): b.tasks for b in _batches(s)}
    assert got == {(False, None): ("arc_easy", "hellaswag"), (True, 192): ("gsm8k_cot_llama",)}
    assert s.task_limit("gsm8k_cot_llama") == 40 and s.task_limit("nope") is None


def test_datasets_come_from_the_mirror_or_the_local_cache_only(tmp_path):
    cfg = load_config(SHIPPED, environ={})
    env = datasets_env(cfg)
    assert env["HF_ENDPOINT"] == "http://127.0.0.1:8090" and env["HF_DATASETS_OFFLINE"] == "0"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == "1" and env["HF_UPDATE_DOWNLOAD_COUNTS"] == "0"
    offline = datasets_env(load_config(SHIPPED, environ={"AIRLOCK__EVALUATION__DATASETS_ENDPOINT": "null"}))
    assert offline["HF_DATASETS_OFFLINE"] == "1" and offline["HF_HUB_OFFLINE"] == "1" and "HF_ENDPOINT" not in offline


def test_chat_template_digest_from_either_place(tmp_path):
    assert chat_template_sha256(tmp_path) is None
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    from_config = chat_template_sha256(tmp_path)
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}")
    assert chat_template_sha256(tmp_path) == from_config is not None  # the file wins; same text, same digest
