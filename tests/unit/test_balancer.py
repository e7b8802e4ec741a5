from pathlib import Path

from airlock.nodes.balancer import Backend, render_config


def test_rendered_config_has_the_measured_zero_loss_settings():
    cfg = render_config(
        Path("/run/h.sock"), 8100, 8404, "fleet", [Backend("n1", "127.0.0.1", 8111), Backend("n2", "127.0.0.1", 8112)]
    )
    for line in (
        "retries 3",
        "option redispatch",
        "balance leastconn",
        "option httpchk GET /health",
        "http-check expect status 200",
        "default-server inter 500ms fall 2 rise 2",
        "stats socket /run/h.sock mode 600 level admin",
        "bind 127.0.0.1:8100",
        "server n1 127.0.0.1:8111 check",
        "server n2 127.0.0.1:8112 check",
        "prometheus-exporter",
    ):
        assert line in cfg, line
    assert "retry-on" not in cfg  # replaying POSTs is unsafe
