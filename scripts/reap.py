"""Stop every service a test session or the local stack left behind.

Used by .ci/run after the tests, whatever happened: pytest's finalizers stop
the services they started, but a killed or timed-out session cannot. Every
service Airlock starts has a pid file (pid + start time, see
``airlock.nodes.supervisor``) under the repo's state folder or pytest's temporary
folders. This stops exactly those processes (and their process groups), and
nothing else.
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

from airlock.nodes.supervisor import ManagedProcess  # noqa: E402


def main() -> int:
    patterns = [str(REPO / ".airlock" / "**" / "*.pid"), "/tmp/pytest-of-*/pytest-*/**/*.pid"]
    stopped = 0
    for pattern in patterns:
        for f in glob.glob(pattern, recursive=True):
            proc = ManagedProcess(Path(f).stem, [], Path(f).with_suffix(".log"), Path(f))
            if proc.pid() is not None and proc.stop(timeout=10):
                stopped += 1
    print(f"reap: stopped {stopped} leftover process{'es' if stopped != 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
