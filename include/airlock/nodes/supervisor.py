"""Start, watch and stop one long-running local process by pid file.

The ``process`` node driver supervises vLLM with it; the dev stack its services.

Why by pid file: ``make down`` must stop exactly what ``make up`` started and
nothing else, even from another shell. A pid file records the pid and the
process's start time (from /proc), so a recycled pid is never killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airlock.errors import AirlockError, NodeFailed, NodeUnavailable


class ServiceError(AirlockError):
    """A service failed to start or become healthy; names it and its log.

    Raised as :class:`ServiceExited` (it died: permanent, the same start fails
    again) or :class:`ServiceTimeout` (it did not answer in time: retryable).
    """

    def __init__(self, name: str, reason: str, log_path: Path | None = None) -> None:
        self.name, self.reason, self.log_path = name, reason, log_path
        tail = log_tail(log_path) if log_path else ""
        where = f" (log: {log_path})" if log_path else ""
        detail = f"\n--- last lines of {log_path} ---\n{tail}" if tail else ""
        super().__init__(f"{name}: {reason}{where}{detail}")


class ServiceExited(ServiceError, NodeFailed):
    """The process exited before it became healthy."""


class ServiceTimeout(ServiceError, NodeUnavailable):
    """The process runs but did not become healthy in time."""


def log_tail(path: Path | None, lines: int = 25) -> str:
    """The last lines of a log, for error messages (our logs hold no secrets)."""
    if path is None or not path.exists():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 16384))
        return "\n".join(fh.read().decode("utf-8", "replace").splitlines()[-lines:])


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks, or None if gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]  # field 3: state; field 22: starttime


# Services write databases, journals, logs and keys: none of it is anybody else's business.
PRIVATE_UMASK = 0o077


@dataclass
class ManagedProcess:
    """One service process: argv, environment, log file and pid file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    pid_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    healthy: Callable[[], bool] | None = None

    def pid(self) -> int | None:
        """The live pid we started, or None (a stale pid file is ignored)."""
        try:
            rec = json.loads(self.pid_path.read_text())
        except (OSError, ValueError):
            return None
        pid = int(rec.get("pid", 0))
        if pid > 0 and _start_time(pid) == rec.get("start"):
            return pid
        return None

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> int:
        """Start the process unless it already runs; return its pid."""
        pid = self.pid()
        if pid:
            return pid
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        with os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            proc = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
                umask=PRIVATE_UMASK,
            )
        self.pid_path.write_text(json.dumps({"pid": proc.pid, "start": _start_time(proc.pid)}))
        self._popen = proc
        return proc.pid

    def wait_healthy(self, timeout: float, interval: float = 0.5) -> float:
        """Block until ``healthy()`` is true; return the seconds it took.

        Raises :class:`ServiceError` with the log tail if the process exits or
        the timeout passes first.
        """
        t0 = time.monotonic()
        while True:
            if not self.running():
                raise ServiceExited(self.name, "exited during startup", self.log_path)
            try:
                if self.healthy is None or self.healthy():
                    return time.monotonic() - t0
            except Exception:  # noqa: BLE001 - any probe error means "not yet"
                pass
            if time.monotonic() - t0 > timeout:
                raise ServiceTimeout(self.name, f"not healthy after {timeout:.0f}s", self.log_path)
            time.sleep(interval)

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL after ``timeout``; True if it ran."""
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.1)
        if self.running():
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while self.running():
                self._reap()
                time.sleep(0.1)
        self._reap()
        self.pid_path.unlink(missing_ok=True)
        return True

    def _reap(self) -> None:
        proc = getattr(self, "_popen", None)
        if proc is not None:
            proc.poll()

    def rss_mb(self) -> float:
        """Resident memory of the process and its descendants, in MB."""
        pid = self.pid()
        if pid is None:
            return 0.0
        return sum(_rss_kb(p) for p in _tree(pid)) / 1024


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int(d.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
