import sys
import time

import pytest

from airlock.nodes.supervisor import ManagedProcess, ServiceError


def _proc(tmp_path, code, healthy=None):
    return ManagedProcess(
        "svc", [sys.executable, "-c", code], tmp_path / "svc.log", tmp_path / "svc.pid", healthy=healthy
    )


def test_start_is_idempotent_and_stop_kills_exactly_it(tmp_path):
    p = _proc(tmp_path, "import time; time.sleep(60)")
    pid = p.start()
    assert p.start() == pid and p.running()
    assert p.stop() is True
    assert not p.running() and not (tmp_path / "svc.pid").exists()
    assert p.stop() is False


def test_stale_pid_file_is_not_trusted(tmp_path):
    (tmp_path / "svc.pid").write_text('{"pid": 1, "start": "not-init-start-time"}')
    assert _proc(tmp_path, "pass").pid() is None


def test_failure_names_the_service_and_shows_the_log(tmp_path):
    p = _proc(tmp_path, "print('boom: port in use'); raise SystemExit(3)", healthy=lambda: False)
    p.start()
    with pytest.raises(ServiceError) as e:
        p.wait_healthy(10, interval=0.1)
    assert "svc: exited during startup" in str(e.value) and "boom: port in use" in str(e.value)


def test_health_timeout(tmp_path):
    p = _proc(tmp_path, "import time; time.sleep(30)", healthy=lambda: False)
    p.start()
    t0 = time.monotonic()
    with pytest.raises(ServiceError, match="not healthy after 1s"):
        p.wait_healthy(1, interval=0.1)
    assert time.monotonic() - t0 < 5
    p.stop()


def test_a_service_writes_private_files(tmp_path):
    """Databases, journals and keys a service creates, and its log, are 0600 whatever the caller's umask."""
    p = _proc(tmp_path, f"open({str(tmp_path / 'state.db')!r}, 'w').write('x')")
    p.start()
    deadline = time.monotonic() + 10
    while p.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "state.db").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "svc.log").stat().st_mode & 0o777 == 0o600
