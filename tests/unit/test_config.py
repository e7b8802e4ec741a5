from pathlib import Path

import pytest

from airlock.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_loads_with_defaults():
    cfg = load_config(REPO / "airlock.yaml", environ={})
    assert cfg.registry.bucket == "airlock-registry"
    nodes = cfg.fleet.resolved_nodes()
    assert [n.name for n in nodes] == ["node1", "node2"]
    assert {n.port for n in nodes}.isdisjoint({cfg.balancer.frontend_port, cfg.balancer.stats_port})
    assert cfg.state_dir == REPO / ".airlock"


def test_env_overrides_nested_keys_parsed_as_yaml():
    cfg = load_config(
        REPO / "airlock.yaml",
        environ={"AIRLOCK__FLEET__SIZE": "3", "AIRLOCK__POLICY__TRUSTED_ORGS": "[acme, meta-llama]"},
    )
    assert len(cfg.fleet.resolved_nodes()) == 3
    assert cfg.policy.trusted_orgs == ["acme", "meta-llama"]


def test_dev_stack_settings_live_apart_from_the_product_config(tmp_path):
    """airlock.yaml has no stack section; stack.yaml (dev tooling) has its own overrides."""
    from airlock_dev.config import load_stack_config

    stack = load_stack_config(REPO / "stack.yaml", environ={"AIRLOCK_STACK__SEAWEEDFS__S3_PORT": "9999"})
    assert stack.seaweedfs.s3_port == 9999 and stack.dir == REPO / ".airlock"
    f = tmp_path / "airlock.yaml"
    f.write_text("stack:\n  state_dir: state\n")
    with pytest.raises(ConfigError, match=r"stack: Extra inputs"):
        load_config(f, environ={})


def test_unknown_key_is_named(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("registry:\n  bucket: x\n  endpoint: http://nope\n")
    with pytest.raises(ConfigError, match=r"registry\.endpoint: Extra inputs"):
        load_config(f, environ={})


def test_bad_value_is_named(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("fleet:\n  size: 0\n")
    with pytest.raises(ConfigError, match=r"fleet\.size"):
        load_config(f, environ={})
    with pytest.raises(ConfigError, match=r"registry\.max_concurrency"):
        load_config(
            f.with_name("b.yaml") if False else REPO / "airlock.yaml",
            environ={"AIRLOCK__REGISTRY__MAX_CONCURRENCY": "lots"},
        )


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.yaml", environ={})
    f = tmp_path / "bad.yaml"
    f.write_text("registry: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f, environ={})


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    f = tmp_path / "airlock.yaml"
    f.write_text("state_dir: state\n")
    cfg = load_config(f, environ={})
    assert cfg.state_dir == tmp_path / "state"


def test_env_override_inside_a_section_the_file_omits(tmp_path):
    f = tmp_path / "airlock.yaml"
    f.write_text("registry:\n  bucket: x\n")
    cfg = load_config(f, environ={"AIRLOCK__EVALUATION__STAGING__PORT": "9123"})
    assert cfg.evaluation.staging.port == 9123 and cfg.evaluation.staging.name == "staging"
